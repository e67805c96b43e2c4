"""Outputs of the identifiability study (:mod:`probkm.studies.identifiability`): figures, the markdown
report, written with ``identifiability.json`` into a folder (atomically, by :mod:`probkm.reporting.outputs`).

Figures are built on :class:`matplotlib.figure.Figure` directly, which needs no pyplot and
no global backend, and are saved with ``Figure.savefig``. Every figure has a title,
labelled axes and a legend.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
from matplotlib.figure import Figure

from probkm.studies.diagnostics import SENSITIVITY_THRESHOLD
from probkm.reporting.outputs import write_figure, write_text
from probkm.reporting.plots import draws_of, panels, plot_annealing_path, plot_sigma_prior_posterior

if TYPE_CHECKING:  # pragma: no cover
    import arviz as az

    from probkm.studies.identifiability import IdentifiabilityResult

PARAMETERS = ("sigma", "means", "weights")
_MAX_SCATTER = 3000  # points per scatter panel: enough to show the shape, small PNGs


def plot_sigma_mean_pairs(idata: Mapping[str, "az.InferenceData"], plugin_sigma: float) -> Figure:
    """Posterior draws of sigma against ``means[0, 0]``, one panel per model.

    Parameters
    ----------
    idata : mapping of str to arviz.InferenceData
        Model label to its fit, with ``sigma`` and ``means`` in the ``posterior`` group.
    plugin_sigma : float
        Drawn as a horizontal line, units of x.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> from probkm.studies.identifiability_report import plot_sigma_mean_pairs
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"sigma": rng.gamma(50, 0.02, (2, 50)), "means": rng.normal(size=(2, 50, 2, 2))})
    >>> len(plot_sigma_mean_pairs({"gmm": idata, "kmeans": idata}, plugin_sigma=1.0).axes)
    2
    """
    fig, axes = panels(len(idata), "Posterior draws: sigma against one mean coordinate")
    for ax, (label, data) in zip(axes, idata.items()):
        sigma, mean = draws_of(data.posterior, "sigma"), draws_of(data.posterior, "means")[:, 0, 0]
        keep = np.linspace(0, sigma.size - 1, min(sigma.size, _MAX_SCATTER)).astype(int)
        ax.scatter(mean[keep], sigma[keep], s=3, alpha=0.3, color="C0", label="posterior draws")
        ax.axhline(plugin_sigma, color="C3", linestyle="--", label="plug-in sigma")
        ax.set(title=label, xlabel="means[cluster 0, feature 0] (units of x)", ylabel="sigma (units of x)")
        ax.legend(fontsize="small", loc="upper right")
    return fig


def _model_rows(summary: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    models = summary["models"]
    rows = [("gmm", models["gmm"])]
    rows += [(f"annealed T={t}", s) for t, s in models["annealed"].items()]
    return rows + [("kmeans", models["kmeans"])]


def plot_sensitivity(summary: Mapping[str, Any]) -> Figure:
    """Prior and likelihood power-scaling sensitivity (worst element) per model and parameter.

    Parameters
    ----------
    summary : mapping
        The study's summary (``IdentifiabilityResult.summary``); only ``"models"`` is read.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: sensitivity to the prior, and to the likelihood.

    Examples
    --------
    >>> from probkm.studies.identifiability_report import plot_sensitivity
    >>> stats = {"prior_sensitivity": 0.01, "likelihood_sensitivity": 0.1}
    >>> summary = {"models": {"gmm": {"sigma": stats}, "annealed": {}, "kmeans": {"sigma": stats}}}
    >>> len(plot_sensitivity(summary).axes)
    2
    """
    rows = _model_rows(summary)
    fig, axes = panels(2, "Power-scaling sensitivity (arviz.psens), worst element", width=6.0, height=3.8)
    width = 0.8 / len(PARAMETERS)
    for ax, (key, title) in zip(axes, (("prior_sensitivity", "prior"), ("likelihood_sensitivity", "likelihood"))):
        for j, name in enumerate(PARAMETERS):
            where = [i for i, (_, s) in enumerate(rows) if name in s]
            heights = [rows[i][1][name][key] for i in where]
            ax.bar(np.asarray(where) + (j - 1) * width, heights, width, color=f"C{j}", label=name)
        ax.axhline(SENSITIVITY_THRESHOLD, color="k", linestyle="--", label=f"threshold {SENSITIVITY_THRESHOLD}")
        ax.set_xticks(range(len(rows)), [label for label, _ in rows], rotation=20)
        ax.set(title=f"sensitivity to the {title}", xlabel="model", ylabel="sensitivity (CJS distance per log alpha)")
        ax.legend(fontsize="small")
    return fig


def all_figures(result: "IdentifiabilityResult") -> dict[str, Figure]:
    """Every figure of the study, keyed by its file stem.

    Parameters
    ----------
    result : IdentifiabilityResult

    Returns
    -------
    dict of str to matplotlib.figure.Figure
        Keys ``sigma_prior_posterior``, ``sigma_mean_pairs``, ``sensitivity`` and
        ``annealing_path``.

    Examples
    --------
    A result takes over a minute to compute (not run here):

    >>> from probkm.studies.identifiability import run_identifiability
    >>> result = run_identifiability(random_state=0)  # doctest: +SKIP
    >>> from probkm.studies.identifiability_report import all_figures
    >>> sorted(all_figures(result))  # doctest: +SKIP
    ['annealing_path', 'sensitivity', 'sigma_mean_pairs', 'sigma_prior_posterior']
    """
    plugin = result.summary["plugin_sigma"]
    return {
        "sigma_prior_posterior": plot_sigma_prior_posterior(result.idata, plugin),
        "sigma_mean_pairs": plot_sigma_mean_pairs(result.idata, plugin),
        "sensitivity": plot_sensitivity(result.summary),
        "annealing_path": plot_annealing_path(result.kmeans),
    }


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return value
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _conclusion(summary: Mapping[str, Any]) -> str:
    """The study's conclusion in plain words, each claim decided by the numbers it quotes."""
    models, ratio = summary["models"], summary["prior_scale_ratio"]
    factor = summary["settings"]["prior_scale_factor"]
    gmm, km = models["gmm"]["sigma"], models["kmeans"]["sigma"]

    def identified(stats, r):
        return stats["contraction"] > 0.9 and abs(math.log(r)) < 0.1 * math.log(factor)

    def verb(ok):
        return "identify" if ok else "do not identify"

    lines = [
        f"Under the spherical GMM the data {verb(identified(gmm, ratio['gmm']))} sigma: the posterior contracts by "
        f"{gmm['contraction']:.3f} relative to the prior, widening the prior {factor:g}x changes the posterior median "
        f"by a factor {ratio['gmm']:.3f}, and the posterior median {summary['gmm_sigma_posterior_median']:.3f} sits beside "
        f"the plug-in sigma_hat = sqrt(J/(N D)) = {summary['plugin_sigma']:.3f}.",
        f"Under the k-means objective the data {verb(identified(km, ratio['kmeans']))} sigma: contraction "
        f"{km['contraction']:.3f}, the posterior median moves by a factor {ratio['kmeans']:.2f} when the prior is widened "
        f"{factor:g}x, and power-scaling gives prior sensitivity {km['prior_sensitivity']:.3f} and likelihood sensitivity "
        f"{km['likelihood_sensitivity']:.4f} (verdict: {km['verdict']}).",
    ]
    annealed = models["annealed"]
    if annealed:
        worst = min(s["sigma"]["contraction"] for s in annealed.values())
        lines.append(
            f"The annealed likelihood keeps its normaliser -(N D / 2) log(2 pi sigma^2): at T = {', '.join(annealed)} the lowest "
            f"contraction of sigma is {worst:.3f}, so it is the objective J, not the T -> 0 limit of the likelihood, that "
            "drops sigma."
        )
    means = min(s["means"]["contraction"] for _, s in _model_rows(summary))
    profile = summary["sigma_profile"]
    lines.append(
        f"The centroids are identified in every model (lowest contraction of any mean coordinate: {means:.3f}), and the "
        f"T -> 0 centroids ignore sigma: over sigma in [{min(profile['sigma_values']):.3g}, {max(profile['sigma_values']):.3g}] "
        f"they move by at most {summary['sigma_profile_max_centroid_shift']:.2g} (units of x; "
        f"{summary['sigma_profile_max_centroid_shift'] / summary['data_scale']:.2g} of the data's scale) at "
        f"T = {min(profile['t_mins']):g}."
    )
    lines.append(
        "So k-means is a generative model only once sigma is brought back from outside its objective: "
        "the plug-in estimate, a prior, or the mixture's posterior."
    )
    return "\n\n".join(lines)


