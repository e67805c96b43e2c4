"""probkm.inference.nuts: the compiled NUTS driver behind probkm.inference.nuts.fit_nuts."""

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer import MCMC, NUTS
from numpyro.infer.initialization import init_to_value

from probkm.inference.nuts import fit_nuts
from probkm.core.models import annealed_gmm, data_prior_defaults, spherical_gmm
from tests.test_scale import run_python

TRUE_MEANS = np.array([[0.0, 0.0], [6.0, 0.0]])
SETTINGS = dict(num_warmup=200, num_samples=300, num_chains=2)
FIELDS = ("potential_energy", "energy", "num_steps", "accept_prob", "diverging")


def two_blobs(seed: int, n_obs: int = 200) -> np.ndarray:
    """``(n_obs, 2)`` points, half around each of two means 6 apart, sigma 1."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(size=(n_obs // 2, 2)) + m for m in TRUE_MEANS])


X = two_blobs(0)
KWARGS = dict(n_components=2, **data_prior_defaults(X))
INIT = {"means": jnp.asarray(TRUE_MEANS, jnp.float32), "weights": jnp.full(2, 0.5), "sigma": jnp.array(1.0)}


@pytest.fixture(scope="module")
def fit():
    return fit_nuts(jax.random.key(0), jnp.asarray(X, jnp.float32), spherical_gmm, init_values=INIT, **SETTINGS, **KWARGS)


@pytest.fixture(scope="module")
def mcmc():
    kernel = NUTS(spherical_gmm, init_strategy=init_to_value(values=INIT))
    mcmc = MCMC(kernel, chain_method="sequential", progress_bar=False, **SETTINGS)
    mcmc.run(jax.random.key(0), jnp.asarray(X, jnp.float32), extra_fields=FIELDS, **KWARGS)
    return mcmc


@pytest.mark.slow
def test_a_second_call_with_new_data_key_and_floats_does_not_trace_again():
    traces = []

    def counted(x, **kwargs):  # runs only while JAX traces it
        traces.append(1)
        annealed_gmm(x, **kwargs)

    settings = dict(num_warmup=20, num_samples=10, num_chains=2)
    first = fit_nuts(jax.random.key(1), jnp.asarray(X, jnp.float32), counted, temperature=1.0, **settings, **KWARGS)
    n_traces = len(traces)
    assert n_traces > 0
    other = two_blobs(1)
    second = fit_nuts(
        jax.random.key(2), other, counted, temperature=0.5, **settings,
        **{**KWARGS, **data_prior_defaults(other), "sigma_scale": 2.0},
    )
    assert len(traces) == n_traces
    # without init_values each chain starts from its own draws (init_to_median)
    for result in (first, second):
        sigma = np.asarray(result.get_samples(group_by_chain=True)["sigma"])
        assert sigma.shape == (2, 10) and np.all(np.isfinite(sigma))
        assert not np.array_equal(sigma[0], sigma[1])


def monte_carlo_se(draws: np.ndarray) -> np.ndarray:
    """ArviZ's Monte Carlo standard error of the mean of ``(chain, draw, ...)`` draws."""
    return az.mcse(az.convert_to_dataset({"v": draws}))["v"].values


@pytest.mark.slow
def test_posterior_agrees_with_numpyro_mcmc(fit, mcmc):
    ours, theirs = fit.get_samples(group_by_chain=True), mcmc.get_samples(group_by_chain=True)
    for name in ("sigma", "means", "weights"):
        a, b = np.asarray(ours[name], dtype=float), np.asarray(theirs[name], dtype=float)
        mcse = np.hypot(monte_carlo_se(a), monte_carlo_se(b))
        difference = np.abs(a.mean(axis=(0, 1)) - b.mean(axis=(0, 1)))
        assert np.all(difference < 4 * mcse), (name, difference, mcse)
    assert np.asarray(ours["sigma"]).mean() == pytest.approx(1.0, abs=0.1)
    np.testing.assert_allclose(np.asarray(ours["means"]).mean(axis=(0, 1)), TRUE_MEANS, atol=0.3)
    assert int(np.sum(fit.get_extra_fields()["diverging"])) == 0


@pytest.mark.slow
@pytest.mark.parametrize("group_by_chain", [True, False])
def test_samples_and_extra_fields_have_mcmc_shapes(fit, mcmc, group_by_chain):
    for ours, theirs in (
        (fit.get_samples(group_by_chain), mcmc.get_samples(group_by_chain)),
        (fit.get_extra_fields(group_by_chain), mcmc.get_extra_fields(group_by_chain)),
    ):
        assert list(ours) == list(theirs)
        for name in theirs:
            assert ours[name].shape == theirs[name].shape, name
            assert ours[name].dtype == theirs[name].dtype, name
    assert (fit.num_chains, fit.num_samples, fit.num_warmup) == (2, 300, 200)
    assert fit.get_samples(group_by_chain=True)["means"].shape == (2, 300, 2, 2)
    # chains concatenated in order, as MCMC does
    np.testing.assert_array_equal(fit.get_samples()["means"][300:], fit.get_samples(group_by_chain=True)["means"][1])


