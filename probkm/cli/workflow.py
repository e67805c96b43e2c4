"""The main job behind ``probkm run``: fit, anneal, generate, compare, report.

:func:`run_main_job` takes a validated :class:`~probkm.cli.config.RunConfig` and an output
folder and writes:

* ``gmm_map.nc`` and ``gmm_nuts.nc``: the fits as ArviZ InferenceData (netCDF);
* ``generated_gmm.csv`` and ``generated_kmeans_<source>.csv``: new data with labels;
* ``clusters.png``, ``generated.png``, ``annealing_path.png``, ``trace.png``, ``sigma.png``;
* ``summary.json`` and ``report.md``: fitted parameters, ArviZ's summary of the NUTS posterior
  with its convergence verdict (:func:`nuts_report`, which ``probkm fit --inference mcmc``
  writes too), fidelity of the generated data (energy distance against the real data's
  split-half baseline), and a short sigma identifiability summary; ``config.yaml``: the
  configuration that produced them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, NamedTuple

import arviz as az
import numpy as np

from probkm.estimators.annealed_kmeans import AnnealedKMeans
from probkm.cli.config import RunConfig, config_to_yaml
from probkm.datasets import Dataset, load_data, scale_note, synthetic_mixture
from probkm.studies.diagnostics import posterior_contraction
from probkm.studies.metrics import energy_distance, split_half_energy
from probkm.estimators.spherical_gmm import SphericalGMM
from probkm.reporting.outputs import write_csv, write_figure, write_netcdf, write_text
from probkm.reporting.plots import plot_annealing_path, plot_clusters, plot_generated, plot_sigma_prior_posterior, plot_trace

Progress = Callable[[str], None]


def load_dataset(config: RunConfig, *, standardize: bool | None = None) -> Dataset:
    """The configured data set: synthetic, or read from ``config.data.source`` with its
    ``columns`` and ``label_column``.

    With ``config.data.standardize`` (or ``standardize``, which overrides it) each column is
    centred and divided by its standard deviation (constant columns are left unscaled), and the
    run reports in those z-scores. ``probkm fit``, ``generate`` and ``select`` standardise
    through :class:`probkm.cli.units.FeatureScaling` instead, and report in the data's units.

    Parameters
    ----------
    config : RunConfig or SelectConfig
    standardize : bool, optional
        Whether to return z-scores; default ``config.data.standardize``.

    Returns
    -------
    probkm.datasets.Dataset

    Raises
    ------
    FileNotFoundError, InvalidValue
        A data file that is missing or unreadable, or an unknown or non-numeric column.

    Examples
    --------
    >>> from probkm.cli.config import load_config
    >>> from probkm.cli.workflow import load_dataset
    >>> dataset = load_dataset(load_config(None, ["data.n_samples=40", "data.standardize=true"]))
    >>> dataset.X.shape, dataset.name
    ((40, 2), 'synthetic mixture (K=3, D=2, sigma=1.0), standardised')
    """
    data = config.data
    if data.source == "synthetic":
        dataset = synthetic_mixture(data.n_samples, data.n_components, data.n_features, sigma=data.sigma, separation=data.separation, seed=data.seed)
    else:
        dataset = load_data(data.source, columns=data.columns, label_column=data.label_column)
    if data.standardize if standardize is None else standardize:
        X = dataset.X
        center, sd = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
        dataset = dataset._replace(X=(X - center) / np.where(sd > 0, sd, 1.0), means=None, name=dataset.name + ", standardised")
    return dataset


def _gmm(config: RunConfig, inference: str, progress_bar: bool) -> SphericalGMM:
    return SphericalGMM(
        config.model.n_components,
        inference=inference,
        sigma_prior=config.model.sigma_prior,
        sigma_scale=config.model.sigma_scale,
        sigma=config.model.sigma,
        weights=config.model.weights,
        means=None if config.model.means is None else np.asarray(config.model.means, dtype=float),
        n_init=config.map.n_init,
        optimizer=config.map.optimizer,
        num_steps=None if config.map.optimizer == "bfgs" else config.map.num_steps,
        num_warmup=config.mcmc.num_warmup,
        num_samples=config.mcmc.num_samples,
        num_chains=config.mcmc.num_chains,
        progress_bar=progress_bar,
        relabel=config.mcmc.relabel,
        random_state=config.seed,
    )


def _parameter_table(name: str, weights: np.ndarray, means: np.ndarray, sigma: float) -> list[str]:
    rows = [f"### {name}", "", "| cluster | weight | mean |", "|---|---|---|"]
    for k, (w, m) in enumerate(zip(weights, means)):
        rows.append(f"| {k} | {w:.3f} | ({', '.join(f'{v:.3f}' for v in m)}) |")
    rows += ["", f"sigma = {sigma:.4f}", ""]
    return rows


def _sigma_summary(idata: az.InferenceData) -> dict[str, float]:
    """Sigma's posterior median and sd, its contraction and R-hat (:func:`probkm.studies.diagnostics.posterior_contraction`)."""
    post = idata.posterior["sigma"].values.ravel()
    rhat = float(az.rhat(idata, var_names=["sigma"])["sigma"]) if idata.posterior.sizes["draw"] > 3 else float("nan")
    return {
        "posterior_median": float(np.median(post)),
        "posterior_sd": float(post.std()),
        "contraction": float(posterior_contraction(idata, "sigma")),
        "r_hat": rhat,
    }


