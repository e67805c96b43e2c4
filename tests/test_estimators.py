import re

import numpy as np
import pytest
from scipy import special, stats
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import probkm

ESTIMATORS = [lambda: probkm.SphericalGMM(2, random_state=0, n_temperatures=10), lambda: probkm.AnnealedKMeans(2, random_state=0, n_temperatures=10)]
GOOD = np.random.default_rng(0).normal(size=(20, 2)) + np.repeat([[0, 0], [6, 6]], 10, axis=0)


@pytest.mark.parametrize("make", ESTIMATORS)
@pytest.mark.parametrize("method", ["predict", "score", "sample"])
def test_methods_before_fit_raise_not_fitted(make, method):
    est = make()
    with pytest.raises(NotFittedError):
        getattr(est, method)(*([GOOD] if method != "sample" else [3]))


def test_gmm_predict_proba_and_score_samples_before_fit():
    for method in ("predict_proba", "score_samples"):
        with pytest.raises(NotFittedError):
            getattr(probkm.SphericalGMM(2), method)(GOOD)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_get_params_clone_round_trip(make):
    est = make()
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert copy is not est


@pytest.mark.parametrize("make", ESTIMATORS)
def test_fit_returns_self_and_fit_predict_matches(make):
    est = make()
    assert est.fit(GOOD) is est
    np.testing.assert_array_equal(make().fit_predict(GOOD), est.predict(GOOD))


def test_init_only_stores_parameters():
    est = probkm.SphericalGMM(n_components=-3, sigma_prior="nope")  # validated at fit, as in scikit-learn
    assert est.n_components == -3 and est.sigma_prior == "nope"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "make",
    [
        lambda: probkm.SphericalGMM(3, random_state=5),
        lambda: probkm.SphericalGMM(2, inference="mcmc", num_warmup=30, num_samples=30, random_state=5),
        lambda: probkm.AnnealedKMeans(3, random_state=5),
    ],
)
def test_same_random_state_gives_identical_results(make, mixture_data):
    X = mixture_data[0][:300]
    a, b = make().fit(X), make().fit(X)
    for name in ("means_", "cluster_centers_", "sigma_", "weights_", "labels_"):
        if hasattr(a, name):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.sample(40)[0], b.sample(40)[0])
    if hasattr(a, "draws_"):
        for left, right in zip(a.draws_, b.draws_):
            np.testing.assert_array_equal(np.asarray(left), np.asarray(right))


def test_gmm_predict_proba_rows_sum_to_one(map_fit, mixture_data):
    proba = map_fit.predict_proba(mixture_data[0][:50])
    assert proba.shape == (50, 4)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(map_fit.predict(mixture_data[0][:50]), proba.argmax(1))


def test_gmm_score_is_mean_of_score_samples(map_fit, mixture_data):
    X = mixture_data[0]
    assert map_fit.score(X) == pytest.approx(map_fit.score_samples(X).mean(), rel=1e-6)


def test_gmm_bic_and_aic_match_an_independent_computation(map_fit, mixture_data):
    """``-2 log L + p log N`` and ``-2 log L + 2 p``, with ``log L`` of the fitted point in float64
    and ``p = (K - 1) + K D + 1`` (weights on the simplex, the means, one shared sigma)."""
    X = mixture_data[0]
    n_obs, n_dim = X.shape
    weights, means, sigma = map_fit.weights_, map_fit.means_, map_fit.sigma_
    n_components = len(weights)
    log_lik = special.logsumexp(np.log(weights) + stats.norm.logpdf(X[:, None, :], means[None], sigma).sum(-1), axis=-1).sum()
    n_parameters = (n_components - 1) + n_components * n_dim + 1
    # float32 evaluation of about -8000 is good to ~1e-6 relative; one parameter more or less moves BIC by log N ~ 7.6 and AIC by 2
    assert map_fit.bic(X) == pytest.approx(-2 * log_lik + n_parameters * np.log(n_obs), abs=0.2)
    assert map_fit.aic(X) == pytest.approx(-2 * log_lik + 2 * n_parameters, abs=0.2)


BAD_INPUT = [
    (np.arange(10.0), ValueError, "Expected 2D array: X must have shape (n_samples, n_features); got 1-D shape (10,). Reshape your data: X.reshape(-1, 1)"),
    (np.zeros((2, 3, 4)), ValueError, "Expected 2D array: X must have shape (n_samples, n_features); got 3-D"),
    (np.where(np.arange(20)[:, None] == 7, np.nan, GOOD), ValueError, "X has no observed value in row 7 (every entry is NaN"),
    (np.where(np.arange(2)[None, :] == 1, np.nan, GOOD), ValueError, "X has no observed value in column 1 (every entry is NaN"),
    (np.where(np.arange(20)[:, None] == 3, np.inf, GOOD), ValueError, "Input X contains infinity at row 3, column 0"),
    (GOOD[:1], ValueError, "Expected n_samples >= "),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "X must be numeric; got dtype <U1"),
    (np.array([[1.0, "x"], [2.0, 3.0]], dtype=object), TypeError, "the value 'x' at row 0, column 1 is not a number"),
    (np.zeros((0, 2)), ValueError, "X is empty: found 0 sample(s) (shape=(0, 2)) while a minimum of 1 is required."),
    (None, TypeError, "X must be an array of shape (n_samples, n_features); got None"),
    (GOOD + 1j, ValueError, "Complex data not supported"),
]


