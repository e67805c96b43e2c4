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
    _, labels = gmm.sample(2000, random_state=1)
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


KNOWN_MEANS = np.array([[1000.0, 1000.0], [1015.0, 1015.0]])  # the design of `data`, in its units


def _conditional_map(X, means, sigma_scale):
    """The weights and sigma that maximise the log joint given the means, by SciPy on NumPy:
    log-likelihood + log HalfNormal(sigma; sigma_scale) (the flat Dirichlet(1) adds a constant)."""
    from scipy.optimize import minimize

    def negative_log_joint(theta):
        weights = np.exp(np.r_[theta[0], 0.0] - logsumexp(np.r_[theta[0], 0.0]))
        sigma = np.exp(theta[1])
        return -(_log_likelihood(X, weights, means, sigma) - sigma**2 / (2 * sigma_scale**2))

    theta = minimize(negative_log_joint, np.zeros(2), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 5000}).x
    return np.exp(np.r_[theta[0], 0.0] - logsumexp(np.r_[theta[0], 0.0])), float(np.exp(theta[1]))


def test_known_means_are_kept_exactly_and_the_weights_and_sigma_are_their_map(data, tmp_path):
    gmm = probkm.SphericalGMM(2, means=KNOWN_MEANS, random_state=0).fit(data)
    np.testing.assert_array_equal(gmm.means_, KNOWN_MEANS)
    assert np.all(gmm.draws_.means == KNOWN_MEANS)
    weights, sigma = _conditional_map(data, KNOWN_MEANS, gmm.model_kwargs_["sigma_scale"])
    np.testing.assert_allclose(gmm.weights_, weights, atol=1e-4)
    assert gmm.sigma_ == pytest.approx(sigma, rel=1e-4)
    # other means give other weights and sigma: the fit did use the given ones
    shifted = probkm.SphericalGMM(2, means=KNOWN_MEANS + [[3.0, 3.0], [0.0, 0.0]], random_state=0).fit(data)
    assert shifted.sigma_ > sigma + 0.3
    idata = gmm.idata_
    assert "means" not in idata.posterior and "means" not in idata.prior
    assert sorted(idata.posterior.data_vars) == ["sigma", "weights"]
    np.testing.assert_array_equal(idata.constant_data["means"].values, KNOWN_MEANS)
    assert idata.constant_data["means"].dims == ("cluster", "feature")
    # the prior predictive simulates around the known means
    assert np.abs(idata.prior_predictive["x"].values.mean() - KNOWN_MEANS.mean()) < 10.0
    gmm.save(tmp_path / "model")
    loaded = probkm.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.means, KNOWN_MEANS)
    np.testing.assert_array_equal(loaded.means_, KNOWN_MEANS)


def test_bic_counts_k_times_d_fewer_parameters_with_known_means(data):
    free = probkm.SphericalGMM(2, random_state=0).fit(data)
    known = probkm.SphericalGMM(2, means=KNOWN_MEANS, random_state=0).fit(data)
    assert free._n_parameters() - known._n_parameters() == 2 * 2
    log_lik = _log_likelihood(data, known.weights_, KNOWN_MEANS, known.sigma_)
    assert known.bic(data) == pytest.approx(-2 * log_lik + (1 + 1) * np.log(len(data)), abs=0.05)
    assert known.aic(data) == pytest.approx(-2 * log_lik + 2 * (1 + 1), abs=0.05)


def test_nuts_with_known_means_samples_the_weights_and_sigma_only(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = probkm.SphericalGMM(2, inference="mcmc", means=KNOWN_MEANS, relabel="stephens", num_warmup=100, num_samples=100, num_chains=2, random_state=0).fit(data)
    assert sorted(gmm.idata_.posterior.data_vars) == ["sigma", "weights"]
    assert gmm.draws_.means.shape == (200, 2, 2) and np.all(gmm.draws_.means == KNOWN_MEANS)
    np.testing.assert_array_equal(gmm.idata_.constant_data["means"].values, KNOWN_MEANS)
    # the labels are the known means' (the heavier cluster is the first), in every draw
    assert np.all(gmm.draws_.weights[:, 0] > 0.6)
    assert gmm.sigma_ == pytest.approx(3.0, rel=0.1)
    assert np.isfinite(gmm.idata_.sample_stats["lp"].values).all()


def test_known_means_are_checked(data):
    with pytest.raises(ValueError, match=r"means must have shape \(n_components, n_features\) = \(2, 2\); got \(3, 2\)"):
        probkm.SphericalGMM(2, means=np.zeros((3, 2))).fit(data)
    with pytest.raises(ValueError, match="means"):
        probkm.SphericalGMM(2, means=[[0.0, np.nan], [1.0, 1.0]]).fit(data)
    with pytest.raises(ValueError, match="means and means_init are both given"):
        probkm.SphericalGMM(2, means=KNOWN_MEANS, means_init=KNOWN_MEANS).fit(data)
    with pytest.raises(ValueError, match="nothing is left to fit"):
        probkm.SphericalGMM(2, means=KNOWN_MEANS, sigma=3.0, weights="equal").fit(data)


def test_the_command_line_and_configs_fix_known_means(tmp_path, data):
    from probkm.cli.config import config_to_yaml, load_config

    path, means_path = tmp_path / "data.csv", tmp_path / "means.csv"
    np.savetxt(path, data, delimiter=",")
    np.savetxt(means_path, KNOWN_MEANS, delimiter=",")
    out = tmp_path / "out"
    assert main(["fit", str(path), "-k", "2", "--known-means", str(means_path), "--out", str(out), "--quiet"]) == 0
    params = json.loads((out / "params.json").read_text())
    np.testing.assert_array_equal(params["means"], KNOWN_MEANS)
    config = load_config(None, ["model.means=[[1000, 1000], [1015, 1015]]"])
    assert config.model.means == ((1000.0, 1000.0), (1015.0, 1015.0))
    (tmp_path / "config.yaml").write_text(config_to_yaml(config))
    assert load_config(tmp_path / "config.yaml") == config
