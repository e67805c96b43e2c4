import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import handlers
from numpyro.infer import Predictive
from numpyro.infer.util import log_likelihood
from scipy import special, stats

from probkm.core.models import (
    annealed_gmm,
    data_prior_defaults,
    kmeans_objective_model,
    sigma_prior_distribution,
    spherical_gmm,
)

X = jnp.asarray(np.random.default_rng(0).normal(size=(30, 2)) * 3)
PARAMS = {"weights": jnp.array([0.2, 0.3, 0.5]), "means": jnp.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 2.0]]), "sigma": jnp.array(0.9)}


def trace(model, *args, **kwargs):
    return handlers.trace(handlers.seed(model, 0)).get_trace(*args, **kwargs)


@pytest.mark.parametrize(
    "model, kwargs, sites",
    [
        (spherical_gmm, {}, {"weights": (3,), "means": (3, 2), "sigma": (), "x": (30, 2)}),
        (annealed_gmm, {"temperature": 0.2}, {"weights": (3,), "means": (3, 2), "sigma": (), "x": (30, 2)}),
        (annealed_gmm, {"temperature": 0.2, "weights": "equal", "sigma": 1.0}, {"means": (3, 2), "x": (30, 2)}),
        (kmeans_objective_model, {"tau": 1.0}, {"means": (3, 2), "sigma": (), "x": (30, 2)}),
    ],
)
def test_trace_shapes_plates_and_finite_density(model, kwargs, sites):
    tr = trace(model, X, n_components=3, **kwargs)
    samples = {k: v for k, v in tr.items() if v["type"] == "sample"}
    assert {k: tuple(v["value"].shape) for k, v in samples.items()} == sites
    assert tr["cluster"]["type"] == "plate" and tr["obs"]["type"] == "plate"
    for site in samples.values():
        assert np.isfinite(float(jnp.sum(site["fn"].log_prob(site["value"]))))


@pytest.mark.parametrize("model, kwargs", [(spherical_gmm, {}), (annealed_gmm, {"temperature": 0.5}), (kmeans_objective_model, {"tau": 2.0})])
def test_models_simulate_with_x_none(model, kwargs):
    draws = Predictive(model, num_samples=7)(jax.random.key(1), None, n_components=3, shape=(25, 2), **data_prior_defaults(X), **kwargs)
    assert draws["x"].shape == (7, 25, 2)
    assert np.all(np.isfinite(np.asarray(draws["x"])))


def test_simulation_without_prior_settings_is_an_error():
    with pytest.raises(ValueError, match="With x=None, pass loc_center"):
        trace(spherical_gmm, None, n_components=3, shape=(5, 2))


def _numpy_scores():
    """``a_ik = log w_k + sum_d log N(x_id | mu_kd, sigma^2)`` in float64 NumPy, shape ``(n_obs, K)``."""
    x, means = np.asarray(X, dtype=np.float64), np.asarray(PARAMS["means"], dtype=np.float64)
    weights, sigma = np.asarray(PARAMS["weights"], dtype=np.float64), float(PARAMS["sigma"])
    return np.log(weights) + stats.norm.logpdf(x[:, None, :], means[None], sigma).sum(-1)


@pytest.mark.parametrize("model, kwargs", [(spherical_gmm, {}), (annealed_gmm, {"temperature": 1.0})])
def test_t1_likelihood_is_the_shared_sigma_mixture_density(model, kwargs):
    ours = log_likelihood(model, {k: v[None] for k, v in PARAMS.items()}, X, n_components=3, **kwargs)["x"]
    expected = special.logsumexp(_numpy_scores(), axis=-1)
    np.testing.assert_allclose(np.asarray(ours)[0], expected, rtol=1e-5)


@pytest.mark.parametrize("temperature", [1e-2, 1e-3, 1e-4])
def test_low_temperature_likelihood_tends_to_the_classification_likelihood(temperature):
    """``max_k a_ik <= l_T,i <= max_k a_ik + T log K``: the gap closes as ``T -> 0``."""
    ours = log_likelihood(annealed_gmm, {k: v[None] for k, v in PARAMS.items()}, X, n_components=3, temperature=temperature)["x"]
    x, means = np.asarray(X, dtype=np.float64), np.asarray(PARAMS["means"], dtype=np.float64)
    weights, sigma, n_dim = np.asarray(PARAMS["weights"], dtype=np.float64), float(PARAMS["sigma"]), X.shape[1]
    d = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    classification = (np.log(weights) - d / (2 * sigma**2)).max(-1) - 0.5 * n_dim * np.log(2 * np.pi * sigma**2)
    gap = np.asarray(ours, dtype=np.float64)[0] - classification
    rounding = 1e-6 * np.abs(classification)  # float32
    assert np.all(gap >= -rounding)
    assert np.all(gap <= temperature * np.log(3) + rounding)


def test_equal_weight_fixed_sigma_annealed_matches_mixture_with_those_values():
    params = {"means": PARAMS["means"][None]}
    annealed = log_likelihood(annealed_gmm, params, X, n_components=3, temperature=1.0, weights="equal", sigma=0.9)["x"]
    gmm = log_likelihood(spherical_gmm, {**params, "weights": jnp.full((1, 3), 1 / 3), "sigma": jnp.array([0.9])}, X, n_components=3)["x"]
    np.testing.assert_allclose(np.asarray(annealed), np.asarray(gmm), rtol=1e-6)


def test_kmeans_objective_likelihood_ignores_sigma():
    base = {"means": PARAMS["means"][None]}
    small = log_likelihood(kmeans_objective_model, {**base, "sigma": jnp.array([0.1])}, X, n_components=3, tau=2.0)["x"]
    large = log_likelihood(kmeans_objective_model, {**base, "sigma": jnp.array([10.0])}, X, n_components=3, tau=2.0)["x"]
    np.testing.assert_array_equal(np.asarray(small), np.asarray(large))
    d = ((np.asarray(X)[:, None] - np.asarray(PARAMS["means"])[None]) ** 2).sum(-1).min(-1)
    np.testing.assert_allclose(np.asarray(small)[0], -d / 2.0, rtol=1e-5)


@pytest.mark.parametrize(
    "name, scipy_logpdf",
    [
        ("halfnormal", lambda s: stats.halfnorm(scale=2.0).logpdf(s)),
        ("lognormal", lambda s: stats.lognorm(s=1.0, scale=2.0).logpdf(s)),
        # sigma^2 ~ InvGamma(2, 4): density of sigma is 2 sigma f(sigma^2)
        ("invgamma", lambda s: stats.invgamma(2.0, scale=4.0).logpdf(s**2) + np.log(2 * s)),
    ],
)
def test_sigma_priors_match_scipy(name, scipy_logpdf):
    grid = np.array([0.3, 1.0, 2.5])
    ours = np.asarray(sigma_prior_distribution(name, 2.0).log_prob(jnp.asarray(grid)))
    np.testing.assert_allclose(ours, scipy_logpdf(grid), rtol=1e-5)


def test_unknown_sigma_prior_is_rejected():
    with pytest.raises(ValueError, match="sigma_prior must be one of .*got 'cauchy'"):
        trace(spherical_gmm, X, n_components=3, sigma_prior="cauchy")


def test_data_prior_defaults_handle_constant_features():
    defaults = data_prior_defaults(np.c_[np.arange(5.0), np.ones(5)])
    assert defaults["loc_scale"][1] == 1.0 and defaults["sigma_scale"] > 0
