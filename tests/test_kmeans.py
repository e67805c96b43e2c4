import logging
import re

import jax
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, load_wine, make_blobs
from sklearn.preprocessing import StandardScaler

import probkm
from probkm.algorithms.annealing import anneal, geometric_schedule


@pytest.mark.parametrize(
    "name, data, k",
    [
        ("blobs", make_blobs(3000, n_features=4, centers=6, cluster_std=1.5, random_state=2)[0], 6),
        ("iris", StandardScaler().fit_transform(load_iris().data), 3),
        ("wine", StandardScaler().fit_transform(load_wine().data), 3),
    ],
)
def test_annealed_kmeans_reaches_sklearn_inertia(name, data, k):
    ours = probkm.AnnealedKMeans(k, random_state=0).fit(data)
    theirs = KMeans(k, n_init=10, random_state=0).fit(data)
    assert ours.inertia_ <= 1.001 * theirs.inertia_, (name, ours.inertia_, theirs.inertia_)
    # labels are nearest-centroid labels, and sigma_ is the plug-in
    d = ((data[:, None] - ours.cluster_centers_[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(ours.labels_, d.argmin(-1))
    n, dim = data.shape
    assert ours.sigma_**2 == pytest.approx(ours.inertia_ / (n * dim), rel=1e-6)
    np.testing.assert_allclose(ours.inertia_, d.min(-1).sum(), rtol=1e-5)


def test_annealing_alone_matches_sklearn_on_separated_blobs(mixture_data):
    X = mixture_data[0]
    ours = probkm.AnnealedKMeans(4, n_init=0, random_state=0).fit(X)
    assert ours.inertia_ <= 1.001 * KMeans(4, n_init=10, random_state=0).fit(X).inertia_


def test_annealing_path_and_critical_temperatures(kmeans_fit):
    km = kmeans_fit
    assert km.annealing_path_.shape == (km.n_temperatures, 4, 3)
    assert np.all(np.diff(km.temperatures_) < 0) and km.temperatures_[0] == pytest.approx(1.0)
    # above the first critical temperature (1/2) every centroid sits at the data mean
    spread_hot = np.ptp(km.annealing_path_[0], axis=0).max()
    spread_cold = np.ptp(km.annealing_path_[-1], axis=0).max()
    assert spread_hot < 1e-2 * spread_cold
    # every final cluster is below its own splitting temperature... and far below the first one
    assert km.first_critical_temperature_ == 0.5
    assert np.all(km.critical_temperatures_ < km.first_critical_temperature_)


def test_annealing_compiles_once_for_any_schedule_of_one_length(mixture_data, caplog):
    """Another schedule of the same length reuses the compiled program; another length traces anew."""
    x = jax.numpy.asarray(mixture_data[0], dtype=jax.numpy.float32)

    def traces_of_anneal(schedule, seed):
        caplog.clear()
        with caplog.at_level(logging.WARNING), jax.log_compiles():
            anneal(jax.random.key(seed), x, schedule, n_clusters=4)
        return sum(bool(re.search(r"\btracing anneal\b", r.getMessage())) for r in caplog.records)

    traces_of_anneal(geometric_schedule(1.0, 1e-2, 12), 0)
    assert traces_of_anneal(geometric_schedule(0.9, 1e-4, 12), 1) == 0
    assert traces_of_anneal(geometric_schedule(1.0, 1e-3, 12), 2) == 0
    assert traces_of_anneal(geometric_schedule(1.0, 1e-3, 13), 3) == 1  # the count sees a real retrace


def test_kmeans_sample_sigma_sources(kmeans_fit):
    km = kmeans_fit
    spreads = {}
    for source in ("plugin", "prior", "posterior", 0.25):
        X, y = km.sample(4000, sigma=source, random_state=1)
        assert X.shape == (4000, 3) and y.shape == (4000,) and set(np.unique(y)) <= set(range(4))
        spreads[source] = (X - km.cluster_centers_[y]).std()
    assert spreads["plugin"] == pytest.approx(km.sigma_, rel=0.03)
    assert spreads[0.25] == pytest.approx(0.25, rel=0.03)
    assert spreads["posterior"] == pytest.approx(np.exp(km.log_sigma_posterior_[0]), rel=0.03)
    assert spreads["prior"] > 2 * spreads["plugin"]  # the prior is broad: the data did not inform it


def test_kmeans_sample_from_a_fitted_gmm(kmeans_fit, map_fit, mixture_data):
    X, y = kmeans_fit.sample(3000, sigma=map_fit, random_state=0)
    assert (X - kmeans_fit.cluster_centers_[y]).std() == pytest.approx(map_fit.sigma_, rel=0.03)


def test_kmeans_sample_rejects_bad_sigma(kmeans_fit):
    with pytest.raises(ValueError, match="sigma must be one of 'plugin', 'prior', 'posterior'"):
        kmeans_fit.sample(3, sigma="data")
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        kmeans_fit.sample(3, sigma=-1.0)
    with pytest.raises(TypeError, match="sigma must be one of"):
        kmeans_fit.sample(3, sigma=[1.0])


def test_t_min_must_be_below_first_critical_temperature(mixture_data):
    with pytest.raises(ValueError, match=r"t_min must be a number in \(0, 0.5\) \(below the first critical temperature, or no cluster ever splits\); got"):
        probkm.AnnealedKMeans(4, t_min=0.6).fit(mixture_data[0])


def test_candidates_from_a_subsample_are_scored_and_polished_on_all_rows():
    """Above init_samples rows, every candidate is scored on all rows and the best one is a Lloyd fixed point of all rows."""
    import jax.numpy as jnp

    from probkm.algorithms.annealing import lloyd
    from probkm.algorithms.kmeans import kmeans_candidates
    from probkm.core.likelihood import kmeans_objective_pointwise, nearest_centroid

    x = jnp.asarray(make_blobs(3000, n_features=2, centers=5, cluster_std=1.0, random_state=4)[0], jnp.float32)
    found = kmeans_candidates(jax.random.key(0), x, geometric_schedule(1.0, 1e-3, 30), n_clusters=5, n_init=3, init_samples=500, anneal_samples=300)
    inertia = np.asarray([float(jnp.sum(kmeans_objective_pointwise(x, c))) for c in found.centers])
    np.testing.assert_allclose(np.asarray(found.inertia), inertia, rtol=1e-5)
    for c, labels in zip(found.centers, found.labels):
        np.testing.assert_array_equal(np.asarray(labels), np.asarray(nearest_centroid(x, c)))
    best = int(np.argmin(inertia))
    assert int(np.count_nonzero(np.asarray(found.n_iter))) <= 1  # only the best ran on all rows
    again = lloyd(x, found.centers[best])
    # a fixed point up to float32 rounding of the mean update (sums of 3,000 terms)
    assert int(again.n_iter) <= 1 and float(again.inertia) == pytest.approx(inertia[best], rel=1e-5)


def test_greedy_seeding_leaves_a_lower_objective_than_plain_kmeans_plusplus():
    import jax.numpy as jnp

    from probkm.algorithms.annealing import kmeans_plusplus
    from probkm.core.likelihood import kmeans_objective_pointwise

    x = jnp.asarray(make_blobs(2000, n_features=2, centers=8, cluster_std=0.7, random_state=1)[0], jnp.float32)
    keys = jax.random.split(jax.random.key(0), 30)

    def mean_objective(trials):
        seeds = jax.vmap(lambda key: kmeans_plusplus(key, x, n_clusters=8, n_local_trials=trials))(keys)
        return float(np.mean([float(jnp.sum(kmeans_objective_pointwise(x, c))) for c in seeds]))

    assert mean_objective(None) < 0.9 * mean_objective(1)


def test_rows_are_drawn_in_proportion_to_their_mass_and_never_at_mass_zero():
    import jax.numpy as jnp
    from scipy import stats

    from probkm.algorithms.draws import weighted_rows

    mass = jnp.asarray([0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 0.0], jnp.float32)  # zeros inside and at the end, like padding
    rows = np.asarray(weighted_rows(jax.random.key(3), mass, 20_000))
    counts = np.bincount(rows, minlength=7)
    assert counts[[0, 3, 6]].sum() == 0
    expected = 20_000 * np.asarray(mass) / float(np.sum(mass))
    assert stats.chisquare(counts[[1, 2, 4, 5]], expected[[1, 2, 4, 5]]).pvalue > 1e-3
    # reproducible, and the draws of one key do not depend on the rows' order of magnitude
    np.testing.assert_array_equal(rows, np.asarray(weighted_rows(jax.random.key(3), 1e6 * mass, 20_000)))


def test_kmeans_plusplus_draws_its_second_centre_in_proportion_to_squared_distance():
    """Plain k-means++ (one trial): after a first centre at row 0, row i is next with probability
    w_i d_i^2 / sum_j w_j d_j^2; rows of weight 0 never are."""
    import jax.numpy as jnp
    from scipy import stats

    from probkm.algorithms.annealing import kmeans_plusplus

    x = jnp.asarray([[0.0], [1.0], [2.0], [3.0], [9.0]], jnp.float32)
    weights = jnp.asarray([1.0, 1.0, 2.0, 1.0, 0.0], jnp.float32)
    keys = jax.random.split(jax.random.key(0), 4000)
    centres = jax.vmap(lambda k: kmeans_plusplus(k, x, n_clusters=2, n_local_trials=1, row_weights=weights))(keys)
    first, second = np.asarray(centres[:, 0, 0]), np.asarray(centres[:, 1, 0])
    assert not np.any(second == 9.0) and not np.any(first == 9.0)
    picked = second[first == 0.0]  # the draws whose first centre is row 0
    counts = np.asarray([np.sum(picked == v) for v in (1.0, 2.0, 3.0)])
    law = np.asarray([1.0 * 1, 2.0 * 4, 1.0 * 9])
    assert stats.chisquare(counts, counts.sum() * law / law.sum()).pvalue > 1e-3


def test_counter_draws_are_uniform_normal_and_independent_of_their_neighbours():
    import jax.numpy as jnp
    from scipy import stats

    from probkm.algorithms.draws import counter_normals, counter_uniforms

    key = jax.random.key(5)
    first, second = jnp.arange(200)[:, None], jnp.arange(100)[None, :]
    u = np.asarray(counter_uniforms(key, first, second), float)
    assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-3
    z = np.asarray(counter_normals(key, first, second), float)
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    # neighbouring counters, in either place, and another key give unrelated numbers
    assert abs(np.corrcoef(u[:, :-1].ravel(), u[:, 1:].ravel())[0, 1]) < 0.02
    assert abs(np.corrcoef(u[:-1].ravel(), u[1:].ravel())[0, 1]) < 0.02
    other = np.asarray(counter_uniforms(jax.random.key(6), first, second), float)
    assert abs(np.corrcoef(u.ravel(), other.ravel())[0, 1]) < 0.02
    # the same counters under the same key: the same numbers, whatever table holds them
    np.testing.assert_array_equal(u[3:5, 7], np.asarray(counter_uniforms(key, jnp.arange(3, 5), 7)))
