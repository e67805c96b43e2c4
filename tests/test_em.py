"""The large-N MAP path: BFGS on a subsample, EM passes over all rows, BFGS carried on with its curvature."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import log_density

from probkm.core.models import data_prior_defaults, spherical_gmm
from probkm.inference.bfgs import minimize_bfgs
from probkm.inference.em import em_applies, em_steps
from probkm.inference.kmeans_start import map_from_kmeans

SCHEDULE = jnp.geomspace(1.0, 1e-3, 20)


def _data(n=600, seed=0, overlap=False):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [1.5, 0.5], [3.0, -0.5]]) if overlap else np.array([[-4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
    labels = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    return jnp.asarray(centres[labels] + rng.normal(size=(n, 2)), jnp.float32)


def _log_joint(x, values, kwargs):
    return float(log_density(spherical_gmm, (x,), kwargs, values)[0])


@pytest.mark.parametrize("sigma_prior", ["halfnormal", "lognormal", "invgamma"])
@pytest.mark.parametrize("overlap", [False, True])
def test_every_em_step_raises_the_log_joint(sigma_prior, overlap):
    x = _data(overlap=overlap)
    kwargs = {"n_components": 3, "sigma_prior": sigma_prior, **data_prior_defaults(np.asarray(x))}
    values = {"weights": jnp.array([0.2, 0.3, 0.5]), "means": x[jnp.array([0, 1, 2])], "sigma": jnp.asarray(2.0)}
    joints = [_log_joint(x, values, kwargs)]
    one_step = jax.jit(lambda x, values: em_steps(x, values, kwargs, max_steps=1, tol=0.0))
    for _ in range(8):
        values, n_steps = one_step(x, values)
        assert int(n_steps) == 1
        joints.append(_log_joint(x, values, kwargs))
    gains = np.diff(joints)
    assert np.all(gains >= -1e-4 * abs(joints[0])), gains  # ECM is monotone, up to float32 rounding
    assert joints[-1] > joints[0] + 1.0


def _bfgs_map(x, kwargs, values):
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import constrain_fn, unconstrain_fn

    flat, unravel = ravel_pytree(unconstrain_fn(spherical_gmm, (x,), kwargs, values))

    def loss(u):
        return -log_density(spherical_gmm, (x,), kwargs, constrain_fn(spherical_gmm, (x,), kwargs, unravel(u)))[0] / x.shape[0]

    result = minimize_bfgs(loss, flat)
    return constrain_fn(spherical_gmm, (x,), kwargs, unravel(result.x))


@pytest.mark.parametrize(
    "fixed",
    [{}, {"sigma": 1.0}, {"weights": "equal"}, {"row_weights": "halves"}, {"component_mask": [1.0, 1.0, 1.0, 0.0]}],
    ids=["free", "known sigma", "equal weights", "row weights", "masked component"],
)
def test_the_em_fixed_point_is_the_map(fixed):
    x = _data(seed=1)
    kwargs = {"n_components": 3, **data_prior_defaults(np.asarray(x))}
    values = {"weights": jnp.array([0.2, 0.3, 0.5]), "means": x[jnp.array([0, 1, 2])], "sigma": jnp.asarray(1.5)}
    if "sigma" in fixed:
        kwargs["sigma"] = fixed["sigma"]
        del values["sigma"]
    if "weights" in fixed:
        kwargs["weights"] = "equal"
        del values["weights"]
    if "row_weights" in fixed:
        kwargs["row_weights"] = jnp.asarray(np.resize([1.0, 0.5, 2.0, 0.0], x.shape[0]), jnp.float32)
    if "component_mask" in fixed:
        kwargs["n_components"], kwargs["component_mask"] = 4, jnp.asarray(fixed["component_mask"])
        values["weights"] = jnp.array([0.2, 0.3, 0.5 - 1e-4, 1e-4])
        values["means"] = jnp.concatenate([values["means"], jnp.zeros((1, 2))])
    found, _ = em_steps(x, values, kwargs, max_steps=500, tol=1e-6)
    reference = _bfgs_map(x, kwargs, values)
    assert _log_joint(x, found, kwargs) >= _log_joint(x, reference, kwargs) - 1e-3
    if "sigma" in found:
        np.testing.assert_allclose(float(found["sigma"]), float(reference["sigma"]), rtol=2e-3)
    for name in ("means",):
        if name in found:  # the masked component's mean is free of the objective: compare the others
            np.testing.assert_allclose(np.asarray(found[name])[:3], np.asarray(reference[name])[:3], atol=2e-3)


def test_em_applies_only_where_its_maximisation_is_the_models():
    assert em_applies(spherical_gmm, {"n_components": 2})
    assert not em_applies(spherical_gmm, {"n_components": 2, "observed": jnp.ones((3, 2))})
    assert not em_applies(spherical_gmm, {"n_components": 2, "subsample_size": 10})


def test_bfgs_from_the_exact_inverse_hessian_takes_a_newton_step():
    a = jnp.array([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 0.1]])
    target = jnp.array([1.0, -2.0, 3.0])

    def quadratic(v):
        d = v - target
        return 0.5 * d @ a @ d

    cold = minimize_bfgs(quadratic, jnp.zeros(3), gtol=1e-6)
    warm = minimize_bfgs(quadratic, jnp.zeros(3), gtol=1e-6, hess_inv=jnp.linalg.inv(a))
    np.testing.assert_allclose(warm.x, target, atol=1e-4)
    assert int(warm.n_iter) == 1 < int(cold.n_iter)
    assert warm.hess_inv.shape == (3, 3)


@pytest.mark.parametrize("overlap", [False, True])
def test_the_subsample_path_reaches_the_same_map(overlap):
    # past init_samples rows the fit runs BFGS on a subsample, EM on all rows, then BFGS on all
    # rows; it must land where BFGS on all rows from the same starts lands
    x = _data(n=1500, seed=2, overlap=overlap)
    kwargs = dict(n_components=3, temperatures=SCHEDULE, n_init=2, **data_prior_defaults(np.asarray(x)))
    direct, _ = map_from_kmeans(jax.random.key(0), x, spherical_gmm, init_samples=2_000, **kwargs)
    staged, _ = map_from_kmeans(jax.random.key(0), x, spherical_gmm, init_samples=400, **kwargs)
    per_row = abs(float(direct.loss)) / x.shape[0]
    assert float(staged.loss) <= float(direct.loss) + 1e-4 * x.shape[0] * max(per_row, 1.0)
    def order(means):
        return np.asarray(means)[np.argsort(np.asarray(means)[:, 0])]

    np.testing.assert_allclose(order(staged.params["means"]), order(direct.params["means"]), atol=0.05)
    np.testing.assert_allclose(float(staged.params["sigma"]), float(direct.params["sigma"]), rtol=0.01)
