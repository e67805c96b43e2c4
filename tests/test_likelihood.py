import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from probkm.core.likelihood import (
    annealed_log_likelihood,
    kmeans_objective_pointwise,
    log_sigma_derivatives,
    mixture_log_likelihood,
    nearest_centroid,
    responsibilities,
    sample_mixture,
    squared_distances,
)

RNG = np.random.default_rng(3)
X = RNG.normal(size=(40, 3)) * 2
W = np.array([0.2, 0.5, 0.3])
MU = RNG.normal(size=(3, 3)) * 2
SIGMA = 0.8


def scipy_mixture_loglik(x, w, mu, sigma):
    comps = np.stack([np.log(w[k]) + multivariate_normal(mu[k], sigma**2 * np.eye(x.shape[1])).logpdf(x) for k in range(len(w))], -1)
    return logsumexp(comps, axis=-1)


def test_annealed_at_t1_equals_mixture_and_scipy():
    annealed = np.asarray(annealed_log_likelihood(jnp.asarray(X), jnp.asarray(W), jnp.asarray(MU), SIGMA, 1.0))
    mixture = np.asarray(mixture_log_likelihood(jnp.asarray(X), jnp.asarray(W), jnp.asarray(MU), SIGMA))
    reference = scipy_mixture_loglik(X, W, MU, SIGMA)
    np.testing.assert_array_equal(annealed, mixture)
    np.testing.assert_allclose(mixture, reference, rtol=1e-5)


def test_zero_temperature_limit_is_classification_likelihood():
    d = ((X[:, None, :] - MU[None]) ** 2).sum(-1)
    classification = np.max(np.log(W) - d / (2 * SIGMA**2), axis=-1) - 1.5 * np.log(2 * np.pi * SIGMA**2)
    cold = np.asarray(annealed_log_likelihood(jnp.asarray(X), jnp.asarray(W), jnp.asarray(MU), SIGMA, 1e-4))
    np.testing.assert_allclose(cold, classification, rtol=1e-4, atol=1e-3)
    # and the tempered value decreases towards it monotonically as T falls
    temps = [1.0, 0.5, 0.1, 0.01]
    totals = [float(annealed_log_likelihood(jnp.asarray(X), jnp.asarray(W), jnp.asarray(MU), SIGMA, t).sum()) for t in temps]
    assert all(a >= b - 1e-3 for a, b in zip(totals, totals[1:]))


def test_tiny_temperature_stays_finite():
    value = annealed_log_likelihood(jnp.asarray(X), jnp.asarray(W), jnp.asarray(MU), SIGMA, 1e-30)
    assert np.all(np.isfinite(np.asarray(value)))


def test_squared_distances_match_direct_form():
    direct = ((X[:, None, :] - MU[None]) ** 2).sum(-1)
    np.testing.assert_allclose(np.asarray(squared_distances(jnp.asarray(X), jnp.asarray(MU))), direct, rtol=1e-5, atol=1e-4)
    on_centre = squared_distances(jnp.asarray(MU), jnp.asarray(MU))
    assert float(jnp.min(on_centre)) >= 0.0


def test_kmeans_objective_and_nearest_centroid():
    direct = ((X[:, None, :] - MU[None]) ** 2).sum(-1)
    np.testing.assert_allclose(np.asarray(kmeans_objective_pointwise(jnp.asarray(X), jnp.asarray(MU))), direct.min(-1), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(nearest_centroid(jnp.asarray(X), jnp.asarray(MU))), direct.argmin(-1))


def test_responsibilities_sum_to_one_and_harden():
    resp = np.asarray(responsibilities(jnp.asarray(X), jnp.full(3, 1 / 3), jnp.asarray(MU), SIGMA))
    np.testing.assert_allclose(resp.sum(-1), 1.0, rtol=1e-5)
    cold = np.asarray(responsibilities(jnp.asarray(X), jnp.full(3, 1 / 3), jnp.asarray(MU), SIGMA, 1e-5))
    np.testing.assert_array_equal(cold.argmax(-1), ((X[:, None] - MU[None]) ** 2).sum(-1).argmin(-1))
    assert cold.max(-1).min() > 0.999