@pytest.mark.parametrize("make", ESTIMATORS)
@pytest.mark.parametrize("X, error, message", BAD_INPUT)
def test_bad_input_names_the_problem(make, X, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make().fit(X)


def test_fewer_points_than_clusters_message():
    with pytest.raises(ValueError, match=re.escape("Expected n_samples >= n_components but got n_components=5, n_samples=3")):
        probkm.SphericalGMM(5).fit(GOOD[:3])
    with pytest.raises(ValueError, match=re.escape("got n_clusters=5, n_samples=3")):
        probkm.AnnealedKMeans(5).fit(GOOD[:3])


@pytest.mark.parametrize(
    "est, error, message",
    [
        (probkm.SphericalGMM(0), ValueError, "n_components must be an int >= 1; got 0."),
        (probkm.SphericalGMM(2.5), TypeError, "n_components must be an int >= 1; got 2.5 of type float."),
        (probkm.AnnealedKMeans(0), ValueError, "n_clusters must be an int >= 1; got 0."),
        (probkm.SphericalGMM(2, sigma_prior="cauchy"), ValueError, "sigma_prior must be one of 'halfnormal', 'lognormal', 'invgamma'; got 'cauchy'."),
        (probkm.AnnealedKMeans(2, sigma_prior="cauchy"), ValueError, "sigma_prior must be one of 'halfnormal', 'lognormal', 'invgamma'; got 'cauchy'."),
        (probkm.SphericalGMM(2, inference="vi"), ValueError, "inference must be one of 'map', 'mcmc'; got 'vi'."),
        (probkm.SphericalGMM(2, num_chains=0), ValueError, "num_chains must be an int >= 1; got 0."),
        (probkm.SphericalGMM(2, sigma_scale=-1.0), ValueError, "sigma_scale must be None or a finite number > 0; got -1.0."),
        (probkm.SphericalGMM(2, target_accept_prob=1.0), ValueError, "target_accept_prob must be a number in (0, 1); got 1.0."),
        (probkm.AnnealedKMeans(2, t_min=0.7), ValueError, "t_min must be a number in (0, 0.5) (below the first critical temperature, or no cluster ever splits); got 0.7."),
        (probkm.AnnealedKMeans(2, max_iter=True), TypeError, "max_iter must be an int >= 1; got True of type bool."),
    ],
)
def test_bad_parameters_name_the_problem(est, error, message):
    with pytest.raises(error, match=re.escape(message)):
        est.fit(GOOD)


def test_predict_with_other_feature_count(kmeans_fit, map_fit):
    for est in (kmeans_fit, map_fit):
        with pytest.raises(ValueError, match=re.escape(f"X has 2 features, but {type(est).__name__} is expecting 3 features as input.")):
            est.predict(GOOD)


def test_predict_marginalises_nan_entries_and_rejects_empty_rows(map_fit):
    X = np.zeros((4, 3))
    X[2, 1] = np.nan
    assert np.isfinite(map_fit.predict_proba(X)).all()
    X[2] = np.nan
    with pytest.raises(ValueError, match="no observed value in row 2"):
        map_fit.predict(X)


def test_sample_rejects_bad_n_samples(map_fit):
    with pytest.raises(ValueError, match="n_samples must be an int >= 1; got 0."):
        map_fit.sample(0)


def test_lists_and_integer_data_are_accepted():
    ints = np.round(GOOD).astype(int)
    est = probkm.AnnealedKMeans(2, random_state=0, n_temperatures=10).fit(ints.tolist())
    assert est.cluster_centers_.shape == (2, 2)


REPRO_SCRIPT = """
import collections, sys
import jax, jax.monitoring
from probkm.inference.compilation_cache import enable_compilation_cache
enable_compilation_cache(sys.argv[1])
events = collections.Counter()
jax.monitoring.register_event_listener(lambda name, **kw: events.update([name]))
import numpy as np, probkm
from tests.conftest import draw_mixture
X = draw_mixture(0, n_obs=400)[0]
g = probkm.SphericalGMM(4, random_state=3).fit(X)
k = probkm.AnnealedKMeans(4, random_state=3).fit(X)
m = probkm.SphericalGMM(2, inference="mcmc", num_warmup=20, num_samples=20, num_chains=1, random_state=3).fit(X)
print(events["/jax/compilation_cache/cache_hits"], events["/jax/compilation_cache/cache_misses"])
print(repr((g.means_.tobytes().hex(), g.sigma_, k.cluster_centers_.tobytes().hex(), np.asarray(m.draws_.sigma).tobytes().hex(), g.sample(5)[0].tobytes().hex())))
"""


@pytest.mark.slow
def test_results_are_bit_identical_across_processes(tmp_path):
    """Different string-hash seeds must not change any number (NumPyro sums ELBO terms over a set),
    nor the compiled programs: a second process loads every one from the persistent cache."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root), "JAX_PLATFORMS": "cpu"}
        command = [sys.executable, "-W", "ignore", "-c", REPRO_SCRIPT, str(tmp_path / "jax-cache")]
        run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        outputs.append(run.stdout.strip().splitlines()[-2:])
    (_, first_misses), (second_hits, second_misses) = (map(int, out[0].split()) for out in outputs)
    assert first_misses > 10  # the first process compiled and stored its programs
    assert second_misses == 0 and second_hits >= first_misses
    assert outputs[0][1] == outputs[1][1]