class NutsReport(NamedTuple):
    """ArviZ's summary of a NUTS fit and its convergence verdict, for ``summary.json`` and ``report.md``.

    Attributes
    ----------
    summary : dict
        ``nuts_summary``: the table, row by row (``az.summary``'s mean, sd, HDI, MCSE,
        bulk and tail ESS, R-hat); ``nuts_convergence``: the worst divergences, R-hat and
        bulk ESS (``None`` where not computed), ``converged`` (true, false, or ``None`` when R-hat could not be computed)
        and ``verdict``, one sentence.
    lines : list of str
        The report's section: a heading, the table in Markdown, the verdict.

    Examples
    --------
    >>> from probkm.cli.workflow import NutsReport
    >>> NutsReport({}, ["## NUTS posterior"]).lines
    ['## NUTS posterior']
    """

    summary: dict[str, Any]
    lines: list[str]


def convergence_verdict(convergence: dict[str, float], num_chains: int) -> tuple[bool | None, str]:
    """Judge a NUTS fit by ArviZ's thresholds: no divergence, split R-hat at most 1.01, bulk
    ESS at least 100 per chain (:mod:`probkm.inference.convergence`).

    Parameters
    ----------
    convergence : dict
        ``{"divergences", "r_hat", "ess_bulk"}``, the worst values over the parameters
        (``SphericalGMM.convergence_``); NaN where not computed.
    num_chains : int
        Chains of the fit.

    Returns
    -------
    converged : bool or None
        Whether every check passes; ``None`` when none fails but R-hat could not be computed
        (one chain, or fewer than 4 draws).
    verdict : str
        One sentence naming each check's value and threshold, and the remedy for a failure.

    Examples
    --------
    >>> from probkm.cli.workflow import convergence_verdict
    >>> convergence_verdict({"divergences": 0.0, "r_hat": 1.003, "ess_bulk": 812.0}, 2)
    (True, 'converged: no divergences, largest R-hat 1.003 (<= 1.01), smallest bulk ESS 812 (>= 200, 100 per chain).')
    >>> convergence_verdict({"divergences": 3.0, "r_hat": 1.2, "ess_bulk": 40.0}, 2)[1]
    'NOT converged: 3 divergences, largest R-hat 1.200 (> 1.01), smallest bulk ESS 40 (< 200, 100 per chain); raise num_warmup and num_samples (and target_accept_prob for divergences), or check n_components.'
    """
    from probkm.inference.convergence import ESS_PER_CHAIN_MIN, RHAT_MAX

    divergences, r_hat, ess = (float(convergence.get(k, np.nan)) for k in ("divergences", "r_hat", "ess_bulk"))
    ess_min = ESS_PER_CHAIN_MIN * num_chains
    checks = [(divergences == 0, "no divergences" if divergences == 0 else f"{divergences:.0f} divergences")]
    if np.isfinite(r_hat):
        checks.append((r_hat <= RHAT_MAX, f"largest R-hat {r_hat:.3f} ({'<=' if r_hat <= RHAT_MAX else '>'} {RHAT_MAX})"))
    if np.isfinite(ess):
        checks.append((ess >= ess_min, f"smallest bulk ESS {ess:.0f} ({'>=' if ess >= ess_min else '<'} {ess_min}, {ESS_PER_CHAIN_MIN} per chain)"))
    text = ", ".join(part for _, part in checks)
    if not all(ok for ok, _ in checks):
        return False, f"NOT converged: {text}; raise num_warmup and num_samples (and target_accept_prob for divergences), or check n_components."
    if not np.isfinite(r_hat):
        return None, f"not judged: R-hat needs 2 or more chains of 4 or more draws; {text}."
    return True, f"converged: {text}."