def render_report(summary: Mapping[str, Any], figures: Mapping[str, str]) -> str:
    """``report.md``: conclusion, the diagnostics table, the sigma experiments and the figures.

    Parameters
    ----------
    summary : mapping
        The study's summary (what ``identifiability.json`` holds).
    figures : mapping of str to str
        Figure name to its path relative to the report.

    Returns
    -------
    str
        Markdown text.

    Examples
    --------
    A summary takes over a minute to compute (not run here):

    >>> from probkm.studies.identifiability import run_identifiability
    >>> result = run_identifiability(random_state=0)  # doctest: +SKIP
    >>> from probkm.studies.identifiability_report import render_report
    >>> render_report(result.summary, {"sensitivity": "sensitivity.png"}).splitlines()[0]  # doctest: +SKIP
    '# Is sigma identifiable under k-means?'
    """
    header = "| model | parameter | contraction | prior sens. | likelihood sens. | verdict | R-hat | ESS bulk | ESS tail |"
    table = [header, "|" + "---|" * (header.count("|") - 1)]
    divergences = []
    for label, stats in _model_rows(summary):
        divergences.append(f"{label}: {stats['divergences']}")
        for name in PARAMETERS:
            if name in stats:
                s = stats[name]
                cells = [s[k] for k in ("contraction", "prior_sensitivity", "likelihood_sensitivity", "verdict", "r_hat", "ess_bulk", "ess_tail")]
                table.append(f"| {label} | {name} | " + " | ".join(_fmt(c) for c in cells) + " |")
    medians, prior = summary["prior_scale_medians"], summary["sigma_prior"]
    lo, hi = summary["gmm_sigma_posterior_interval_94"]
    profile = summary["sigma_profile"]
    parts = [
        "# Is sigma identifiable under k-means?", "## Conclusion", _conclusion(summary),
        "## Diagnostics per model and parameter",
        "Vector parameters show their worst element after relabelling (lowest contraction and ESS, highest R-hat and "
        f"prior sensitivity, lowest likelihood sensitivity). Verdicts follow priorsense: threshold {SENSITIVITY_THRESHOLD}.",
        "\n".join(table), f"Divergent transitions: {', '.join(divergences)}.",
        "## Sigma experiments",
        f"Prior on sigma: {prior['name']} with scale {prior['scale']:.3g}, widened to {prior['scale_widened']:.3g}.",
        "| | GMM | k-means objective |\n|---|---|---|\n"
        f"| posterior median of sigma | {medians['gmm']['base']:.4g} | {medians['kmeans']['base']:.4g} |\n"
        f"| ... with the widened prior | {medians['gmm']['widened']:.4g} | {medians['kmeans']['widened']:.4g} |\n"
        f"| ratio | {summary['prior_scale_ratio']['gmm']:.3f} | {summary['prior_scale_ratio']['kmeans']:.3f} |",
        f"Plug-in sigma_hat = sqrt(J/(N D)) = {summary['plugin_sigma']:.4g}; GMM posterior median {summary['gmm_sigma_posterior_median']:.4g} "
        f"(94% interval {lo:.4g} to {hi:.4g}).",
        "Sigma profile (largest change of any T -> 0 centroid coordinate over the sigma grid, units of x): "
        + ", ".join(f"T = {t:g}: {s:.3g}" for t, s in zip(profile["t_mins"], profile["max_centroid_shift"])) + ".",
        "## Figures",
    ]
    parts += [f"![{name}]({path})" for name, path in figures.items()]
    return "\n\n".join(parts) + "\n"


