"""Figures for fits and generated data, drawn on ``matplotlib.figure.Figure`` objects (no
pyplot state). Each figure has a title, labelled axes and a legend. Only the first two
features are drawn."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle


def _scatter(ax, X: np.ndarray, labels: np.ndarray | None, name: str, alpha: float = 0.5):
    if X.shape[1] == 1:
        X = np.c_[X, np.zeros(len(X))]
    colour = {"c": np.asarray(labels) % 10, "cmap": "tab10", "vmin": 0, "vmax": 9} if labels is not None else {"color": "tab:blue"}
    ax.scatter(X[:, 0], X[:, 1], s=8, alpha=alpha, label=name, **colour)


def _axes_labels(ax, n_features: int) -> None:
    ax.set_xlabel("feature 0")
    ax.set_ylabel("feature 1" if n_features > 1 else "(one feature)")


def plot_clusters(X: np.ndarray, means: np.ndarray, sigma: float, *, labels: np.ndarray | None = None, title: str = "Data, fitted centroids and one-sigma circles") -> Figure:
    """Data ``X (N, D)`` with centroids ``means (K, D)`` and circles of radius ``sigma``."""
    fig = Figure(figsize=(5.5, 5))
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
    fig = Figure(figsize=(4.2 * (1 + len(generated)), 4.2))
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
