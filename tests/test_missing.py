"""Missing values: NaN entries marginalised out of the likelihood, the k-means steps and both estimators.

With a spherical covariance a missing coordinate integrates out exactly, so a row contributes
``logsumexp_k [log w_k + sum over its observed d of log N(x_d | mu_kd, sigma^2)]``. The tests
check that arithmetic against a float64 reference written row by row, the k-means steps against
NumPy, and the estimators against their own complete-data fits.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp

import probkm
from probkm.algorithms.annealing import assign, weighted_means
from probkm.core.likelihood import annealed_log_likelihood, observed_mask
from probkm.core.models import data_prior_defaults
from probkm.core.scaling import Scaling

RNG = np.random.default_rng(0)
N_SMALL, D_SMALL, K_SMALL = 12, 3, 2
X_SMALL = RNG.normal(size=(N_SMALL, D_SMALL))
SEEN_SMALL = RNG.random((N_SMALL, D_SMALL)) > 0.35
SEEN_SMALL[np.arange(N_SMALL), RNG.integers(0, D_SMALL, N_SMALL)] = True  # every row observes something
X_SMALL_NAN = np.where(SEEN_SMALL, X_SMALL, np.nan)
W_SMALL = np.array([0.3, 0.7])
MU_SMALL = RNG.normal(size=(K_SMALL, D_SMALL))
ROWS_SMALL = RNG.uniform(0.5, 2.0, N_SMALL)


def reference_log_likelihood(x, seen, weights, means, sigma, temperature=1.0, xp=np):
    """Row by row, on the observed sub-vector only: the definition, with nothing shared with probkm."""
    rows = []
    for i in range(x.shape[0]):
        cols = np.flatnonzero(seen[i])
        sub, mu = x[i, cols], means[:, cols]
        scores = xp.log(weights) - xp.sum((sub - mu) ** 2, axis=1) / (2 * sigma**2)
        lse = xp.max(scores) + xp.log(xp.sum(xp.exp((scores - xp.max(scores)) / temperature))) * temperature
        rows.append(lse - 0.5 * len(cols) * xp.log(2 * np.pi * sigma**2))
    return xp.stack(rows) if xp is jnp else np.array(rows)


@pytest.mark.parametrize("temperature", [1.0, 0.4])
def test_likelihood_equals_the_sub_vector_likelihood(temperature):
    got = annealed_log_likelihood(
        jnp.asarray(X_SMALL_NAN), jnp.asarray(W_SMALL), jnp.asarray(MU_SMALL), 0.8, temperature, observed=jnp.asarray(SEEN_SMALL)
    )
    expected = reference_log_likelihood(X_SMALL, SEEN_SMALL, W_SMALL, MU_SMALL, 0.8, temperature)
    np.testing.assert_allclose(np.asarray(got, dtype=float), expected, rtol=1e-5, atol=1e-5)
    # an all-observed mask is the complete-data likelihood
    complete = annealed_log_likelihood(jnp.asarray(X_SMALL), jnp.asarray(W_SMALL), jnp.asarray(MU_SMALL), 0.8, temperature)
    everything = annealed_log_likelihood(
        jnp.asarray(X_SMALL), jnp.asarray(W_SMALL), jnp.asarray(MU_SMALL), 0.8, temperature, observed=jnp.ones((N_SMALL, D_SMALL))
    )
    np.testing.assert_allclose(np.asarray(everything), np.asarray(complete), rtol=1e-6)


def test_gradients_are_finite_and_match_autodiff_of_the_reference():
    x, seen, rows = jnp.asarray(X_SMALL_NAN), jnp.asarray(SEEN_SMALL), jnp.asarray(ROWS_SMALL)

    def probkm_total(w, mu, sigma, t):
        return jnp.sum(annealed_log_likelihood(x, w, mu, sigma, t, rows, observed=seen))

    def reference_total(w, mu, sigma, t):
        values = reference_log_likelihood(jnp.asarray(X_SMALL), SEEN_SMALL, w, mu, sigma, t, xp=jnp)
        return jnp.sum(rows * values)

    args = (jnp.asarray(W_SMALL), jnp.asarray(MU_SMALL), jnp.asarray(0.8), jnp.asarray(0.6))
    got = jax.grad(probkm_total, argnums=(0, 1, 2, 3))(*args)
    expected = jax.grad(reference_total, argnums=(0, 1, 2, 3))(*args)
    for g, e in zip(got, expected):
        assert np.isfinite(np.asarray(g)).all()
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=2e-4, atol=2e-4)
    # a gradient in x: zero on the missing entries (NaN there never reaches it), finite everywhere
    grad_x = jax.grad(lambda x: jnp.sum(annealed_log_likelihood(x, *args[:3], 1.0, observed=seen)))(x)
    assert np.isfinite(np.asarray(grad_x)).all() and np.all(np.asarray(grad_x)[~SEEN_SMALL] == 0.0)


def test_row_blocks_with_missing_entries(monkeypatch):
    """The blocked pass of large data (normally from 262,144 rows on a CPU) on tiny blocks: the same values and gradients."""
    from probkm.core import likelihood

    x, seen, rows = jnp.asarray(X_SMALL_NAN), jnp.asarray(SEEN_SMALL), jnp.asarray(ROWS_SMALL)
    args = (jnp.asarray(W_SMALL), jnp.asarray(MU_SMALL), jnp.asarray(0.8), jnp.asarray(0.6))

    def total(*params):
        return jnp.sum(likelihood.annealed_log_likelihood(x, *params, rows, observed=seen) * jnp.arange(1.0, N_SMALL + 1))

    unblocked = jax.grad(total, argnums=(0, 1, 2, 3))(*args)
    monkeypatch.setattr(likelihood, "ROW_BLOCK", 5)  # two blocks of 5 rows and a rest of 2
    monkeypatch.setattr(likelihood, "MIN_ROWS_TO_BLOCK", 8)
    monkeypatch.setattr(likelihood, "_blocks_pay", lambda n_rows: n_rows >= 8)
    blocked = jax.grad(total, argnums=(0, 1, 2, 3))(*args)
    for a, b in zip(blocked, unblocked):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_kmeans_steps_use_partial_distances_and_per_coordinate_means():
    x, seen = jnp.asarray(X_SMALL_NAN), jnp.asarray(SEEN_SMALL.astype(float))
    labels, objective = assign(x, jnp.asarray(MU_SMALL), None, seen)
    partial = np.array([[np.nansum((X_SMALL_NAN[i] - m) ** 2) for m in MU_SMALL] for i in range(N_SMALL)])
    np.testing.assert_array_equal(np.asarray(labels), partial.argmin(1))
    np.testing.assert_allclose(np.asarray(objective), partial.min(1), rtol=1e-5, atol=1e-6)
    one_hot = (partial.argmin(1)[None, :] == np.arange(K_SMALL)[:, None]).astype(float)
    means = weighted_means(jnp.asarray(np.nan_to_num(X_SMALL_NAN)), jnp.asarray(one_hot), jnp.asarray(MU_SMALL), seen)
    expected = np.array([np.nanmean(X_SMALL_NAN[partial.argmin(1) == k], axis=0) for k in range(K_SMALL)])
    expected = np.where(np.isnan(expected), MU_SMALL, expected)  # a coordinate nobody observes keeps its value
    np.testing.assert_allclose(np.asarray(means), expected, rtol=1e-5, atol=1e-6)


def test_standardisation_and_prior_defaults_are_nan_aware():
    scaling = Scaling.of(X_SMALL_NAN)
    np.testing.assert_allclose(scaling.center, np.nanmean(X_SMALL_NAN, axis=0))
    assert scaling.scale == pytest.approx(np.sqrt(np.mean(np.nanvar(X_SMALL_NAN, axis=0))))
    defaults = data_prior_defaults(X_SMALL_NAN)
    np.testing.assert_allclose(defaults["loc_center"], scaling.center)
    assert observed_mask(X_SMALL) is None  # complete data keep the complete-data programs


@pytest.mark.parametrize("kind", ["gmm", "kmeans"])
def test_empty_rows_and_columns_are_named(kind):
    est = probkm.SphericalGMM(2) if kind == "gmm" else probkm.AnnealedKMeans(2)
    X = X_SMALL.copy()
    X[4] = np.nan
    with pytest.raises(ValueError, match=r"X has no observed value in row 4 \(every entry is NaN"):
        est.fit(X)
    X = X_SMALL.copy()
    X[:, 2] = np.nan
    with pytest.raises(ValueError, match=r"X has no observed value in column 2 \(every entry is NaN"):
        est.fit(X)
    X = X_SMALL.copy()
    X[1, 1] = np.inf
    with pytest.raises(ValueError, match="infinity at row 1, column 1"):
        est.fit(X)
    assert est.__sklearn_tags__().input_tags.allow_nan


# --- the estimators: a complete-data fit against fits with entries missing completely at random ---

N_OBS, N_DIM = 300, 3
TRUE_MEANS = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 6.0, 6.0]])
TRUE_SIGMA = 1.0


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(1)
    z = rng.integers(0, 3, N_OBS)
    return TRUE_MEANS[z] + TRUE_SIGMA * rng.normal(size=(N_OBS, N_DIM))


def mcar(X, rate, seed):
    """Entries missing completely at random, at ``rate``; a row left empty gets one entry back."""
    rng = np.random.default_rng(seed)
    missing = rng.random(X.shape) < rate
    empty = missing.all(axis=1)
    missing[empty, rng.integers(0, X.shape[1], int(empty.sum()))] = False
    return np.where(missing, np.nan, X)


def _gmm(**kwargs):
    return probkm.SphericalGMM(3, n_temperatures=20, n_init=1, random_state=0, **kwargs)


@pytest.fixture(scope="module")
def complete_fit(blobs):
    return _gmm().fit(blobs)


def _matched(means, reference):
    rows, cols = linear_sum_assignment(((means[:, None] - reference[None]) ** 2).sum(-1))
    return means[rows[np.argsort(cols)]]


@pytest.mark.slow
@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_estimates_stay_within_sampling_error_of_the_complete_data_fit(blobs, complete_fit, rate):
    """Tolerance: 4 analytic standard errors of the missing-data estimates. A mean coordinate of
    component k is the average of about ``N w_k (1 - rate)`` observed values, SE ``sigma / sqrt(that)``;
    sigma from ``n`` observed entries has SE about ``sigma / sqrt(2 n)``. The complete-data fit uses
    a superset of the same entries, so the difference is smaller than either error."""
    X = mcar(blobs, rate, seed=int(rate * 100))
    fit = _gmm().fit(X)
    means = _matched(fit.means_, complete_fit.means_)
    n_per_coordinate = N_OBS * complete_fit.weights_[:, None] * (1 - rate)
    se_means = complete_fit.sigma_ / np.sqrt(n_per_coordinate)
    assert np.all(np.abs(means - complete_fit.means_) < 4 * se_means), (means, complete_fit.means_, se_means)
    n_entries = int((~np.isnan(X)).sum())
    se_sigma = complete_fit.sigma_ / np.sqrt(2 * n_entries)
    assert abs(fit.sigma_ - complete_fit.sigma_) < 4 * se_sigma, (fit.sigma_, complete_fit.sigma_, se_sigma)
    weights = fit.weights_[[int(np.argmin(((fit.means_ - m) ** 2).sum(-1))) for m in complete_fit.means_]]
    assert np.all(np.abs(weights - complete_fit.weights_) < 4 * np.sqrt(complete_fit.weights_ * (1 - complete_fit.weights_) / N_OBS))

    # imputing by the posterior predictive beats column means on the held-out (masked) entries
    held_out = np.isnan(X)
    imputed = fit.impute(X)
    assert np.array_equal(imputed[~held_out], X[~held_out]) and np.isfinite(imputed).all()
    rmse = np.sqrt(np.mean((imputed[held_out] - blobs[held_out]) ** 2))
    column_means = np.broadcast_to(np.nanmean(X, axis=0), X.shape)
    rmse_columns = np.sqrt(np.mean((column_means[held_out] - blobs[held_out]) ** 2))
    assert rmse < 0.7 * rmse_columns, (rmse, rmse_columns)
    # a draw instead of the expectation: reproducible; a draw from the right conditional distribution
    # misses the truth by sqrt(2) times what its mean misses by (both are draws of it, independent)
    drawn = fit.impute(X, sample=True, random_state=3)
    np.testing.assert_array_equal(drawn, fit.impute(X, sample=True, random_state=3))
    rmse_drawn = np.sqrt(np.mean((drawn[held_out] - blobs[held_out]) ** 2))
    assert 1.1 < rmse_drawn / rmse < 1.75, (rmse_drawn, rmse)


@pytest.mark.slow
def test_predictions_on_rows_with_missing_entries(blobs, complete_fit):
    X = mcar(blobs[:40], 0.3, seed=5)
    gmm = complete_fit
    proba = gmm.predict_proba(X)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(gmm.predict(X), proba.argmax(1))
    # score_samples: the density of the observed coordinates, written out in float64
    seen = ~np.isnan(X)
    expected = []
    for i in range(X.shape[0]):
        cols = np.flatnonzero(seen[i])
        d2 = ((X[i, cols] - gmm.means_[:, cols]) ** 2).sum(1)
        expected.append(logsumexp(np.log(gmm.weights_) - d2 / (2 * gmm.sigma_**2)) - 0.5 * len(cols) * np.log(2 * np.pi * gmm.sigma_**2))
    np.testing.assert_allclose(gmm.score_samples(X), expected, rtol=1e-4, atol=1e-4)
    assert gmm.score(X) == pytest.approx(np.mean(expected), rel=1e-4)


@pytest.mark.slow
def test_kmeans_centroids_inertia_and_imputation_with_missing_entries(blobs):
    X = mcar(blobs, 0.2, seed=7)
    km = probkm.AnnealedKMeans(3, n_temperatures=20, n_init=1, random_state=0).fit(X)
    complete = probkm.AnnealedKMeans(3, n_temperatures=20, n_init=1, random_state=0).fit(blobs)
    partial = np.nansum((X[:, None, :] - km.cluster_centers_[None]) ** 2, axis=-1)
    np.testing.assert_array_equal(km.labels_, partial.argmin(1))
    assert km.inertia_ == pytest.approx(partial.min(1).sum(), rel=1e-4)
    # a Lloyd fixed point: each centroid coordinate is the mean of its cluster's observed values
    expected = np.array([np.nanmean(X[km.labels_ == k], axis=0) for k in range(3)])
    np.testing.assert_allclose(km.cluster_centers_, expected, rtol=1e-4, atol=1e-4)
    n_entries = (~np.isnan(X)).sum()
    assert km.sigma_ == pytest.approx(np.sqrt(km.inertia_ / n_entries), rel=1e-6)
    assert km.sigma_ == pytest.approx(complete.sigma_, rel=0.1)
    np.testing.assert_allclose(_matched(km.cluster_centers_, complete.cluster_centers_), complete.cluster_centers_, atol=0.4)
    imputed = km.impute(X)
    held_out = np.isnan(X)
    assert np.array_equal(imputed, np.where(held_out, km.cluster_centers_[km.labels_], X))


@pytest.mark.slow
def test_nuts_runs_on_missing_entries_and_finds_sigma(blobs, complete_fit):
    X = mcar(blobs, 0.2, seed=11)
    nuts = _gmm(inference="mcmc", num_warmup=150, num_samples=150, num_chains=1, num_prior_samples=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short chain may miss the ESS threshold
        nuts.fit(X)
    assert np.isfinite(nuts.draws_.sigma).all()
    assert nuts.sigma_ == pytest.approx(complete_fit.sigma_, rel=0.08)
    np.testing.assert_allclose(_matched(nuts.means_, complete_fit.means_), complete_fit.means_, atol=0.35)
    log_lik = nuts.idata_.log_likelihood["x"]
    assert log_lik.shape == (1, 150, N_OBS) and np.isfinite(log_lik.values).all()
    assert np.isfinite(nuts.impute(X)).all()


@pytest.mark.slow
def test_a_fit_with_missing_entries_pickles(blobs):
    import pickle

    X = mcar(blobs[:60], 0.2, seed=13)
    km = probkm.AnnealedKMeans(3, n_temperatures=10, n_init=0, random_state=0).fit(X)
    again = pickle.loads(pickle.dumps(km))
    np.testing.assert_array_equal(again.predict(X), km.predict(X))
    np.testing.assert_array_equal(again.impute(X), km.impute(X))
