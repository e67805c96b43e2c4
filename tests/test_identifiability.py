"""The identifiability study: sigma is identified by the mixture, not by the k-means objective.

One default study run (module-scoped, about 90 s on 2 CPU cores) serves every statistical
test; the fast tests cover the sigma profile, the settings checks and the config loader.
"""

import inspect
import json
import os
import re
from pathlib import Path

import arviz as az
import jax
import numpy as np
import pytest

from probkm.algorithms.annealing import fixed_sigma_centroids
from probkm.cli.config import ConfigError, load_identifiability_config
from probkm.studies.diagnostics import sigma_profile
from probkm.datasets import synthetic_mixture
from probkm.studies.identifiability import SETTINGS, run_identifiability
from probkm.studies.identifiability_report import write_identifiability
from probkm.algorithms.kmeans import kmeans_candidates
from probkm.core.likelihood import kmeans_objective_pointwise

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "identifiability.yaml"
NOTEBOOK = ROOT / "notebooks" / "identifiability.ipynb"
PARAMETERS = {"gmm": ("sigma", "means", "weights"), "annealed": ("sigma", "means", "weights"), "kmeans": ("sigma", "means")}
METRICS = {"contraction", "prior_sensitivity", "likelihood_sensitivity", "verdict", "r_hat", "ess_bulk", "ess_tail"}
FIGURES = ("sigma_prior_posterior", "sigma_mean_pairs", "sensitivity", "annealing_path")


@pytest.fixture(scope="module")
def study():
    messages = []
    result = run_identifiability(progress=messages.append)
    return result, messages


@pytest.fixture(scope="module")
def summary(study):
    return study[0].summary


def every_model(summary):
    """(label, kind, diagnostics) for the GMM, each annealed temperature and the k-means model."""
    models = summary["models"]
    rows = [("gmm", "gmm", models["gmm"]), ("kmeans", "kmeans", models["kmeans"])]
    return rows + [(f"annealed T={t}", "annealed", s) for t, s in models["annealed"].items()]


# ---------------------------------------------------------------- the study, on the default data


@pytest.mark.slow
def test_gmm_identifies_sigma(summary):
    gmm = summary["models"]["gmm"]["sigma"]
    assert gmm["contraction"] > 0.9
    assert 0.9 <= summary["prior_scale_ratio"]["gmm"] <= 1.1
    assert gmm["likelihood_sensitivity"] >= 0.05 and gmm["prior_sensitivity"] < 0.05
    assert gmm["verdict"] == "none"
    # the data were drawn with sigma = 1
    assert summary["gmm_sigma_posterior_median"] == pytest.approx(1.0, abs=0.1)


@pytest.mark.slow
def test_kmeans_objective_does_not_identify_sigma(summary):
    km = summary["models"]["kmeans"]["sigma"]
    assert abs(km["contraction"]) < 0.2
    assert summary["prior_scale_ratio"]["kmeans"] > 5
    assert km["likelihood_sensitivity"] < 0.01
    assert km["prior_sensitivity"] > 0.05
    assert km["verdict"] == "weak likelihood"


@pytest.mark.slow
def test_annealed_likelihood_keeps_sigma_at_every_temperature(summary):
    """The T -> 0 likelihood keeps the normaliser -(N D / 2) log(2 pi sigma^2); only J drops sigma."""
    assert set(summary["models"]["annealed"]) == {"0.5", "0.1", "0.01"}
    for stats in summary["models"]["annealed"].values():
        assert stats["sigma"]["contraction"] > 0.9


@pytest.mark.slow
def test_means_are_identified_in_every_model(summary):
    for label, _, stats in every_model(summary):
        assert stats["means"]["contraction"] > 0.9, label


