"""Figures for fits and generated data, drawn on ``matplotlib.figure.Figure`` objects (no
pyplot state). Each figure has a title, labelled axes and a legend. Only the first two
features are drawn."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle

if TYPE_CHECKING:  # pragma: no cover
    import arviz as az

    from probkm.cluster import AnnealedKMeans


def _scatter(ax, X: np.ndarray, labels: np.ndarray | None, name: str, alpha: float = 0.5):
    if X.shape[1] == 1:
        X = np.c_[X, np.zeros(len(X))]
    if labels is None:
        ax.scatter(X[:, 0], X[:, 1], s=8, alpha=alpha, color="tab:blue", label=name)
        return
    ax.scatter(X[:, 0], X[:, 1], s=8, alpha=alpha, c=np.asarray(labels) % 10, cmap="tab10", vmin=0, vmax=9)
    ax.scatter([], [], s=8, color="0.4", label=f"{name} (colour = cluster)")  # a neutral legend entry


def _axes_labels(ax, n_features: int) -> None:
    ax.set_xlabel("feature 0")
    ax.set_ylabel("feature 1" if n_features > 1 else "(one feature)")


def plot_clusters(X: np.ndarray, means: np.ndarray, sigma: float, *, labels: np.ndarray | None = None, title: str = "Data, fitted centroids and one-sigma circles") -> Figure:
    """Data ``X (N, D)`` with centroids ``means (K, D)`` and circles of radius ``sigma``."""
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.add_subplot()
    _scatter(ax, X, labels, "data")
    centre_y = means[:, 1] if means.shape[1] > 1 else np.zeros(len(means))
    ax.scatter(means[:, 0], centre_y, marker="X", s=120, c="black", label="centroids")
    for x0, y0 in zip(means[:, 0], centre_y):
        ax.add_patch(Circle((x0, y0), sigma, fill=False, color="black", lw=1.2))
    ax.plot([], [], color="black", lw=1.2, label=f"one sigma ({sigma:.3g})")
    ax.set_aspect("equal", adjustable="datalim")
    _axes_labels(ax, X.shape[1])
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return fig


def plot_generated(real: np.ndarray, generated: Sequence[tuple[str, np.ndarray, np.ndarray | None]], *, title: str = "Real data beside generated data") -> Figure:
    """Real data in the first panel, then one panel per ``(name, X, labels)`` generated set."""
    fig = Figure(figsize=(4.2 * (1 + len(generated)), 4.4), layout="constrained")
    axes = fig.subplots(1, 1 + len(generated), sharex=True, sharey=True, squeeze=False)[0]
    _scatter(axes[0], real, None, "real")
    axes[0].set_title("real data")
    for ax, (name, X, labels) in zip(axes[1:], generated):
        _scatter(ax, X, labels, f"generated ({name})")
        ax.set_title(f"generated: {name}")
    for ax in axes:
        _axes_labels(ax, real.shape[1])
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(title)
    return fig


def plot_trace(idata, var_names: Sequence[str] = ("sigma", "weights"), *, kind: str = "rank_bars") -> Figure:
    """ArviZ's trace plot (``kind="rank_bars"`` for rank plots) of ``var_names``, as a Figure."""
    import warnings

    import arviz as az
    import matplotlib.pyplot as plt
    from matplotlib import MatplotlibDeprecationWarning

    with warnings.catch_warnings():
        # ArviZ 0.23 calls a matplotlib helper that matplotlib 3.11 deprecates; nothing to fix here
        warnings.filterwarnings("ignore", category=MatplotlibDeprecationWarning)
        axes = az.plot_trace(idata, var_names=list(var_names), kind=kind, compact=True, legend=True)
    fig = np.ravel(axes)[0].figure
    fig.suptitle("NUTS chains: traces and rank plots after relabelling")
    fig.tight_layout()
    plt.close(fig)  # detach from pyplot's registry; the Figure object stays usable
    return fig


def panels(n: int, title: str, width: float = 4.2, height: float = 3.4):
    """A figure with ``n`` axes in rows of at most three, titled ``title``."""
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig, axes[:n]


def draws_of(dataset, name: str) -> np.ndarray:
    """Variable ``name`` of an ArviZ group as float draws ``(chain * draw, ...)``."""
    return np.asarray(dataset[name].values, dtype=float).reshape(-1, *dataset[name].shape[2:])


def plot_sigma_prior_posterior(idata: Mapping[str, "az.InferenceData"], plugin_sigma: float) -> Figure:
    """Prior and posterior densities of ``log10(sigma)``, one panel per model (log-scale x)."""
    fig, axes = panels(len(idata), "Prior vs posterior of sigma")
    for ax, (label, data) in zip(axes, idata.items()):
        prior, post = draws_of(data.prior, "sigma"), draws_of(data.posterior, "sigma")
        for draws, name, colour in ((prior, "prior", "C7"), (post, "posterior", "C0")):
            # each density on its own bins: a contracted posterior needs far finer bins than its prior
            logs = np.log10(draws[draws > 0])
            lo, hi = np.quantile(logs, [0.002, 1.0])
            edges = np.linspace(lo, max(hi, lo + 1e-6), 60)
            density, _ = np.histogram(logs, bins=edges, density=True)
            ax.stairs(density, 10**edges, fill=name == "prior", alpha=0.5 if name == "prior" else 1.0, color=colour, label=name)
        ax.axvline(plugin_sigma, color="C3", linestyle="--", label=f"plug-in sigma = {plugin_sigma:.3g}")
        ax.set_xscale("log")
        ax.set(title=label, xlabel="sigma (units of x, log scale)", ylabel="density of log10(sigma)")
        ax.legend(fontsize="small")
    return fig


def plot_annealing_path(kmeans: "AnnealedKMeans", max_features: int = 2) -> Figure:
    """Centroid coordinates against the annealing temperature, critical temperatures marked."""
    temperatures, path = kmeans.temperatures_, kmeans.annealing_path_
    n_features = min(max_features, path.shape[2])
    fig = Figure(figsize=(9.5, 4.5), layout="constrained")
    ax = fig.subplots()
    styles = ("-", "--", "-.", ":")
    for k in range(path.shape[1]):
        for d in range(n_features):
            ax.plot(temperatures, path[:, k, d], color=f"C{k}", linestyle=styles[d % 4], label=f"cluster {k}, feature {d}")
    ax.axvline(kmeans.first_critical_temperature_, color="k", linestyle="--", linewidth=1.5,
               label=f"first critical T = {kmeans.first_critical_temperature_:g}")
    for k, t in enumerate(kmeans.critical_temperatures_):
        if t > 0:
            ax.axvline(t, color=f"C{k}", linestyle=":", linewidth=1.2, label=f"critical T of cluster {k} = {t:.2g}")
    ax.set_xscale("log")
    ax.set(title="Deterministic annealing path of the centroids (equal weights)",
           xlabel="temperature T (log scale; decreases left to right)", ylabel="centroid coordinate (units of x)")
    ax.invert_xaxis()
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig
