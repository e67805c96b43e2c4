"""How many clusters: the criteria against an independent NumPy/SciPy computation, the staircase
against the analytic critical temperatures, PSIS-LOO stacking, and recovery of K.

One module-scoped scan (K = 1, 2, 3 on two well-separated clusters) serves most tests, so each
compiled program serves many assertions.
"""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import probkm
from probkm._checks import InvalidType, InvalidValue
from probkm.datasets import synthetic_mixture
from probkm.selection.criteria import classification_entropy, icl, n_free_parameters
from probkm.selection.stacking import choose_by_loo
from probkm.selection.staircase import annealing_staircase, distinct_groups

CANDIDATES = (1, 2, 3)


@pytest.fixture(scope="module")
def blobs():
    return synthetic_mixture(120, n_components=2, n_features=2, sigma=1.0, separation=8.0, seed=3).X


@pytest.fixture(scope="module")
def bic_scan(blobs):
    return probkm.select_n_components(blobs, CANDIDATES, "bic", random_state=0)


def _independent(est, X):
    """log L, responsibilities by SciPy from the fitted weights, means and sigma."""
    logp = np.column_stack([
        np.log(w) + multivariate_normal(mean=m, cov=est.sigma_**2 * np.eye(X.shape[1])).logpdf(X) for w, m in zip(est.weights_, est.means_)
    ])
    total = logsumexp(logp, axis=1)
    return float(total.sum()), np.exp(logp - total[:, None])


def test_bic_aic_icl_match_an_independent_computation(bic_scan, blobs):
    n, d = blobs.shape
    for row in bic_scan.to_records():
        k = row["n_components"]
        est = bic_scan.estimators_[k]
        log_lik, resp = _independent(est, blobs)
        p = (k - 1) + k * d + 1
        bic = -2 * log_lik + p * np.log(n)
        entropy = float(-np.sum(resp * np.log(np.clip(resp, 1e-300, None))))
        assert row["n_parameters"] == p
        assert row["log_likelihood"] == pytest.approx(log_lik, rel=1e-5)
        assert row["bic"] == pytest.approx(bic, rel=1e-5)
        assert row["aic"] == pytest.approx(-2 * log_lik + 2 * p, rel=1e-5)
        assert row["icl"] == pytest.approx(bic + 2 * entropy, rel=1e-5, abs=1e-3)
        assert row["bic"] == pytest.approx(est.bic(blobs), rel=1e-9)
        assert row["aic"] == pytest.approx(est.aic(blobs), rel=1e-9)
    assert bic_scan.log_likelihood_ == pytest.approx([r["log_likelihood"] for r in bic_scan.to_records()])


def test_bic_counts_only_free_parameters_when_sigma_and_weights_are_known(blobs):
    n = blobs.shape[0]
    for known, p in (({"sigma": 1.0, "weights": "equal"}, 4), ({"sigma": 1.0}, 5)):
        est = probkm.SphericalGMM(2, random_state=0, **known).fit(blobs)
        log_lik = n * est.score(blobs)
        assert (est.bic(blobs) + 2 * log_lik) / np.log(n) == pytest.approx(p)
        assert n_free_parameters(2, 2, sigma_known=True, weights_known="weights" in known) == p


def test_icl_entropy_forms():
    resp = np.array([[0.9, 0.1], [0.5, 0.5], [1.0, 0.0]])
    soft = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1)) + np.log(2)
    hard = -np.log(0.9) + np.log(2)  # mclust's icl(): -log of the largest responsibility
    assert classification_entropy(resp) == pytest.approx(soft)
    assert classification_entropy(resp, hard=True) == pytest.approx(hard)
    assert icl(10.0, resp) == pytest.approx(10.0 + 2 * soft)
    assert classification_entropy(resp, hard=True) <= classification_entropy(resp)


@pytest.mark.parametrize("k, d", [(15, 2), (40, 2), (6, 1)])
def test_random_means_are_always_as_far_apart_as_promised(k, d):
    # Many means in few features seldom fall apart in one joint draw; they must still be apart.
    for seed in range(5):
        means = synthetic_mixture(10, n_components=k, n_features=d, separation=12.0, seed=seed).means
        gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)[np.triu_indices(k, 1)]
        assert means.shape == (k, d) and gaps.min() >= 6.0


def test_scan_recovers_k_on_well_separated_data(bic_scan):
    frame = bic_scan.to_frame()
    assert bic_scan.n_components_ == 2 and bic_scan.best_estimator_ is bic_scan.estimators_[2]
    assert int(frame["aic"].idxmin()) == 2 and int(frame["icl"].idxmin()) == 2
    assert bic_scan.scores_ == pytest.approx(frame["bic"].to_numpy())
    assert list(frame.index) == list(CANDIDATES) and frame["chosen"].sum() == 1