@pytest.mark.slow
def test_sampler_is_healthy_everywhere(study):
    result, _ = study
    assert set(result.idata) == {"gmm", "kmeans", "annealed T=0.5", "annealed T=0.1", "annealed T=0.01"}
    for label, idata in result.idata.items():
        names = [v for v in ("sigma", "means", "weights") if v in idata.posterior]
        rhat = az.rhat(idata, var_names=names)
        worst = max(float(rhat[v].max()) for v in names)
        assert worst < 1.01, (label, worst)
        for method in ("bulk", "tail"):
            ess = az.ess(idata, var_names=names, method=method)
            assert min(float(ess[v].min()) for v in names) > 400, (label, method)
        n_draws = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
        assert int(idata.sample_stats["diverging"].sum()) <= 1e-3 * n_draws, label


@pytest.mark.slow
def test_summary_has_every_metric_and_matches_arviz(study):
    result, _ = study
    for label, kind, stats in every_model(result.summary):
        for name in PARAMETERS[kind]:
            assert METRICS <= set(stats[name]), (label, name)
        assert "weights" not in stats or kind != "kmeans"
        rhat = az.rhat(result.idata[label], var_names=["means"])["means"].values
        assert stats["means"]["r_hat"] == pytest.approx(float(rhat.max()))


@pytest.mark.slow
def test_sigma_profile_centroids_ignore_sigma(summary):
    profile = summary["sigma_profile"]
    order = np.argsort(profile["t_mins"])[::-1]  # decreasing temperature
    shifts = np.asarray(profile["max_centroid_shift"])[order]
    assert summary["sigma_profile_max_centroid_shift"] == shifts[-1]
    assert shifts[-1] < 1e-4 * summary["data_scale"]
    assert np.all(np.diff(shifts) <= 0), shifts  # shrinks as T_min does
    assert shifts[0] > shifts[-1]  # the probe does see sigma at a higher temperature
    assert max(profile["sigma_values"]) / min(profile["sigma_values"]) >= 10


@pytest.mark.slow
def test_plugin_sigma_beside_the_gmm_posterior(study):
    result, _ = study
    s = result.summary
    centers = np.asarray(s["kmeans"]["centers"])
    inertia = float(np.sum(np.asarray(kmeans_objective_pointwise(result.X.astype(np.float32), centers.astype(np.float32)))))
    assert s["plugin_sigma"] == pytest.approx(np.sqrt(inertia / result.X.size), rel=1e-4)
    lo, hi = s["gmm_sigma_posterior_interval_94"]
    assert lo < s["plugin_sigma"] < hi


@pytest.mark.slow
def test_progress_is_reported_between_fits(study):
    _, messages = study
    assert len(messages) == 10  # k-means, MAP, 5 models, 2 prior-scale refits, profile
    assert any("kmeans" in m and "x 10" in m for m in messages)


@pytest.mark.slow
def test_output_folder_has_json_report_and_figures(study, tmp_path):
    result, _ = study
    paths = write_identifiability(result, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "identifiability.json").read_text())
    assert {"models", "prior_scale_ratio", "sigma_profile_max_centroid_shift", "plugin_sigma", "gmm_sigma_posterior_median"} <= set(data)
    assert set(data["models"]) == {"gmm", "kmeans", "annealed"}
    assert set(data["prior_scale_ratio"]) == {"gmm", "kmeans"}
    for label, kind, stats in every_model(data):
        assert set(PARAMETERS[kind]) <= set(stats), label
    for name in FIGURES:
        png = tmp_path / "out" / f"{name}.png"
        assert paths[name] == png
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Conclusion" in report and "| kmeans | sigma |" in report and "weak likelihood" in report
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["identifiability.json", "report.md"] + [f"{n}.png" for n in FIGURES]
    )  # no temporary files left behind


# ---------------------------------------------------------------- fast: profile, settings, config