def nuts_report(idata: az.InferenceData, convergence: dict[str, float]) -> NutsReport:
    """ArviZ's summary table of a NUTS fit's fitted parameters and its convergence verdict:
    the section that ``probkm run`` and ``probkm fit --inference mcmc`` write.

    Parameters
    ----------
    idata : arviz.InferenceData
        The fit's ``idata_`` (draws already relabelled); known parameters, absent from its
        posterior, are left out.
    convergence : dict
        The fit's ``convergence_`` (:func:`convergence_verdict`).

    Returns
    -------
    NutsReport

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> from probkm.cli.workflow import nuts_report
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"sigma": rng.normal(1.0, 0.05, size=(2, 500))})
    >>> report = nuts_report(idata, {"divergences": 0.0, "r_hat": 1.001, "ess_bulk": 950.0})
    >>> sorted(report.summary["nuts_summary"]["sigma"])
    ['ess_bulk', 'ess_tail', 'hdi_3%', 'hdi_97%', 'mcse_mean', 'mcse_sd', 'mean', 'r_hat', 'sd']
    >>> report.summary["nuts_convergence"]["converged"], report.lines[0]
    (True, '## NUTS posterior (after relabelling)')
    """
    fitted = [v for v in ("sigma", "weights", "means") if v in idata.posterior]
    table = az.summary(idata, var_names=fitted, round_to=4)
    converged, verdict = convergence_verdict(convergence, int(idata.posterior.sizes["chain"]))
    summary = {
        "nuts_summary": json.loads(table.to_json(orient="index")),
        "nuts_convergence": {**{k: float(v) if np.isfinite(v) else None for k, v in convergence.items()}, "converged": converged, "verdict": verdict},
    }
    return NutsReport(summary, ["## NUTS posterior (after relabelling)", "", table.to_markdown(), "", f"**Convergence:** {verdict}", ""])


class _Outputs(NamedTuple):
    """What the job writes as it goes: the output folder, ``summary.json``'s dict and ``report.md``'s lines."""

    out: Path
    summary: dict[str, Any]
    report: list[str]


