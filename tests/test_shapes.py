"""Shape buckets and row weights: a padded fit is the unpadded fit, a new N in a compiled
bucket compiles nothing, and ``sample_weight`` means what it means in scikit-learn."""

from __future__ import annotations

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import log_density
from sklearn.exceptions import ConvergenceWarning

import probkm
from probkm.algorithms.kmeans import ANNEAL_SAMPLES, INIT_SAMPLES, kmeans_candidates, subsample_observed
from probkm.algorithms.annealing import geometric_schedule
from probkm.core.likelihood import annealed_log_likelihood
from probkm.core.shapes import MAX_PADDED_ROWS, MIN_COMPONENTS, MIN_ROWS, bucket_components, bucket_rows, pad_rows


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(1)
    return np.r_[rng.normal(0, 1, (90, 2)), rng.normal(5, 1, (70, 2)), rng.normal([0, 6], 1, (40, 2))]


def test_the_ladder_is_short_and_tight():
    sizes = sorted({bucket_rows(n) for n in range(1, MAX_PADDED_ROWS)})
    assert len(sizes) <= 40 and sizes[0] == MIN_ROWS
    assert all(b / a <= 1.26 for a, b in zip(sizes, sizes[1:]))
    assert all(bucket_rows(n) >= n for n in range(1, 5000))
    assert bucket_rows(100_000) == 100_000  # large data: the exact shape


def test_the_starts_draw_no_subsample_from_data_padded_to_their_limit():
    # limits off the ladder would draw 10,000 rows (with replacement) from data of 10,000
    # rows padded to 11,648, and the MAP would solve twice: on the draw, then on all rows
    ladder = {bucket_rows(n) for n in range(1, 20_000)}
    assert INIT_SAMPLES in ladder and ANNEAL_SAMPLES in ladder and INIT_SAMPLES >= bucket_rows(10_000)
    for real in (10_000, 2_800):
        limit = INIT_SAMPLES if real > ANNEAL_SAMPLES else ANNEAL_SAMPLES
        x, rows = (jnp.asarray(a, jnp.float32) for a in pad_rows(np.ones((real, 2))))
        drawn, weights, _ = subsample_observed(jax.random.key(0), x, limit, rows)
        assert drawn is x and weights is rows


def test_padded_rows_of_weight_zero_change_no_value_or_gradient():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(37, 3)), jnp.float32)
    padded, rows = (jnp.asarray(a, jnp.float32) for a in pad_rows(np.asarray(x), n_rows=64))
    params = {"weights": jnp.array([0.3, 0.7]), "means": jnp.array([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]), "sigma": jnp.array(0.9)}
    kw = {"n_components": 2, "loc_center": jnp.zeros(3), "loc_scale": jnp.ones(3), "sigma_scale": 1.0}

    def joint(p, data, extra):
        return log_density(probkm.spherical_gmm, (data,), {**kw, **extra}, p)[0]

    assert float(joint(params, padded, {"row_weights": rows})) == pytest.approx(float(joint(params, x, {})), rel=1e-6)
    grad_padded = jax.grad(joint)(params, padded, {"row_weights": rows})
    grad = jax.grad(joint)(params, x, {})
    for name in params:
        np.testing.assert_allclose(grad_padded[name], grad[name], rtol=1e-5, atol=1e-5)


def test_integer_row_weights_equal_repeated_rows_in_the_likelihood():
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(30, 2)), jnp.float32)
    counts = rng.integers(0, 4, 30)
    args = (jnp.array([0.5, 0.5]), jnp.array([[0.0, 0.0], [2.0, 0.0]]), jnp.array(1.1), jnp.array(0.4))
    weighted = jax.value_and_grad(lambda m: annealed_log_likelihood(x, args[0], m, *args[2:], row_weights=jnp.asarray(counts, jnp.float32)).sum())(args[1])
    repeated = jax.value_and_grad(lambda m: annealed_log_likelihood(jnp.repeat(x, counts, axis=0), args[0], m, *args[2:]).sum())(args[1])
    assert float(weighted[0]) == pytest.approx(float(repeated[0]), rel=1e-6)
    np.testing.assert_allclose(weighted[1], repeated[1], rtol=1e-5, atol=1e-5)


def test_kmeans_candidates_ignore_padding(blobs):
    x = jnp.asarray((blobs - blobs.mean(0)) / blobs.std(), jnp.float32)
    padded, rows = (jnp.asarray(a, jnp.float32) for a in pad_rows(np.asarray(x)))
    schedule = geometric_schedule(1.0, 1e-3, 20)
    exact = kmeans_candidates(jax.random.key(0), x, schedule, n_clusters=3, n_init=2)
    found = kmeans_candidates(jax.random.key(0), padded, schedule, n_clusters=3, n_init=2, row_weights=rows)
    assert float(jnp.min(found.inertia)) == pytest.approx(float(jnp.min(exact.inertia)), rel=1e-5)
    best = int(jnp.argmin(found.inertia))
    np.testing.assert_array_equal(np.asarray(found.labels[best])[: len(x)], np.asarray(exact.labels[int(jnp.argmin(exact.inertia))]))