def test_fixed_sigma_centroids_are_the_kmeans_fixed_point_at_low_temperature():
    X = synthetic_mixture(90, 3, 2, layout="polygon", seed=3).X
    x = jax.numpy.asarray(X, jax.numpy.float32)
    found = kmeans_candidates(jax.random.key(0), x, jax.numpy.geomspace(1.0, 1e-3, 30), n_clusters=3, n_init=0)
    centers = found.centers[0]
    sigmas = jax.numpy.asarray([0.3, 1.0, 3.0])
    out = np.asarray(fixed_sigma_centroids(x, centers, sigmas, jax.numpy.asarray([1e-3, 0.3])))
    assert out.shape == (2, 3, 3, 2)
    np.testing.assert_allclose(out[0], np.broadcast_to(np.asarray(centers), (3, 3, 2)), atol=1e-5)
    # at a high enough temperature the soft assignments do depend on sigma: the probe can fail
    assert np.abs(out[1, 2] - out[1, 0]).max() > 1e-3
    profile = sigma_profile(X, np.asarray(centers), [0.3, 1.0, 3.0], [1e-3, 0.3])
    assert profile.max_shift[0] < profile.max_shift[1]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"temperatures": (0.5, 0.0)}, ValueError, "temperatures must be a non-empty list of numbers in (0, 1]; got (0.5, 0.0)"),
        ({"num_chains": 0}, ValueError, "num_chains must be an int >= 1; got 0"),
        ({"num_samples": 10.0}, TypeError, "num_samples must be an int >= 1; got 10.0 of type float"),
        ({"sigma_prior": "cauchy"}, ValueError, "sigma_prior must be one of 'halfnormal', 'lognormal', 'invgamma'; got 'cauchy'"),
        ({"sigma_grid": (1.0,)}, ValueError, "sigma_grid must be a list of at least 2 finite numbers > 0; got (1.0,)"),
        ({"X": np.zeros(5)}, ValueError, "X must have shape (n_samples, n_features); got 1-D shape (5,)"),
        ({"progress_bar": "yes"}, TypeError, "progress_bar must be None or true or false; got 'yes' of type str."),
    ],
)
def test_run_identifiability_rejects_bad_arguments_before_fitting(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        run_identifiability(**kwargs)


def test_config_file_loads_and_matches_the_defaults():
    config = load_identifiability_config(CONFIG)
    assert config.pop("output") == "identifiability-output"
    parameters = inspect.signature(run_identifiability).parameters
    assert set(SETTINGS) == set(parameters) - {"X", "progress", "progress_bar"}  # how it runs, not what
    assert set(config) == set(SETTINGS)
    for name, value in config.items():
        default = parameters[name].default
        assert value == (tuple(default) if isinstance(default, tuple) else default), name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("num_chains: 2\nnum_chainz: 4\n", "unknown key 'num_chainz' (given 4); allowed keys: "),
        ("num_samples: many\n", "num_samples must be an int >= 1; got 'many' of type str"),
        ("tau: -1\n", "tau must be a finite number > 0; got -1."),
        ("t_min: 1e-3\n", "t_min must be a number in (0, 0.5); got '1e-3' of type str. (YAML reads 1e-3 as text"),
        ("temperatures: 0.1\n", "temperatures must be a non-empty list of numbers in (0, 1]; got 0.1 of type float"),
        ("output: 3\n", "output must be a non-empty string (a folder); got 3"),
        ("- 1\n- 2\n", "the file must be a mapping of setting names to values; got [1, 2]"),
        ("tau: [1\n", "not valid YAML"),
    ],
)
def test_malformed_config_names_file_key_value_and_what_is_allowed(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(f"{path}: ") + ".*" + re.escape(message)):
        load_identifiability_config(path)


def test_config_output_is_optional(tmp_path):
    path = tmp_path / "partial.yaml"
    path.write_text("tau: 2\nnum_samples: 10\n")
    assert load_identifiability_config(path) == {"tau": 2.0, "num_samples": 10}


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_identifiability_config(tmp_path / "absent.yaml")


# ---------------------------------------------------------------- the notebook


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("PROBKM_SMOKE", "1")  # tiny sample sizes inside the notebook
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("JAX_PLATFORMS", os.environ.get("JAX_PLATFORMS", "cpu"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert (tmp_path / "identifiability-output" / "identifiability.json").exists()