def test_table_csv_json_and_figure(bic_scan, tmp_path):
    path = bic_scan.to_csv(tmp_path / "t.csv")
    header = path.read_text().splitlines()[0].split(",")
    assert header[:4] == ["n_components", "n_parameters", "log_likelihood", "bic"]
    parsed = json.loads(bic_scan.to_json())
    assert parsed["n_components"] == 2 and [r["n_components"] for r in parsed["table"]] == list(CANDIDATES)
    fig = bic_scan.plot()
    assert [line.get_label() for line in fig.axes[0].get_lines()][:3] == ["BIC", "AIC", "ICL"]
    X_new, k = bic_scan.sample(30, random_state=0)
    assert X_new.shape == (30, 2) and set(k.tolist()) == {2}


def test_staircase_matches_critical_temperatures_of_two_1d_clusters():
    rng = np.random.default_rng(0)
    left, right = rng.normal(-5.0, 1.0, (40, 1)), rng.normal(5.0, 1.0, (40, 1))
    X = np.r_[left, right]
    sigma_ref_sq = 2 * X.var()  # 2 lambda_max of the whole data
    stairs = annealing_staircase(X, 4, n_temperatures=60, n_bootstrap=4, random_state=0)
    first, *later = stairs.splits
    assert (first.n_before, first.n_after) == (1, 2)
    assert first.t_critical == pytest.approx(0.5) and first.agrees  # lambda_max / sigma_ref^2 = 1/2
    # each cluster splits where T falls below its own variance / sigma_ref^2 (the spare
    # centroids then split the halves further, each at its own critical temperature)
    expected = sorted([left.var() / sigma_ref_sq, right.var() / sigma_ref_sq], reverse=True)
    assert later[0].t_critical == pytest.approx(expected[0], rel=0.02) and (later[0].n_before, later[0].n_after) == (2, 3)
    assert any(s.t_critical == pytest.approx(expected[1], rel=0.02) for s in later[1:])
    assert all(s.agrees for s in stairs.splits)
    assert stairs.n_components == 2 and stairs.eligible == (2, 3, 4) and stairs.counts.max() == 5  # counted up to K_max + 1
    assert stairs.widths[2] == pytest.approx(np.log(0.5 / expected[0]), abs=0.2)
    assert stairs.bootstrap_counts.shape == (4, 60) and set(stairs.bootstrap_choices.tolist()) == {2}
    low, high = stairs.band()
    assert np.all(low <= high) and np.all(np.diff(stairs.counts) >= 0)


def test_distinct_groups_chain_together():
    assert distinct_groups(np.array([[0.0], [0.5], [1.0], [5.0]]), 0.6).tolist() == [0, 0, 0, 1]


def test_annealing_criterion(blobs):
    result = probkm.select_n_components(blobs, range(1, 6), "annealing", random_state=0, n_bootstrap=3)
    assert result.n_components_ == 2 and list(result.estimators_) == [2]
    assert np.isnan(result.scores_[0]) and np.isfinite(result.scores_[1:]).all()  # K = 1 only is not eligible
    frame = result.to_frame()
    assert frame.loc[2, "bootstrap_frequency"] == 1.0 and frame["eligible"].tolist() == [False, True, True, True, True]
    assert result.plot_staircase().axes[0].get_xscale() == "log"
    assert np.isnan(result.log_likelihood_[0]) and np.isfinite(result.log_likelihood_[1])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_loo_stacking_weights_and_stacked_samples(blobs):
    result = probkm.select_n_components(blobs, CANDIDATES, "loo", random_state=0, num_warmup=150, num_samples=150, num_chains=2)
    weights = result.stacking_weights_
    assert sum(weights.values()) == pytest.approx(1.0) and min(weights.values()) >= 0
    assert result.n_components_ == 2 and max(weights, key=weights.get) == 2
    frame = result.to_frame()
    assert frame.loc[2, "elpd_loo"] > frame.loc[1, "elpd_loo"]
    assert result.scores_ == pytest.approx(-2 * frame["elpd_loo"].to_numpy())
    X_new, k = result.sample(400, random_state=0)
    assert X_new.shape == (400, 2) and set(k.tolist()) <= set(CANDIDATES)
    assert np.mean(k == 2) == pytest.approx(weights[2], abs=0.1)
    assert result.plot().axes[0].get_xlabel() == "number of components K"


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"criterion": "bayes"}, InvalidValue, "criterion must be one of 'bic', 'aic', 'icl', 'loo', 'annealing'; got 'bayes'."),
        ({"n_components": [0, 2]}, InvalidValue, "n_components must be a non-empty set of ints from 1 to n_samples"),
        ({"n_components": [1, 500]}, InvalidValue, "from 1 to n_samples \\(120\\)"),
        ({"n_components": ["a"]}, InvalidValue, "n_components must be a non-empty set of ints"),
        ({"n_components": 2.5}, InvalidType, "n_components must be an int or an iterable of ints"),
        ({"inference": "mcmc"}, InvalidValue, "inference is set by select_n_components"),
        ({"criterion": "loo", "loo_rule": "widest"}, InvalidValue, "loo_rule must be one of 'one_se', 'best'; got 'widest'."),
    ],
)
def test_bad_arguments_say_what_was_wrong(blobs, kwargs, error, message):
    with pytest.raises(error, match=message):
        probkm.select_n_components(blobs, **kwargs)


