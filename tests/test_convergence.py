import re

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import probkm
from probkm.inference.convergence import check_degenerate, check_losses, check_nuts


def test_short_nuts_run_warns_about_effective_sample_size(separated_blobs):
    X = separated_blobs[0]
    with pytest.warns(ConvergenceWarning) as record:
        est = probkm.SphericalGMM(3, inference="mcmc", num_warmup=30, num_samples=15, num_chains=2, random_state=0).fit(X)
    messages = [str(w.message) for w in record]
    assert any(re.search(r"smallest effective sample size is \d+ \(< 100 per chain\); raise num_samples", m) for m in messages), messages
    assert est.convergence_["ess_bulk"] < 200


def test_healthy_nuts_run_is_silent(nuts_fit):
    assert nuts_fit.convergence_["divergences"] == 0
    assert nuts_fit.convergence_["r_hat"] < 1.01 and nuts_fit.convergence_["ess_bulk"] > 200


def test_divergences_and_disagreeing_chains_are_named():
    rng = np.random.default_rng(0)
    posterior = {"sigma": np.stack([rng.normal(1, 0.1, 200), rng.normal(3, 0.1, 200)]), "means": rng.normal(size=(2, 200, 2, 2))}
    diverging = np.zeros((2, 200), bool)
    diverging[0, :7] = True
    with pytest.warns(ConvergenceWarning) as record:
        worst = check_nuts(posterior, diverging)
    messages = [str(w.message) for w in record]
    assert any("7 of 400 post-warmup draws diverged; raise target_accept_prob" in m for m in messages)
    assert any("split R-hat reaches" in m and "the chains disagree" in m for m in messages)
    assert worst["divergences"] == 7 and worst["r_hat"] > 1.5


def test_unsettled_adam_loss_warns_once():
    falling = np.linspace(100.0, 50.0, 200)
    with pytest.warns(ConvergenceWarning, match="the SVI loss was still falling .* raise num_steps or use optimizer='bfgs'"):
        check_losses(falling)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_losses(np.r_[np.linspace(100.0, 50.0, 100), np.full(100, 50.0)])  # settled: silent


def test_too_few_steps_of_adam_warn(mixture_data):
    with pytest.warns(ConvergenceWarning, match="still falling"):
        probkm.SphericalGMM(4, optimizer="adam", num_steps=40, learning_rate=0.05, random_state=0).fit(mixture_data[0])


def test_degenerate_fits_warn():
    with pytest.warns(ConvergenceWarning, match=r"component\(s\) \[2\] hold less than half a data point"):
        check_degenerate(np.array([0.5, 0.5, 0.0]), 1.0, n_obs=100, data_scale=1.0)
    with pytest.warns(ConvergenceWarning, match="sigma collapsed"):
        check_degenerate(np.array([0.5, 0.5]), 1e-9, n_obs=100, data_scale=1.0)


def test_identical_points_give_a_warning_not_a_crash():
    X = np.ones((10, 2))
    with pytest.warns(ConvergenceWarning):
        km = probkm.AnnealedKMeans(2, random_state=0).fit(X)
    assert km.inertia_ == 0.0 and np.all(np.isfinite(km.cluster_centers_))