def test_log_sigma_derivatives_match_autodiff():
    x, w, mu = jnp.asarray(X), jnp.asarray(W), jnp.asarray(MU)
    total = lambda u: jnp.sum(mixture_log_likelihood(x, w, mu, jnp.exp(u)))
    first, second = log_sigma_derivatives(x, w, mu, jnp.exp(0.2))
    np.testing.assert_allclose(float(first), float(jax.grad(total)(0.2)), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(float(second), float(jax.hessian(total)(0.2)), rtol=1e-4)


def test_sample_mixture_shapes_and_proportions():
    x, z = sample_mixture(jax.random.key(0), jnp.asarray(W), jnp.asarray(MU), SIGMA, (20000,))
    assert x.shape == (20000, 3) and z.shape == (20000,)
    np.testing.assert_allclose(np.bincount(np.asarray(z), minlength=3) / 20000, W, atol=0.015)
    residual = np.asarray(x) - MU[np.asarray(z)]
    assert residual.std() == pytest.approx(SIGMA, rel=0.02)


def test_hand_written_gradient_matches_autodiff_of_the_forward_pass():
    """The unbatched log-likelihood's VJP against autodiff of the same forward arithmetic, in every argument."""
    from probkm.core.likelihood import _annealed_forward

    args = (jnp.asarray(X), jnp.asarray(W), jnp.asarray(MU), jnp.asarray(SIGMA), jnp.asarray(0.7))
    cotangent = jnp.asarray(RNG.normal(size=X.shape[0]))  # any cotangent, not only ones
    ours = jax.vjp(annealed_log_likelihood, *args)[1](cotangent)
    reference = jax.vjp(lambda *a: _annealed_forward(*a)[0], *args)[1](cotangent)
    for name, a, b in zip(("x", "weights", "locs", "sigma", "temperature"), ours, reference):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=1e-4, err_msg=name)
    # reverse-over-reverse and forward-over-reverse (jax.hessian) both work through the rule
    total = lambda s: jnp.sum(annealed_log_likelihood(args[0], args[1], args[2], s, args[4]))
    np.testing.assert_allclose(float(jax.hessian(total)(args[3])), float(jax.jacrev(jax.jacrev(total))(args[3])), rtol=1e-4)


def test_no_n_by_k_by_d_intermediate_in_the_gradient():
    """DESIGN section 5: value and gradient hold (N, K) arrays (clusters first: (K, N)), never (N, K, D)."""
    n, k, d = 64, 5, 3
    x = jnp.zeros((n, d))
    f = jax.value_and_grad(lambda w, m, s: jnp.sum(mixture_log_likelihood(x, w, m, s)), argnums=(0, 1, 2))
    jaxpr = jax.make_jaxpr(f)(jnp.full(k, 1 / k), jnp.zeros((k, d)), 1.0)

    def shapes(jaxpr):
        for eqn in jaxpr.eqns:
            yield from (v.aval.shape for v in eqn.outvars)
            for param in eqn.params.values():
                inner = getattr(param, "jaxpr", None)
                if inner is not None:
                    yield from shapes(getattr(inner, "jaxpr", inner))

    seen = set(shapes(jaxpr.jaxpr))
    assert ((n, k) in seen or (k, n) in seen) and not any(len(s) == 3 and n in s and k in s for s in seen)


def numpy_annealed_total(x, g, w, mu, sigma, t):
    """``sum_i g_i l_T,i`` in float64 NumPy: ``l_T,i = T logsumexp_k[a_ik / T] - (D/2) log(2 pi sigma^2)``."""
    scores = np.log(w) - ((x[:, None, :] - mu[None]) ** 2).sum(-1) / (2 * sigma**2)
    ll = t * logsumexp(scores / t, axis=-1) - 0.5 * x.shape[1] * np.log(2 * np.pi * sigma**2)
    return float(np.dot(g, ll)), ll


def central_differences(f, params, step=1e-6):
    """Gradient of ``f(*params)`` in every element of every parameter, by central differences in float64."""
    grads = []
    for j, p in enumerate(params):
        grad = np.zeros(np.shape(p))
        for idx in np.ndindex(grad.shape):
            h = step * max(1.0, abs(p[idx]))
            values = []
            for shift in (h, -h):
                moved = np.array(p, dtype=np.float64)
                moved[idx] += shift
                values.append(f(*params[:j], moved, *params[j + 1 :]))
            grad[idx] = (values[0] - values[1]) / (2 * h)
        grads.append(grad)
    return grads


@pytest.mark.parametrize("constant", [True, False])
def test_gradient_over_row_blocks_for_any_cotangent(constant, monkeypatch):
    """In row blocks (with a remainder), without a gradient in x: a constant cotangent reuses
    the forward pass's sums, any other repeats the pass; both match float64 central differences
    of a NumPy log-likelihood to float32 precision."""
    import probkm.core.likelihood as likelihood

    # small blocks, so that a small array is split (the sizes are read when tracing)
    monkeypatch.setattr(likelihood, "ROW_BLOCK", 64)
    monkeypatch.setattr(likelihood, "MIN_ROWS_TO_BLOCK", 128)
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=(3 * 64 + 5, 3)) * 2, jnp.float32)
    params = (jnp.asarray(W), jnp.asarray(MU), jnp.asarray(SIGMA), jnp.asarray(0.9))
    g = jnp.full(x.shape[0], 0.37) if constant else jnp.asarray(rng.normal(size=x.shape[0]), jnp.float32)
    value, pullback = jax.vjp(lambda *p: annealed_log_likelihood(x, *p), *params)
    # the reference sees the same float32-rounded inputs, evaluated in float64
    x64, g64 = np.asarray(x, np.float64), np.asarray(g, np.float64)
    p64 = [np.asarray(p, np.float64) for p in params]
    ref_value = numpy_annealed_total(x64, g64, *p64)[1]
    np.testing.assert_allclose(np.asarray(value), ref_value, rtol=1e-5)
    reference = central_differences(lambda *p: numpy_annealed_total(x64, g64, *p)[0], p64)
    for name, a, b in zip(("weights", "locs", "sigma", "temperature"), pullback(g), reference):
        scale = np.abs(b).max()
        np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=1e-4, atol=1e-5 * scale, err_msg=name)
