import arviz as az
import numpy as np
import pytest

pytestmark = pytest.mark.slow

GROUPS = {"posterior", "sample_stats", "log_likelihood", "log_prior", "prior", "prior_predictive", "posterior_predictive", "observed_data"}


def test_nuts_converges_after_relabelling(nuts_fit):
    idata = nuts_fit.idata_
    rhat = {k: float(v.max()) for k, v in az.rhat(idata, var_names=["sigma", "means", "weights"]).items()}
    assert max(rhat.values()) < 1.01, rhat
    ess = az.ess(idata, var_names=["sigma", "means", "weights"], method="bulk")
    assert min(float(v.min()) for v in ess.values()) > 300
    assert int(idata.sample_stats["diverging"].sum()) == 0


def test_nuts_inference_data_groups_and_dims(nuts_fit, separated_blobs):
    idata = nuts_fit.idata_
    assert GROUPS <= set(idata.groups())
    post = idata.posterior
    assert post["means"].dims == ("chain", "draw", "cluster", "feature")
    assert post["weights"].dims == ("chain", "draw", "cluster")
    assert post["sigma"].dims == ("chain", "draw")
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 1000
    assert idata.log_likelihood["x"].dims == ("chain", "draw", "obs")
    assert idata.posterior_predictive["x"].dims == ("chain", "draw", "obs", "feature")
    assert idata.prior_predictive["x"].dims[-2:] == ("obs", "feature")
    assert set(idata.log_prior.data_vars) == {"means", "weights", "sigma"}
    np.testing.assert_array_equal(idata.observed_data["x"].values, separated_blobs[0].astype(np.float32))
    assert {"lp", "diverging", "energy", "n_steps", "acceptance_rate", "tree_depth"} <= set(idata.sample_stats.data_vars)


def test_loo_and_psens_run_on_the_fit(nuts_fit):
    idata = nuts_fit.idata_
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo) and (loo.pareto_k < 0.7).all()
    prior = float(az.psens(idata, component="prior", var_names=["sigma"]))
    likelihood = float(az.psens(idata, component="likelihood", var_names=["sigma"]))
    assert likelihood > prior  # the mixture's data, not its prior, sets sigma


def test_nuts_recovers_the_truth(nuts_fit, separated_blobs):
    _, _, means = separated_blobs
    assert nuts_fit.sigma_ == pytest.approx(1.0, rel=0.1)
    assert np.abs(np.sort(nuts_fit.means_, axis=0) - np.sort(means, axis=0)).max() < 0.3
    # the log-likelihood group is the marginal pointwise log density at each draw
    from probkm.core.likelihood import mixture_log_likelihood

    post = nuts_fit.idata_.posterior
    first = mixture_log_likelihood(
        separated_blobs[0].astype(np.float32), post["weights"].values[0, 0], post["means"].values[0, 0], post["sigma"].values[0, 0]
    )
    np.testing.assert_allclose(nuts_fit.idata_.log_likelihood["x"].values[0, 0], np.asarray(first), rtol=1e-5)


def test_map_inference_data_has_every_group(map_fit):
    idata = map_fit.idata_
    assert GROUPS <= set(idata.groups())
    assert idata.attrs["inference"] == "map"
    assert idata.posterior.sizes["chain"] == 1 and idata.posterior.sizes["draw"] == 1
    assert float(idata.posterior["sigma"].values.item()) == pytest.approx(map_fit.sigma_)
