"""probkm.studies.diagnostics on hand-built InferenceData (no sampling).

The toy posterior has two parameters with known answers: ``theta`` is a conjugate normal
whose posterior the data dominates (prior N(0, 1), posterior N(1, 0.1^2)), and ``phi``
does not enter the likelihood, so its posterior is its prior N(0, 1).
"""

import arviz as az
import numpy as np
import pytest
from scipy import stats
from scipy.stats import norm

from probkm.studies.diagnostics import (
    count_divergences,
    model_summary,
    parameter_summary,
    posterior_contraction,
    power_scaling_sensitivity,
    sensitivity_verdict,
)

N_CHAINS, N_DRAWS = 2, 20000


def toy_idata(dtype=np.float64, seed=0, n_draws=N_DRAWS):
    rng = np.random.default_rng(seed)
    shape = (N_CHAINS, n_draws)
    theta = rng.normal(1.0, 0.1, shape)
    phi = rng.normal(0.0, 1.0, shape)
    # a 3-vector: element 1 is data-dominated like theta, elements 0 and 2 are prior-only like phi
    vec = np.stack([rng.normal(0.0, 1.0, shape), rng.normal(1.0, 0.1, shape), rng.normal(0.0, 1.0, shape)], axis=-1)
    # conjugate normal: prior N(0, 1) times a likelihood with precision 99 at 100/99 gives N(1, 0.1^2)
    log_lik = norm.logpdf(theta, 100.0 / 99.0, 1.0 / np.sqrt(99.0)) + norm.logpdf(vec[..., 1], 100.0 / 99.0, 1.0 / np.sqrt(99.0))
    log_prior = {
        "theta": norm.logpdf(theta),
        "phi": norm.logpdf(phi),
        "vec": norm.logpdf(vec).sum(axis=-1),
    }
    prior_draws = rng.normal(size=(1, 40000))
    idata = az.from_dict(
        posterior={"theta": theta.astype(dtype), "phi": phi.astype(dtype), "vec": vec.astype(dtype)},
        prior={"theta": prior_draws, "phi": rng.normal(size=(1, 40000)), "vec": rng.normal(size=(1, 40000, 3))},
        log_likelihood={"x": (log_lik[..., None] / 4 * np.ones(4)).astype(dtype)},
        sample_stats={"diverging": np.zeros(shape, dtype=bool)},
        dims={"vec": ["element"]},
    )
    idata.add_groups(log_prior=az.dict_to_dataset({k: v.astype(dtype) for k, v in log_prior.items()}))
    return idata


def rank_normalized_rhat(draws):
    """Rank-normalised split R-hat of one ``(chain, draw)`` array (Vehtari et al. 2021, eqs. 4-5), in NumPy."""
    half = draws.shape[1] // 2
    split = np.concatenate([draws[:, :half], draws[:, -half:]])

    def z_scale(a):
        ranks = stats.rankdata(a, method="average").reshape(a.shape)
        return norm.ppf((ranks - 3 / 8) / (a.size + 1 / 4))

    def rhat(a):
        n = a.shape[1]
        between = n * a.mean(axis=1).var(ddof=1)
        within = a.var(axis=1, ddof=1).mean()
        return np.sqrt((between / within + n - 1) / n)

    return max(rhat(z_scale(split)), rhat(z_scale(np.abs(split - np.median(split)))))


@pytest.fixture(scope="module")
def idata():
    return toy_idata()


def test_contraction_separates_data_from_prior(idata):
    assert float(posterior_contraction(idata, "theta")) == pytest.approx(0.99, abs=0.005)
    assert abs(float(posterior_contraction(idata, "phi"))) < 0.05
    vec = posterior_contraction(idata, "vec")
    assert vec.shape == (3,)
    assert vec[1] > 0.98 and abs(vec[0]) < 0.05 and abs(vec[2]) < 0.05


def test_power_scaling_flags_the_parameter_the_likelihood_lacks(idata):
    prior_phi = float(power_scaling_sensitivity(idata, "phi", "prior"))
    like_phi = float(power_scaling_sensitivity(idata, "phi", "likelihood"))
    prior_theta = float(power_scaling_sensitivity(idata, "theta", "prior"))
    like_theta = float(power_scaling_sensitivity(idata, "theta", "likelihood"))
    assert prior_phi > 0.05 and like_phi < 0.02
    assert prior_theta < 0.05 and like_theta > 0.05


def test_float32_draws_are_scored_in_float64():
    """az.psens on float32 draws has a rounding floor; probkm casts to float64 first."""
    single, double = toy_idata(np.float32), toy_idata(np.float64)
    ours = float(power_scaling_sensitivity(single, "phi", "likelihood"))
    reference = float(power_scaling_sensitivity(double, "phi", "likelihood"))
    assert ours == pytest.approx(reference, rel=0.05, abs=1e-3)
    assert ours < 0.02


def test_power_scaling_rejects_an_unknown_component(idata):
    with pytest.raises(ValueError, match="component must be 'prior' or 'likelihood'; got 'both'"):
        power_scaling_sensitivity(idata, "phi", "both")


@pytest.mark.parametrize(
    ("prior", "likelihood", "verdict"),
    [
        (0.2, 0.01, "weak likelihood"),
        (0.2, 0.2, "prior-data conflict"),
        (0.05, 0.05, "prior-data conflict"),
        (0.01, 0.2, "none"),
        (0.01, 0.01, "none"),
        (0.0499, 0.5, "none"),
    ],
)
def test_verdict_follows_priorsense(prior, likelihood, verdict):
    assert sensitivity_verdict(prior, likelihood) == verdict


def test_summary_reports_the_worst_element(idata):
    summary = parameter_summary(idata, "vec")
    draws = idata.posterior["vec"].values
    contraction = 1.0 - draws.reshape(-1, 3).var(axis=0) / idata.prior["vec"].values.reshape(-1, 3).var(axis=0)
    lowest = int(np.argmin(contraction))
    assert summary["worst_element"]["contraction"] == [lowest]
    assert summary["posterior_median"] == pytest.approx(np.median(draws[..., lowest]))
    assert summary["posterior_sd"] == pytest.approx(np.std(draws[..., lowest]))
    assert summary["contraction"] == pytest.approx(float(posterior_contraction(idata, "vec").min()))
    assert summary["likelihood_sensitivity"] < 0.02  # a prior-only element
    assert summary["verdict"] == "weak likelihood"
    r_hat = np.array([rank_normalized_rhat(draws[..., j]) for j in range(3)])
    assert summary["worst_element"]["r_hat"] == [int(np.argmax(r_hat))]
    assert summary["r_hat"] == pytest.approx(r_hat.max(), rel=1e-12)
    scalar = parameter_summary(idata, "theta")
    assert scalar["worst_element"]["contraction"] == []
    assert scalar["verdict"] == "none"
    assert scalar["posterior_median"] == pytest.approx(1.0, abs=0.01)
    assert scalar["posterior_sd"] == pytest.approx(0.1, rel=0.05)
    assert scalar["r_hat"] < 1.01 and scalar["ess_bulk"] > 10000 and scalar["ess_tail"] > 10000


def test_model_summary_counts_divergences(idata):
    summary = model_summary(idata, ["theta", "phi"])
    assert set(summary) == {"theta", "phi", "divergences"}
    assert summary["divergences"] == 0
    idata = toy_idata(n_draws=200)
    idata.sample_stats["diverging"].values[0, :7] = True
    assert count_divergences(idata) == 7
    del idata.sample_stats["diverging"]
    assert count_divergences(idata) == 0