@pytest.mark.slow
def test_same_key_same_draws_other_key_other_draws(fit):
    x = jnp.asarray(X, jnp.float32)
    again = fit_nuts(jax.random.key(0), x, spherical_gmm, init_values=INIT, **SETTINGS, **KWARGS)
    other = fit_nuts(jax.random.key(1), x, spherical_gmm, init_values=INIT, **SETTINGS, **KWARGS)
    for name, value in fit.get_samples().items():
        np.testing.assert_array_equal(np.asarray(again.get_samples()[name]), np.asarray(value))
        assert not np.array_equal(np.asarray(other.get_samples()[name]), np.asarray(value))
    for name, value in fit.get_extra_fields().items():
        np.testing.assert_array_equal(np.asarray(again.get_extra_fields()[name]), np.asarray(value))


@pytest.mark.slow
def test_parallel_on_one_device_warns_and_runs_sequentially(fit):
    if jax.local_device_count() >= 2:
        pytest.skip("needs a single device")
    with pytest.warns(UserWarning, match="not enough devices to run parallel chains: expected 2 but got 1"):
        parallel = fit_nuts(jax.random.key(0), jnp.asarray(X, jnp.float32), spherical_gmm, chain_method="parallel",
                            init_values=INIT, **SETTINGS, **KWARGS)
    np.testing.assert_array_equal(np.asarray(parallel.get_samples()["sigma"]), np.asarray(fit.get_samples()["sigma"]))


@pytest.mark.slow
def test_a_start_with_no_finite_density_raises(fit):
    with pytest.raises(RuntimeError, match=r"not finite at the initial point of chain\(s\) \[0, 1\]"):
        fit_nuts(jax.random.key(0), jnp.asarray(X, jnp.float32), spherical_gmm, init_values={**INIT, "sigma": jnp.array(-1.0)},
                 **SETTINGS, **KWARGS)


def first_draws(chain_method: str) -> dict[str, np.ndarray]:
    result = fit_nuts(jax.random.key(3), jnp.asarray(X, jnp.float32), spherical_gmm, num_warmup=3, num_samples=4, num_chains=2,
                      chain_method=chain_method, init_values=INIT, **KWARGS)
    return {k: np.asarray(v) for k, v in result.get_samples(group_by_chain=True).items()}


@pytest.mark.slow
def test_keys_are_used_as_mcmc_uses_them():
    """Chain by chain, the first draws equal MCMC's for the same key, whichever way chains run.

    Only the first draws: NUTS trajectories are chaotic, so float rounding that differs
    between compiled programs (vmap, XLA fusion) separates longer runs, which stay valid draws.
    """
    mcmc = MCMC(NUTS(spherical_gmm, init_strategy=init_to_value(values=INIT)), num_warmup=3, num_samples=4, num_chains=2,
                chain_method="sequential", progress_bar=False)
    mcmc.run(jax.random.key(3), jnp.asarray(X, jnp.float32), **KWARGS)
    reference = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    assert not np.array_equal(reference["means"][0], reference["means"][1])
    for chain_method in ("sequential", "vectorized"):
        draws = first_draws(chain_method)
        for name in reference:
            np.testing.assert_allclose(draws[name], reference[name], rtol=1e-4, atol=1e-5, err_msg=f"{chain_method} {name}")


PARALLEL = """
import json, jax, jax.numpy as jnp, numpy as np
from tests.test_nuts import first_draws
assert len(jax.devices()) == 2
parallel, sequential = first_draws("parallel"), first_draws("sequential")
print(json.dumps({k: float(np.abs(parallel[k] - sequential[k]).max()) for k in sequential}))
"""


@pytest.mark.slow
def test_parallel_chains_on_two_devices_match_sequential():
    import json

    out = json.loads(run_python(PARALLEL, XLA_FLAGS="--xla_force_host_platform_device_count=2"))
    assert max(out.values()) < 1e-5, out


@pytest.mark.parametrize("chain_method", ["threads", "Sequential", None])
def test_unknown_chain_method_is_refused(chain_method):
    with pytest.raises(ValueError, match="chain_method must be one of 'sequential', 'vectorized', 'parallel'; got"):
        fit_nuts(jax.random.key(0), jnp.asarray(X, jnp.float32), spherical_gmm, chain_method=chain_method, **KWARGS)