def _strict_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (JSON has no NaN or infinity)."""
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_identifiability(result: "IdentifiabilityResult", out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``identifiability.json``, ``report.md`` and the PNG figures into ``out_dir``.

    Every file is written atomically (a temporary file in ``out_dir``, then a rename).
    Non-finite numbers are written to the JSON as ``null``.

    Parameters
    ----------
    result : IdentifiabilityResult
    out_dir : str or os.PathLike
        Created if missing.

    Returns
    -------
    dict of str to pathlib.Path
        File role to path: ``"json"``, ``"report"`` and one entry per figure
        (``sigma_prior_posterior``, ``sigma_mean_pairs``, ``sensitivity``, ``annealing_path``).

    Examples
    --------
    A result takes over a minute to compute (not run here):

    >>> import tempfile
    >>> from probkm.studies.identifiability import run_identifiability
    >>> result = run_identifiability(random_state=0)  # doctest: +SKIP
    >>> from probkm.studies.identifiability_report import write_identifiability
    >>> sorted(write_identifiability(result, tempfile.mkdtemp()))  # doctest: +SKIP
    ['annealing_path', 'json', 'report', 'sensitivity', 'sigma_mean_pairs', 'sigma_prior_posterior']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "identifiability.json", "report": out / "report.md"}
    write_text(paths["json"], json.dumps(_strict_json(result.summary), indent=2, allow_nan=False) + "\n")
    figures = all_figures(result)
    for name, figure in figures.items():
        paths[name] = out / f"{name}.png"
        write_figure(paths[name], figure)
    write_text(paths["report"], render_report(result.summary, {name: f"{name}.png" for name in figures}))
    return paths