def test_loo_rule_takes_the_smallest_k_within_one_standard_error_of_the_best():
    # az.compare's columns: elpd_diff and dse against the best K (3 here)
    table = pd.DataFrame(
        {"elpd_loo": [-150.0, -104.0, -100.0, -100.3, -100.9], "elpd_diff": [50.0, 4.0, 0.0, 0.3, 0.9], "dse": [9.0, 3.0, 0.0, 0.5, 0.6]},
        index=[1, 2, 3, 4, 5],
    )
    assert choose_by_loo(table, "best") == 3
    assert choose_by_loo(table, "one_se") == 3  # K = 2 is 4 nats worse, more than its dse of 3
    table.loc[2, "dse"] = 4.5  # now within one standard error: the simpler K wins
    assert choose_by_loo(table, "one_se") == 2
    # the best K itself has dse 0 and is always eligible, however large the others' dse
    table["dse"] = [0.0, 0.0, 0.0, 0.0, 0.0]
    assert choose_by_loo(table, "one_se") == 3


def test_plot_staircase_needs_the_annealing_criterion(bic_scan):
    with pytest.raises(InvalidValue, match="plot_staircase needs criterion='annealing'; got criterion='bic'."):
        bic_scan.plot_staircase()


def test_a_scan_past_small_data_compiles_one_fit_program_for_every_k():
    """Past SMALL_ROWS rows a fit's component bucket is the next power of two, so a scan of
    K = 1..4 would compile three fit programs (1, 2, 4); the scan pads every K to its largest
    K's bucket and compiles one, with the numbers of a fit on its own."""
    import jax

    from probkm.core.shapes import SMALL_ROWS

    X = synthetic_mixture(SMALL_ROWS + 200, n_components=3, n_features=2, separation=8.0, seed=3).X
    settings = {"n_temperatures": 10, "random_state": 0}
    probkm.select_n_components(X, [4], **settings)  # compiles the bucket of 4 components
    compiled = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: compiled.append(event) if event.endswith("backend_compile_duration") else None
    )
    result = probkm.select_n_components(X, range(1, 4), **settings)
    assert compiled == [], f"{len(compiled)} programs compiled by a scan whose bucket was compiled"
    alone = probkm.SphericalGMM(2, **settings).fit(X)  # bucket of 2: a program of its own
    assert result.log_likelihood_[1] == pytest.approx(float(np.sum(alone.score_samples(X))), rel=1e-6)
    np.testing.assert_allclose(np.sort(result.estimators_[2].means_[:, 0]), np.sort(alone.means_[:, 0]), rtol=1e-4, atol=1e-4)


def test_fits_side_by_side_give_the_numbers_and_the_warnings_of_fits_one_at_a_time():
    """n_jobs only changes how many fits run at once: every K has its own seed, and each K's
    warnings stay with that K although threads share one warnings module."""
    # eight distinct points, four times each: from K = 8 on, sigma collapses or a component is empty, which warns
    X = np.repeat(np.random.default_rng(0).normal(size=(8, 2)) * 5, 4, axis=0)
    scans = {n: probkm.select_n_components(X, range(1, 11), n_temperatures=10, random_state=0, n_jobs=n) for n in (1, 3)}
    one, three = scans[1], scans[3]
    np.testing.assert_array_equal(one.scores_, three.scores_)
    for k in one.candidates_:
        np.testing.assert_array_equal(one.estimators_[k].means_, three.estimators_[k].means_)
    assert one.notes_ == three.notes_ and set(one.notes_) == {8, 9, 10}


def test_spare_centroids_let_the_staircase_resolve_every_cluster_and_choose_k_max():
    """With only K_max centroids a group can split into a half with fewer centroids than
    clusters, which never separates them: on this data (15 clusters) the staircase showed a
    wide step at 14 and then a spare centroid splitting a cluster. Twice as many centroids
    resolve all 15, and end the K_max step at a split, so K_max itself can be chosen."""
    X = synthetic_mixture(1000, n_components=15, n_features=2, sigma=1.0, separation=12.0, seed=3).X
    assert annealing_staircase(X, 16, random_state=3).n_components == 15
    X = synthetic_mixture(200, n_components=4, n_features=2, sigma=1.0, separation=12.0, seed=0).X
    stairs = annealing_staircase(X, 4, random_state=0)
    assert stairs.n_components == 4 and stairs.estimator.n_clusters == 8