def _centres(est):
    centres = est.means_ if hasattr(est, "means_") else est.cluster_centers_
    return centres[np.argsort(centres[:, 0] + 10 * centres[:, 1])]


@pytest.mark.parametrize("make", [lambda: probkm.SphericalGMM(3, random_state=0), lambda: probkm.AnnealedKMeans(3, random_state=0)], ids=["gmm", "kmeans"])
def test_sample_weight_semantics(blobs, make):
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 4, len(blobs))
    weighted = make().fit(blobs, sample_weight=counts)
    repeated = make().fit(np.repeat(blobs, counts, axis=0))
    np.testing.assert_allclose(_centres(weighted), _centres(repeated), atol=1e-3)
    assert weighted.sigma_ == pytest.approx(repeated.sigma_, rel=1e-4)
    np.testing.assert_allclose(np.sort(weighted.weights_), np.sort(repeated.weights_), atol=1e-4)
    # a weight of zero is the row dropped
    kept = counts > 0
    dropped = make().fit(blobs[kept])
    zero = make().fit(blobs, sample_weight=kept.astype(float))
    np.testing.assert_allclose(_centres(zero), _centres(dropped), atol=1e-3)
    assert zero.sigma_ == pytest.approx(dropped.sigma_, rel=1e-4)
    # all-ones weights are no weights
    ones = make().fit(blobs, sample_weight=np.ones(len(blobs)))
    np.testing.assert_allclose(_centres(ones), _centres(make().fit(blobs)), atol=1e-5)