def run_main_job(config: RunConfig, out_dir: str | Path, *, progress: Progress = lambda _: None, progress_bar: bool = False) -> dict[str, Any]:
    """Run the configured job and write its files into ``out_dir`` (which must exist).

    Parameters
    ----------
    config : RunConfig
        A validated configuration (:func:`probkm.cli.config.load_config`).
    out_dir : str or pathlib.Path
        An existing folder, usually from :func:`probkm.reporting.outputs.prepare_output_dir`.
    progress : callable
        Called with a one-line message before each step.
    progress_bar : bool
        One progress bar per chain of each NUTS run (on stderr).

    Returns
    -------
    dict
        The summary written to ``summary.json``: ``data``, the fits that ran (``gmm_map``,
        ``gmm_nuts``, ``nuts_summary``, ``nuts_convergence``, ``kmeans``), ``generation`` and,
        with NUTS, ``identifiability``.

    Examples
    --------
    Even a small job compiles several models, which takes tens of seconds (not run here):

    >>> import tempfile
    >>> from probkm.cli.config import load_config
    >>> from probkm.cli.workflow import run_main_job
    >>> config = load_config(None, ["data.n_samples=60", "mcmc.enabled=false", "identifiability.enabled=false"])
    >>> summary = run_main_job(config, tempfile.mkdtemp())  # doctest: +SKIP
    >>> sorted(summary)  # doctest: +SKIP
    ['data', 'generation', 'gmm_map', 'kmeans']
    """
    dataset = load_dataset(config)
    X = dataset.X
    progress(f"data: {dataset.name}, {X.shape[0]} points x {X.shape[1]} features")
    out = _Outputs(Path(out_dir), {"data": {"name": dataset.name, "n_samples": int(X.shape[0]), "n_features": int(X.shape[1])}},
                   ["# probkm run", "", f"Data: {dataset.name}, {X.shape[0]} points, {X.shape[1]} features, K = {config.model.n_components}.", ""])
    notes = list(dataset.notes) + [n for n in [None if config.data.standardize else scale_note(X, dataset.feature_names)] if n]
    for note in notes:
        progress("note: " + note)
    out.report.extend([f"- {note}" for note in notes] + [""] * bool(notes))
    write_text(out.out / "config.yaml", config_to_yaml(config))
    fits = _fit_mixtures(config, X, out, progress, progress_bar)
    kmeans = _fit_kmeans(config, X, out, progress) if config.kmeans.enabled else None
    progress(f"generating {config.generate.n_samples} points per model")
    best_gmm = fits.get("nuts") or fits.get("map")
    _generate(config, X, best_gmm, kmeans, out)
    if config.identifiability.enabled and "nuts" in fits and config.model.sigma is None:  # a known sigma has no posterior
        progress("identifiability: NUTS on the k-means-objective model")
        _identifiability_section(config, X, fits["nuts"], out, progress_bar)
    write_text(out.out / "summary.json", json.dumps(out.summary, indent=2, default=float))
    write_text(out.out / "report.md", "\n".join(out.report) + "\n")
    return out.summary


def _fit_mixtures(config: RunConfig, X: np.ndarray, out: _Outputs, progress: Progress, progress_bar: bool) -> dict[str, SphericalGMM]:
    """The spherical GMM by MAP and by NUTS, as configured: ``gmm_map.nc``, ``gmm_nuts.nc``, ``trace.png``."""
    fits: dict[str, SphericalGMM] = {}
    if config.map.enabled:
        progress(f"MAP: annealing + {config.map.n_init} k-means++ restarts, then SVI ({config.map.optimizer})")
        fits["map"] = _gmm(config, "map", progress_bar).fit(X)
        write_netcdf(out.out / "gmm_map.nc", fits["map"].idata_)
    if config.mcmc.enabled:
        progress(f"NUTS: {config.mcmc.num_chains} chains x ({config.mcmc.num_warmup} warmup + {config.mcmc.num_samples} draws)")
        fits["nuts"] = _gmm(config, "mcmc", progress_bar).fit(X)
        write_netcdf(out.out / "gmm_nuts.nc", fits["nuts"].idata_)
        fitted = [v for v in ("sigma", "weights", "means") if v in fits["nuts"].idata_.posterior]  # known ones are not
        write_figure(out.out / "trace.png", plot_trace(fits["nuts"].idata_, var_names=[v for v in fitted if v != "means"] or ["means"]))
        section = nuts_report(fits["nuts"].idata_, fits["nuts"].convergence_)
        out.summary.update(section.summary)
        out.report.extend(section.lines)
    for name, fit in fits.items():
        out.report.extend(_parameter_table(f"Spherical GMM ({name})", fit.weights_, fit.means_, fit.sigma_))
        out.summary[f"gmm_{name}"] = {"weights": fit.weights_.tolist(), "means": fit.means_.tolist(), "sigma": fit.sigma_}
    return fits


