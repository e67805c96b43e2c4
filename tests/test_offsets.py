"""Right answers at any offset and scale: every inference path is equivariant.

``X' = offset + scale * X`` must give means ``offset + scale * means`` and sigma ``scale * sigma``
(to float32 precision for MAP and k-means, within Monte Carlo error for NUTS, whose chaotic
trajectories part ways at the first rounding difference), and the public models must
evaluate float32 data far from the origin as accurately as float64 does.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpyro.infer.util import log_likelihood
from scipy.special import logsumexp

import probkm
from probkm.core.scaling import Scaling

OFFSETS = [0.0, 1e4, 1e6, 1e8]
SCALES = [1e-6, 1e-3, 1.0, 1e3, 1e6]
CENTRES = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0]])


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    return CENTRES[rng.integers(0, 3, 300)] + rng.normal(size=(300, 2))


def _reference_log_likelihood(X, weights, means, sigma, temperature=1.0):
    """The annealed pointwise log-likelihood in float64 NumPy, on the same (float32) inputs."""
    X, means = np.asarray(X, float), np.asarray(means, float)
    d = ((X[:, None, :] - means[None]) ** 2).sum(-1)
    a = np.log(np.asarray(weights, float)) - d / (2 * float(sigma) ** 2)
    return temperature * logsumexp(a / temperature, axis=1) - X.shape[1] / 2 * np.log(2 * np.pi * float(sigma) ** 2)


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize(
    "model, extra",
    [(probkm.spherical_gmm, {}), (probkm.annealed_gmm, {"temperature": 0.3}), (probkm.kmeans_objective_model, {"tau": 2.0})],
    ids=["spherical_gmm", "annealed_gmm", "kmeans_objective_model"],
)
def test_public_models_keep_float64_accuracy_in_float32_far_from_the_origin(blobs, offset, model, extra):
    X = (blobs + offset).astype(np.float32)
    means = (CENTRES + offset).astype(np.float32)
    weights, sigma = np.array([0.3, 0.3, 0.4], np.float32), np.float32(1.0)
    draw = {"means": means[None], "sigma": sigma[None]}
    if model is not probkm.kmeans_objective_model:
        draw["weights"] = weights[None]
    found = np.asarray(log_likelihood(model, draw, X, n_components=3, **extra)["x"][0], dtype=float)
    if model is probkm.kmeans_objective_model:
        d = ((X.astype(float)[:, None, :] - means.astype(float)[None]) ** 2).sum(-1)
        expected = -d.min(axis=1) / extra["tau"]
    else:
        expected = _reference_log_likelihood(X, weights, means, sigma, extra.get("temperature", 1.0))
    # relative to the size of the terms: a point on a centroid has a log-likelihood near 0
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).mean())
    assert abs(found.sum() - expected.sum()) <= 1e-5 * abs(expected.sum())


def _fits(X):
    gmm = probkm.SphericalGMM(3, random_state=0).fit(X)
    km = probkm.AnnealedKMeans(3, random_state=0).fit(X)
    return gmm, km


@pytest.fixture(scope="module")
def base_fits(blobs):
    return _fits(blobs)


@pytest.mark.parametrize(
    "offset, scale", [(o, 1.0) for o in OFFSETS[1:]] + [(0.0, s) for s in SCALES if s != 1.0] + [(1e6, 1e-3)]
)
def test_map_and_kmeans_are_equivariant(blobs, base_fits, offset, scale):
    gmm0, km0 = base_fits
    gmm, km = _fits(offset + scale * blobs)
    np.testing.assert_allclose((gmm.means_ - offset) / scale, gmm0.means_, atol=2e-4)
    np.testing.assert_allclose(gmm.sigma_ / scale, gmm0.sigma_, rtol=2e-4)
    np.testing.assert_allclose(gmm.weights_, gmm0.weights_, atol=2e-4)
    np.testing.assert_allclose((km.cluster_centers_ - offset) / scale, km0.cluster_centers_, atol=2e-4)
    np.testing.assert_allclose(km.sigma_ / scale, km0.sigma_, rtol=2e-4)
    np.testing.assert_array_equal(km.labels_, km0.labels_)
    # the density's change of units: log p'(x') = log p(x) - D log scale
    np.testing.assert_allclose(gmm.score_samples(offset + scale * blobs), gmm0.score_samples(blobs) - 2 * np.log(scale), rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(gmm.predict(offset + scale * blobs), gmm0.predict(blobs))
    new, _ = gmm.sample(50, random_state=1)
    old, _ = gmm0.sample(50, random_state=1)
    np.testing.assert_allclose((new - offset) / scale, old, atol=1e-3)


NUTS = {"inference": "mcmc", "num_warmup": 200, "num_samples": 300, "num_chains": 1, "random_state": 0}


@pytest.fixture(scope="module")
def base_nuts(blobs):
    return probkm.SphericalGMM(3, **NUTS).fit(blobs)


@pytest.mark.parametrize("offset, scale", [(1e4, 1.0), (1e6, 1.0), (1e8, 1.0), (0.0, 1e-6), (0.0, 1e6), (1e6, 1e3)])
def test_nuts_is_equivariant_within_monte_carlo_error(blobs, base_nuts, offset, scale):
    """Before standardising, NUTS at an offset of 1e6 returned sigma 31 for a true sigma of 1."""
    gmm = probkm.SphericalGMM(3, **NUTS).fit(offset + scale * blobs)
    sigma = gmm.idata_.posterior["sigma"].values.ravel() / scale
    base = base_nuts.idata_.posterior["sigma"].values.ravel()
    # posterior sd of sigma is about 0.03 here; a few Monte Carlo standard errors
    assert abs(np.mean(sigma) - np.mean(base)) < 0.02
    assert abs(np.std(sigma) - np.std(base)) < 0.01
    np.testing.assert_allclose((gmm.means_ - offset) / scale, base_nuts.means_, atol=0.05)
    ll = gmm.idata_.log_likelihood["x"].values.mean(axis=(0, 1)) + 2 * np.log(scale)
    base_ll = base_nuts.idata_.log_likelihood["x"].values.mean(axis=(0, 1))
    assert abs(ll.sum() - base_ll.sum()) < 0.5  # nats over 300 points


def test_idata_reports_every_group_in_the_units_of_x(blobs, base_nuts):
    """Prior, prior predictive, posterior predictive and log densities move with the data."""
    scale, offset = 1e3, 1e6
    moved = probkm.SphericalGMM(3, **NUTS).fit(offset + scale * blobs).idata_
    base = base_nuts.idata_
    assert np.abs(moved.observed_data["x"].values - (offset + scale * blobs)).max() == 0.0
    for group in ("prior", "posterior"):
        np.testing.assert_allclose(
            np.median(getattr(moved, group)["sigma"].values) / scale, np.median(getattr(base, group)["sigma"].values), rtol=0.1
        )
    for group in ("prior_predictive", "posterior_predictive"):
        centre = getattr(moved, group)["x"].values.reshape(-1, 2).mean(0)
        np.testing.assert_allclose((centre - offset) / scale, getattr(base, group)["x"].values.reshape(-1, 2).mean(0), atol=0.2)
    # log prior of the means: K D = 6 coordinates each gain -log(scale)
    shift = moved.log_prior["means"].values.mean() - base.log_prior["means"].values.mean()
    assert shift == pytest.approx(-6 * np.log(scale), abs=1.0)


def test_priors_carry_over_exactly():
    """A prior stated in units of X is the same prior after standardising."""
    scaling = Scaling(np.array([1e6, -5.0]), 250.0)
    given = {"loc_center": np.array([1e6 + 500.0, 0.0]), "loc_scale": 1e3, "sigma_scale": 50.0, "tau": 2500.0, "n_components": 3, "sigma_prior": "lognormal"}
    std = scaling.model_kwargs(given)
    np.testing.assert_allclose(std["loc_center"], [2.0, 0.02])
    assert (std["loc_scale"], std["sigma_scale"], std["tau"]) == (4.0, 0.2, 0.04)
    assert std["n_components"] == 3 and std["sigma_prior"] == "lognormal"
    draws = {"means": np.array([[1e6, 0.0]]), "sigma": np.array(25.0), "weights": np.array([1.0])}
    back = scaling.params_backward(scaling.params_forward(draws))
    for name, value in draws.items():
        np.testing.assert_allclose(back[name], value)
