"""Simulation-based calibration (Talts et al. 2018) of the spherical mixture's NUTS posterior.

The NUTS run is small (40 simulations, N=40, K=2, D=2, 300 + 300 iterations thinned to 100
draws) and seeded, so the outcome is deterministic. Two kinds of control keep the check
honest: the rank test itself is checked against exact posteriors of a conjugate normal
model (uniform ranks must pass; the three ways a posterior can be wrong must fail), and the
NUTS ranks must fail once the sigma draws are scaled by 1.5.
"""

import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from probkm.studies.calibration import simulation_based_calibration
from probkm.studies.sbc_ranks import (
    SBCResult,
    _uniform_bin_probabilities,
    default_n_bins,
    plot_sbc_ranks,
    rank_uniformity_test,
    sbc_ranks,
)

SMALL = dict(n_obs=40, n_components=2, n_dim=2, num_warmup=300, num_samples=300, thin=3)
# 80 simulations: at 40 a correct sampler failed the family-wise 1% test on one scalar
# (p = 0.0006 for means[1,0]) for this seed; at 80 it passed for this seed and another
N_SIMULATIONS = 80
SEED = 20240607


@pytest.fixture(scope="module")
def sbc_result() -> SBCResult:
    return simulation_based_calibration(N_SIMULATIONS, random_state=SEED, **SMALL)


# --- the rank test on exact posteriors (no sampler involved) ---------------------------


def _conjugate_normal_ranks(rng, n_sim, n_draws, *, scale=1.0, shift=0.0):
    """Ranks of theta* ~ N(0, 1) among draws from the exact posterior given 5 points
    x_i ~ N(theta*, 1) (posterior N(sum x / 6, 1 / 6)), optionally widened by ``scale`` or
    moved by ``shift`` posterior sds."""
    theta = rng.normal(size=n_sim)
    x = theta[:, None] + rng.normal(size=(n_sim, 5))
    mean, sd = x.sum(axis=1) / 6.0, np.sqrt(1.0 / 6.0)
    draws = mean[:, None] + sd * (shift + scale * rng.normal(size=(n_sim, n_draws)))
    return sbc_ranks(theta[:, None], draws[:, :, None])


def test_exact_posterior_ranks_pass():
    ranks = _conjugate_normal_ranks(np.random.default_rng(0), 500, 99)
    p_values, passed, threshold, n_bins = rank_uniformity_test(ranks, 99, alpha=0.01)
    assert n_bins == 10 and threshold == pytest.approx(0.01)
    assert passed.all(), p_values


@pytest.mark.parametrize(
    "wrong, shape",
    [(dict(scale=1.5), "hump: posterior too wide"), (dict(scale=1 / 1.5), "U: posterior too narrow"), (dict(shift=0.5), "slope: posterior biased")],
)
def test_wrong_posteriors_fail(wrong, shape):
    ranks = _conjugate_normal_ranks(np.random.default_rng(1), 500, 99, **wrong)
    p_values, passed, threshold, _ = rank_uniformity_test(ranks, 99, alpha=0.01)
    assert not passed.any(), (shape, p_values, threshold)


def test_ranks_and_bins_are_exact():
    truth = np.array([[0.5, 10.0]])
    draws = np.array([[[0.0, 0.0], [1.0, 0.0], [0.2, 0.0]]])
    np.testing.assert_array_equal(sbc_ranks(truth, draws), [[2, 3]])
    # 101 possible ranks in 10 bins cannot be split evenly: the test uses exact bin probabilities
    _, probabilities = _uniform_bin_probabilities(100, 10)
    assert probabilities.sum() == pytest.approx(1.0)
    assert probabilities.max() - probabilities.min() == pytest.approx(1 / 101)
    assert default_n_bins(40, 100) == 8 and default_n_bins(200, 100) == 10 and default_n_bins(200, 3) == 4


def test_rank_test_rejects_impossible_ranks():
    with pytest.raises(ValueError, match="ranks must lie in 0..10"):
        rank_uniformity_test(np.array([[11], [0]]), 10)


# --- NUTS on the spherical mixture ---------------------------------------------------------


