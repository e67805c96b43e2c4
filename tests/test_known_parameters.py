"""Known parameters: a sigma given by the user, or equal weights, are fixed rather than fitted,
through the MAP, NUTS, ``idata_`` (as constants, not as a posterior), the BIC's parameter count
and the command line."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

import probkm
from probkm.cli import main


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return np.r_[rng.normal(0, 1, (150, 2)), rng.normal(5, 1, (50, 2))] * 3.0 + 1000.0  # sigma 3, weights 3:1


def _log_likelihood(X, weights, means, sigma):
    d = ((X[:, None, :] - means[None]) ** 2).sum(-1)
    return float(np.sum(logsumexp(np.log(weights) - d / (2 * sigma**2), axis=1) - X.shape[1] / 2 * np.log(2 * np.pi * sigma**2)))


def test_a_known_sigma_is_fixed_and_kept_out_of_the_posterior(data):
    free = probkm.SphericalGMM(2, random_state=0).fit(data)
    known = probkm.SphericalGMM(2, sigma=4.5, random_state=0).fit(data)
    assert known.sigma_ == 4.5 and np.all(known.draws_.sigma == 4.5)
    assert free.sigma_ == pytest.approx(3.0, rel=0.1)
    # the means barely depend on sigma here; the weights still fit (3:1)
    order = np.argsort(known.means_[:, 0])
    np.testing.assert_allclose(known.means_[order], free.means_[np.argsort(free.means_[:, 0])], atol=0.3)
    assert np.sort(known.weights_) == pytest.approx([0.25, 0.75], abs=0.03)
    idata = known.idata_
    assert "sigma" not in idata.posterior and "sigma" not in idata.prior
    assert float(idata.constant_data["sigma"]) == 4.5
    # the prior predictive simulates with the known sigma: its spread around the draws' means is at least 4.5
    assert float(np.std(idata.prior_predictive["x"].values - idata.prior["means"].values.mean(axis=2)[:, :, None, :])) > 4.0


def test_equal_weights_are_fixed_at_one_over_k(data):
    gmm = probkm.SphericalGMM(2, weights="equal", random_state=0).fit(data)
    np.testing.assert_array_equal(gmm.weights_, [0.5, 0.5])
    assert "weights" not in gmm.idata_.posterior
    np.testing.assert_array_equal(gmm.idata_.constant_data["weights"].values, [0.5, 0.5])


@pytest.mark.parametrize("known, n_free", [({}, 1 + 2 * 2 + 1), ({"sigma": 3.0}, 1 + 2 * 2), ({"weights": "equal"}, 2 * 2 + 1), ({"sigma": 3.0, "weights": "equal"}, 2 * 2)])
def test_bic_and_aic_count_only_the_free_parameters(data, known, n_free):
    gmm = probkm.SphericalGMM(2, random_state=0, **known).fit(data)
    log_lik = _log_likelihood(data, gmm.weights_, gmm.means_, gmm.sigma_)
    assert gmm.bic(data) == pytest.approx(-2 * log_lik + n_free * np.log(len(data)), abs=0.05)
    assert gmm.aic(data) == pytest.approx(-2 * log_lik + 2 * n_free, abs=0.05)


def test_nuts_samples_only_what_is_unknown(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = probkm.SphericalGMM(2, inference="mcmc", sigma=3.0, weights="equal", num_warmup=100, num_samples=100, num_chains=1, random_state=0).fit(data)
    assert sorted(gmm.idata_.posterior.data_vars) == ["means"]
    assert gmm.draws_.sigma.shape == (100,) and np.all(gmm.draws_.sigma == 3.0)
    assert np.all(gmm.draws_.weights == 0.5)
    X_new, labels = gmm.sample(2000, random_state=1)
    assert np.bincount(labels).tolist() == pytest.approx([1000, 1000], abs=100)  # equal weights generate equal clusters


def test_known_parameters_are_checked(data):
    with pytest.raises(ValueError, match="sigma must be None or a finite number > 0; got -1.0"):
        probkm.SphericalGMM(2, sigma=-1.0).fit(data)
    with pytest.raises(ValueError, match="weights must be None or one of 'equal'; got 'uniform'"):
        probkm.SphericalGMM(2, weights="uniform").fit(data)


def test_the_command_line_fixes_them_too(tmp_path, data):
    path = tmp_path / "data.csv"
    np.savetxt(path, data, delimiter=",")
    out = tmp_path / "out"
    assert main(["fit", str(path), "-k", "2", "--known-sigma", "2.5", "--equal-weights", "--out", str(out), "--quiet"]) == 0
    params = json.loads((out / "params.json").read_text())
    assert params["sigma"] == 2.5 and params["weights"] == [0.5, 0.5]


def test_means_init_is_a_start_that_can_win_and_is_checked(data, tmp_path):
    # given means near the truth join annealing's start; the fit is at least as good as without them
    truth = np.array([[0.0, 0.0], [15.0, 15.0]]) + 1000.0
    given = probkm.SphericalGMM(2, n_init=0, means_init=truth, random_state=0).fit(data)
    free = probkm.SphericalGMM(2, n_init=0, random_state=0).fit(data)
    assert given.log_joint_ >= free.log_joint_ - 1e-3
    np.testing.assert_allclose(np.sort(given.means_[:, 0]), [1000.0, 1015.0], atol=1.0)
    with pytest.raises(ValueError, match=r"means_init must have shape \(n_components, n_features\) = \(2, 2\); got \(3, 2\)"):
        probkm.SphericalGMM(2, means_init=np.zeros((3, 2))).fit(data)
    with pytest.raises(ValueError, match="means_init"):
        probkm.SphericalGMM(2, means_init=[[0.0, np.nan], [1.0, 1.0]]).fit(data)
    given.save(tmp_path / "model")
    loaded = probkm.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.means_init, truth)
    np.testing.assert_allclose(loaded.means_, given.means_)