def test_kmeans_inertia_and_labels_count_the_weights(blobs):
    counts = np.random.default_rng(4).integers(1, 3, len(blobs))
    km = probkm.AnnealedKMeans(3, random_state=0).fit(blobs, sample_weight=counts)
    d = ((blobs[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1)
    assert km.inertia_ == pytest.approx(float(np.sum(counts * d.min(1))), rel=1e-5)
    np.testing.assert_array_equal(km.labels_, d.argmin(1))
    assert km.sigma_ == pytest.approx(np.sqrt(km.inertia_ / (counts.sum() * 2)), rel=1e-6)


@pytest.mark.parametrize("weights, message", [
    (np.full(5, -1.0), "sample_weight must be finite and >= 0; got -1.0 at row 0."),
    (np.zeros(200), "sample_weight must have at least one positive weight"),
    (np.ones(3), "sample_weight must have shape (200,), one weight per row of X; got shape (3,)."),
])
def test_bad_sample_weight_is_named(blobs, weights, message):
    if weights.shape == (5,):
        weights = np.r_[weights, np.ones(195)]
    with pytest.raises(ValueError, match=re.escape(message)):
        probkm.AnnealedKMeans(3).fit(blobs, sample_weight=weights)


def test_a_new_size_in_a_compiled_bucket_compiles_nothing(blobs):
    compiled = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: compiled.append(event) if event.endswith("backend_compile_duration") else None
    )
    gmm, km = probkm.SphericalGMM(3, random_state=0), probkm.AnnealedKMeans(3, random_state=0)
    for est in (gmm, km):
        est.fit(blobs)
        est.predict(blobs)
    compiled.clear()
    for n in (199, 180, 161):  # all in the bucket of 200
        for est in (gmm, km):
            est.fit(blobs[:n])
            assert est.predict(blobs[:n]).shape == (n,)
    assert compiled == [], f"{len(compiled)} programs compiled for new sizes in a compiled bucket"


@pytest.mark.slow
def test_scikit_learn_sample_weight_equivalence_holds_to_float64_precision():
    """scikit-learn's check compares predictions at rtol 1e-7. In float32 the two MAP fits (weighted
    rows, repeated rows) agree to the optimiser's float32 tolerance (about 2e-4 relative on
    probabilities of 1e-7), which the check rejects; in float64 the same check passes."""
    import os
    import subprocess
    import sys

    script = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "import probkm\n"
        "from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data as check\n"
        "check('SphericalGMM', probkm.SphericalGMM(2, random_state=0, n_init=0, n_temperatures=8, num_prior_samples=10))\n"
        "check('AnnealedKMeans', probkm.AnnealedKMeans(2, random_state=0, n_init=1, n_temperatures=8))\n"
        "print('equivalent')\n"
    )
    env = {**os.environ, "JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0 and run.stdout.strip().endswith("equivalent"), run.stderr[-2000:]


# ---------------------------------------------------------------- components


def test_the_component_ladder_pads_small_fits_to_one_bucket():
    assert {bucket_components(k, 256) for k in range(1, 17)} == {MIN_COMPONENTS}
    for n_rows in (256, 10_240, 40_000):
        for k in range(1, 70):
            padded = bucket_components(k, n_rows)
            assert k <= padded < max(2 * k, MIN_COMPONENTS + 1 if n_rows <= 4096 else 2)
    assert bucket_components(5, MAX_PADDED_ROWS) == 5  # large fits keep their K, like their N


def test_masked_components_change_no_value_or_gradient():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(40, 3)), dtype=jnp.float32)
    exact = {"weights": jnp.array([0.2, 0.3, 0.5]), "means": jnp.asarray(rng.normal(size=(3, 3)), jnp.float32), "sigma": jnp.asarray(0.7)}
    # the padded point: any weight on the masked components, which the model renormalises away
    padded = {"weights": jnp.array([0.2, 0.3, 0.5, 0.4, 0.1]) / 1.5, "means": jnp.concatenate([exact["means"], jnp.ones((2, 3))]), "sigma": exact["sigma"]}
    mask = jnp.array([1.0, 1.0, 1.0, 0.0, 0.0])

    def log_joint(point, **kwargs):
        return log_density(probkm.spherical_gmm, (x,), kwargs, point)[0]

    want, want_grad = jax.value_and_grad(lambda p: log_joint(p, n_components=3))(exact)
    got, got_grad = jax.value_and_grad(lambda p: log_joint(p, n_components=5, component_mask=mask))(padded)
    assert float(got) == pytest.approx(float(want), rel=1e-6)
    np.testing.assert_allclose(got_grad["means"][:3], want_grad["means"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got_grad["means"][3:], 0.0)
    np.testing.assert_array_equal(got_grad["weights"][3:], 0.0)
    assert float(got_grad["sigma"]) == pytest.approx(float(want_grad["sigma"]), rel=1e-5)
    for fixed in ({"weights": "equal"}, {"weights": "equal", "sigma": 0.5}):
        point = {"means": exact["means"]} if "sigma" in fixed else {"means": exact["means"], "sigma": exact["sigma"]}
        padded_point = {**point, "means": padded["means"]}
        assert float(log_joint(padded_point, n_components=5, component_mask=mask, **fixed)) == pytest.approx(float(log_joint(point, n_components=3, **fixed)), rel=1e-6)


def test_kmeans_candidates_with_masked_components_are_the_unpadded_candidates(blobs):
    x = jnp.asarray(blobs, dtype=jnp.float32)
    schedule = geometric_schedule(1.0, 1e-3, 20)
    for k in (1, 2, 3, 5):
        exact = kmeans_candidates(jax.random.key(0), x, schedule, n_clusters=k, n_init=2)
        padded = kmeans_candidates(jax.random.key(0), x, schedule, n_clusters=8, n_init=2, component_mask=jnp.arange(8) < k)
        np.testing.assert_allclose(padded.centers[:, :k], exact.centers, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(padded.inertia, exact.inertia, rtol=1e-5)
        np.testing.assert_array_equal(padded.labels, exact.labels)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_a_fit_padded_to_a_component_bucket_equals_the_exact_fit(blobs, k, monkeypatch):
    import probkm.estimators.annealed_kmeans as annealed_module
    import probkm.estimators.spherical_gmm as gmm_module

    padded = probkm.SphericalGMM(k, random_state=0).fit(blobs), probkm.AnnealedKMeans(k, random_state=0).fit(blobs)
    for module in (gmm_module, annealed_module):
        monkeypatch.setattr(module, "bucket_components", lambda n_components, n_rows: n_components)
    exact = probkm.SphericalGMM(k, random_state=0).fit(blobs), probkm.AnnealedKMeans(k, random_state=0).fit(blobs)
    # the same optimum; BFGS takes other paths in the larger space, so equal to its tolerance
    assert padded[0].log_joint_ == pytest.approx(exact[0].log_joint_, abs=1e-3)
    order = [np.argsort(est.means_[:, 0]) for est in (padded[0], exact[0])]
    # each estimate to 5% of its posterior sd: at k = 5 on three blobs a component holds a
    # handful of points and the optimum is flat; BFGS stops once f has less than its float32
    # rounding (8 eps |f|, about 5e-4 nats here) left, which leaves that much
    n_obs, (n_k, sigma) = len(blobs), (exact[0].weights_[order[1]] * len(blobs), exact[0].sigma_)
    gap = np.abs(padded[0].means_[order[0]] - exact[0].means_[order[1]])
    np.testing.assert_array_less(gap, np.broadcast_to(0.05 * sigma / np.sqrt(n_k)[:, None], gap.shape))
    weights_sd = np.sqrt(exact[0].weights_ * (1 - exact[0].weights_) / n_obs)[order[1]]
    weights_gap = np.abs(padded[0].weights_[order[0]] - exact[0].weights_[order[1]])
    assert np.all(weights_gap <= 0.05 * weights_sd + 1e-6), (weights_gap, weights_sd)
    assert abs(padded[0].sigma_ - sigma) < 0.05 * sigma / np.sqrt(2 * n_obs * blobs.shape[1])
    # responsibilities move by r (1 - r) times the score change those estimates allow
    np.testing.assert_allclose(padded[0].predict_proba(blobs)[:, order[0]], exact[0].predict_proba(blobs)[:, order[1]], atol=1e-2)
    # k-means draws the same seeds and runs the same steps: equal to float rounding
    np.testing.assert_allclose(padded[1].cluster_centers_, exact[1].cluster_centers_, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(padded[1].labels_, exact[1].labels_)
    np.testing.assert_allclose(padded[1].critical_temperatures_, exact[1].critical_temperatures_, rtol=1e-4)
    assert padded[1].log_sigma_posterior_ == pytest.approx(exact[1].log_sigma_posterior_, rel=1e-5)


def test_a_new_k_in_a_compiled_bucket_compiles_nothing(blobs):
    compiled = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: compiled.append(event) if event.endswith("backend_compile_duration") else None
    )
    for make in (probkm.SphericalGMM, probkm.AnnealedKMeans):
        est = make(2, random_state=0).fit(blobs)
        est.predict(blobs), est.score(blobs)
    compiled.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 16 clusters of three blobs: some are tiny
        for k in (1, 4, 9, 16):  # all in the bucket of 16 components
            for make in (probkm.SphericalGMM, probkm.AnnealedKMeans):
                est = make(k, random_state=0).fit(blobs[:-k])
                assert est.predict(blobs).shape == (len(blobs),)
                est.score(blobs)
    assert compiled == [], f"{len(compiled)} programs compiled for new K in a compiled bucket"


def test_a_weighted_subsample_draws_rows_in_proportion_to_their_weight():
    from probkm.algorithms.kmeans import subsample_rows

    weights = jnp.zeros(1000).at[jnp.array([3, 500, 998])].set(jnp.array([1.0, 3.0, 6.0]))
    x = jnp.arange(1000.0)[:, None]
    rows, counted = subsample_rows(jax.random.key(0), x, 20_000 // 40, weights)
    drawn = np.bincount(np.asarray(rows[:, 0], int), minlength=1000)
    assert drawn.sum() == 500 and set(np.flatnonzero(drawn)) <= {3, 500, 998}  # never a row of weight 0
    np.testing.assert_allclose(drawn[[3, 500, 998]] / 500, [0.1, 0.3, 0.6], atol=0.07)
    np.testing.assert_array_equal(counted, 1.0)


def test_a_first_fit_compiles_its_own_programs_and_no_eager_steps(blobs):
    """A fit's steps outside its compiled program run on the host: in a process that has
    compiled nothing, a first fit compiles the fit program and the key's seeding, not the
    two dozen small programs eager JAX steps (a split, an index, a conversion) would cost."""
    from probkm.core.programs import trim_programs

    trim_programs(max_programs=0)
    jax.clear_caches()
    compiled = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: compiled.append(event) if event.endswith("backend_compile_duration") else None
    )
    probkm.SphericalGMM(3, n_temperatures=10, random_state=0).fit(blobs)
    assert 1 <= len(compiled) <= 4, f"{len(compiled)} programs compiled by one first fit"


def test_programs_for_small_arrays_compile_quickly_and_give_the_same_numbers(blobs, monkeypatch):
    import probkm.core.programs as programs
    from probkm.algorithms.annealing import lloyd

    x = jnp.asarray(blobs, jnp.float32)
    quick_before = lloyd.quick._cache_size()
    small = lloyd(x, x[:3])
    assert lloyd.quick._cache_size() == quick_before + (jax.default_backend() == "cpu")
    assert programs.compiler_options((np.ones((programs.QUICK_ELEMENTS + 1,)),), {}) is None  # large arrays: XLA's defaults
    monkeypatch.setattr(programs, "QUICK_ELEMENTS", 0)
    default = lloyd(x, x[:3])
    np.testing.assert_allclose(small.centers, default.centers, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(small.labels, default.labels)