def _fit_kmeans(config: RunConfig, X: np.ndarray, out: _Outputs, progress: Progress) -> AnnealedKMeans:
    """``AnnealedKMeans`` with its plug-in sigma and ``annealing_path.png``."""
    progress(f"annealed k-means: {config.kmeans.n_temperatures} temperatures down to T = {config.kmeans.t_min}")
    kmeans = AnnealedKMeans(
        config.model.n_components, n_temperatures=config.kmeans.n_temperatures, t_min=config.kmeans.t_min, n_init=config.kmeans.n_init,
        sigma_prior=config.model.sigma_prior, sigma_scale=config.model.sigma_scale, random_state=config.seed,
    ).fit(X)
    out.report.extend(_parameter_table("Annealed k-means (sigma is the plug-in sqrt(J / (N D)))", kmeans.weights_, kmeans.cluster_centers_, kmeans.sigma_))
    out.report.extend([f"inertia J = {kmeans.inertia_:.4f}", ""])
    out.summary["kmeans"] = {
        "centers": kmeans.cluster_centers_.tolist(), "inertia": kmeans.inertia_, "plugin_sigma": kmeans.sigma_,
        "log_sigma_posterior_mode_sd": list(kmeans.log_sigma_posterior_),
    }
    write_figure(out.out / "annealing_path.png", plot_annealing_path(kmeans))
    return kmeans


def _generate(config: RunConfig, X: np.ndarray, gmm: SphericalGMM | None, kmeans: AnnealedKMeans | None, out: _Outputs) -> None:
    """New data from the GMM and from k-means with each sigma source, with their energy distance to ``X``."""
    n_new, generated = config.generate.n_samples, []
    if gmm is not None:
        Xg, yg = gmm.sample(n_new, random_state=config.seed + 1)
        generated.append(("GMM " + ("posterior predictive" if gmm.inference == "mcmc" else "MAP"), Xg, yg, "generated_gmm.csv"))
    for source in config.generate.sigma_sources if kmeans is not None else ():
        Xg, yg = kmeans.sample(n_new, sigma=source, random_state=config.seed + 1)
        generated.append((f"k-means, sigma={source}", Xg, yg, f"generated_kmeans_{source}.csv"))
    baseline, fidelity = split_half_energy(X), {}
    out.report.extend([
        "## Generated data", "", f"Energy distance to the real data; the real data's own split-half value is {baseline:.4g}.", "",
        "| generator | within-cluster sd | energy distance | ratio to split-half |", "|---|---|---|---|",
    ])
    for name, Xg, yg, filename in generated:
        write_csv(out.out / filename, Xg, yg)
        score = energy_distance(Xg, X)
        fidelity[name] = {"file": filename, "energy_distance": score, "ratio_to_split_half": score / baseline}
        out.report.append(f"| {name} | {_within_cluster_sd(Xg, yg):.3f} | {score:.4g} | {score / baseline:.2f} |")
    out.summary["generation"] = {"split_half_energy": baseline, "generators": fidelity}
    out.report.append("")
    if generated:
        write_figure(out.out / "generated.png", plot_generated(X, [(n, Xg, yg) for n, Xg, yg, _ in generated]))
    if gmm is not None:
        write_figure(out.out / "clusters.png", plot_clusters(X, gmm.means_, gmm.sigma_, labels=gmm.predict(X)))