@pytest.mark.slow
def test_nuts_posterior_passes_sbc(sbc_result):
    r = sbc_result
    n_params = 1 + 2 + 2 * 2
    assert r.ranks.shape == (N_SIMULATIONS, n_params) and r.n_draws == 100
    assert r.ranks.min() >= 0 and r.ranks.max() <= r.n_draws
    assert r.names[0] == "sigma" and r.groups.count("means") == 4
    assert r.threshold == pytest.approx(r.alpha / n_params)
    assert np.isfinite(r.draws).all() and (r.draws[:, :, 0] > 0).all()
    # the truth is one of many: it is not always above or below the draws
    assert 0.2 < np.mean(r.ranks[:, 0] > r.n_draws / 2) < 0.8
    failing = {n: round(float(p), 5) for n, p, ok in zip(r.names, r.p_values, r.passed) if not ok}
    assert r.all_passed, f"SBC rejects uniformity (threshold {r.threshold:.4g}): {failing}"
    assert r.group_passed() == {"sigma": True, "weights": True, "means": True}
    # well-separated clusters: NUTS should not diverge
    assert r.divergences.sum() <= 2, r.divergences


@pytest.mark.slow
def test_negative_control_scaled_sigma_fails(sbc_result):
    """Ranks against a mis-specified posterior (sigma draws x 1.5) must be rejected."""
    r = sbc_result
    wrong = r.draws.copy()
    wrong[:, :, 0] *= 1.5
    p_values, passed, threshold, _ = rank_uniformity_test(sbc_ranks(r.truth, wrong), r.n_draws, n_bins=r.n_bins, alpha=r.alpha)
    assert not passed[0], p_values[0]
    assert p_values[0] < threshold / 1000
    np.testing.assert_array_equal(passed[1:], r.passed[1:])  # the other scalars are untouched
    # the check has power beyond gross errors: sigma 10% too large is caught too
    wrong[:, :, 0] = r.draws[:, :, 0] * 1.1
    p_small, passed_small, _, _ = rank_uniformity_test(sbc_ranks(r.truth, wrong), r.n_draws, n_bins=r.n_bins, alpha=r.alpha)
    assert not passed_small[0], p_small[0]


@pytest.mark.slow
def test_sorted_labeling_also_passes_and_runs_are_reproducible(sbc_result):
    # same shapes and sampler settings: the compiled chain is reused, so this is cheap
    sorted_run = simulation_based_calibration(N_SIMULATIONS, random_state=SEED, labeling="sorted", **SMALL)
    assert sorted_run.all_passed, dict(zip(sorted_run.names, sorted_run.p_values))
    # sigma does not depend on labels: identical ranks under both labelings
    np.testing.assert_array_equal(sorted_run.ranks[:, 0], sbc_result.ranks[:, 0])
    again = simulation_based_calibration(5, random_state=SEED, **SMALL)
    np.testing.assert_array_equal(again.ranks, sbc_result.ranks[:5])


@pytest.mark.slow
def test_plot_has_one_panel_per_group_with_band_and_legend(sbc_result):
    fig = plot_sbc_ranks(sbc_result)
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["sigma", "weights", "means"]
    assert "SBC rank histograms" in fig._suptitle.get_text()
    for ax in axes:
        assert ax.get_xlabel().startswith("rank of the true value") and ax.get_ylabel()
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any("band" in t for t in labels) and any("expected" in t for t in labels)
    assert sum("means[" in t.get_text() for t in axes[2].get_legend().get_texts()) == 4


@pytest.mark.slow
def test_benchmark_script_writes_json_and_png(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "sbc.py"
    spec = importlib.util.spec_from_file_location("sbc_script", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "sbc"
    args = ["--simulations", "6", "--obs", "40", "--components", "2", "--dim", "2", "--warmup", "300",
            "--samples", "300", "--thin", "3", "--out", str(out)]
    status = script.main(args)
    summary = json.loads((out / "sbc.json").read_text())
    assert status in (0, 1) and status == (0 if summary["all_passed"] else 1)
    assert summary["n_simulations"] == 6 and len(summary["ranks"]["sigma"]) == 6
    assert set(summary["parameters"]) >= {"sigma", "weights[0]", "means[1,1]"}
    assert (out / "sbc_ranks.png").stat().st_size > 10_000


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="num_samples >= thin; got n_obs=10, n_components=2, num_samples=5, thin=10"):
        simulation_based_calibration(2, n_obs=10, n_components=2, n_dim=1, num_warmup=10, num_samples=5, thin=10, random_state=0)
    with pytest.raises(ValueError, match="labeling must be one of 'truth', 'sorted'; got 'hungarian'"):
        simulation_based_calibration(2, n_obs=10, n_components=2, n_dim=1, num_warmup=10, num_samples=10, thin=1, random_state=0, labeling="hungarian")
    with pytest.raises(ValueError, match="prior accepts only"):
        simulation_based_calibration(2, n_obs=10, n_components=2, n_dim=1, num_warmup=10, num_samples=10, thin=1, random_state=0, prior={"sigma": 1})