def _identifiability_section(config: RunConfig, X: np.ndarray, gmm: SphericalGMM, out: _Outputs, progress_bar: bool) -> None:
    """The short sigma identifiability table of the report."""
    found = out.summary["identifiability"] = _identifiability(config, X, gmm, out.out, progress_bar)
    gmm_s, km_s = found["gmm"], found["kmeans"]
    out.report.extend([
        "## Is sigma identifiable?",
        "",
        "| model | sigma posterior median | contraction 1 - Var_post/Var_prior | R-hat |",
        "|---|---|---|---|",
        f"| spherical GMM | {gmm_s['posterior_median']:.4f} | {gmm_s['contraction']:.3f} | {gmm_s['r_hat']:.3f} |",
        f"| k-means objective (tau = {config.identifiability.tau}) | {km_s['posterior_median']:.4f} | {km_s['contraction']:.3f} | {km_s['r_hat']:.3f} |",
        "",
        "Contraction near 1: the data determine sigma. Near 0: sigma's posterior is its prior, the k-means",
        "objective carries no information about it; generating data from k-means needs sigma from elsewhere",
        "(the plug-in, a prior, or the mixture's posterior). `probkm identifiability` runs the full study.",
        "",
    ])


def _identifiability(config: RunConfig, X: np.ndarray, gmm: SphericalGMM, out: Path, progress_bar: bool) -> dict[str, Any]:
    """sigma under the GMM (from its NUTS fit) and under the k-means-objective model."""
    import jax

    from probkm.inference.inference_data import build_inference_data
    from probkm.core.likelihood import kmeans_objective_pointwise, plugin_sigma
    from probkm.core.models import kmeans_objective_model
    from probkm.inference.posterior import sample_posterior

    kwargs = {"n_components": config.model.n_components, "tau": config.identifiability.tau, **{k: v for k, v in gmm.model_kwargs_.items() if k in ("loc_center", "loc_scale", "sigma_scale", "sigma_prior")}}
    key_fit, key_idata = jax.random.split(jax.random.key(config.seed + 2))
    init = {"means": gmm.map_["means"], "sigma": gmm.map_["sigma"]}
    samples, stats = sample_posterior(
        key_fit, X, kmeans_objective_model, init_values=init, reference=gmm.map_["means"], scaling=gmm.scaling_,
        num_warmup=config.mcmc.num_warmup, num_samples=config.mcmc.num_samples, num_chains=config.mcmc.num_chains,
        progress_bar=progress_bar, relabel=config.mcmc.relabel, **kwargs,
    )
    idata = build_inference_data(key_idata, kmeans_objective_model, X, samples, model_kwargs=kwargs, scaling=gmm.scaling_, sample_stats=stats, num_prior_samples=config.mcmc.num_samples, posterior_predictive=False)
    x, means = (jax.numpy.asarray(gmm.scaling_.forward(a), dtype=jax.numpy.result_type(float)) for a in (X, gmm.map_["means"]))
    write_netcdf(out / "kmeans_objective_nuts.nc", idata)
    inertia = float(np.sum(np.asarray(kmeans_objective_pointwise(x, means), dtype=float))) * gmm.scaling_.scale**2
    plugin = float(plugin_sigma(inertia, *X.shape))
    write_figure(out / "sigma.png", plot_sigma_prior_posterior({"gmm": gmm.idata_, "kmeans": idata}, plugin))
    return {"gmm": _sigma_summary(gmm.idata_), "kmeans": _sigma_summary(idata)}


def _within_cluster_sd(X: np.ndarray, labels: np.ndarray) -> float:
    """Pooled per-coordinate sd of ``X`` around the mean of its own label group."""
    residual = X.copy()
    for label in np.unique(labels):
        residual[labels == label] -= X[labels == label].mean(axis=0)
    return float(np.sqrt(np.mean(residual**2)))
