"""Figures of a K-scan: the criterion against ``K`` (like mclust's BIC plot) and the annealing staircase.

Matplotlib only; each function takes the numbers it draws and returns the figure.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

LABELS = {"bic": "BIC", "aic": "AIC", "icl": "ICL", "loo": "LOO-IC (-2 elpd_loo)", "annealing": "- plateau width in log T"}


def plot_criterion(
    candidates: Sequence[int],
    scores: Mapping[str, Sequence[float]],
    criterion: str,
    chosen: int,
    *,
    errors: Sequence[float] | None = None,
    weights: Sequence[float] | None = None,
    title: str | None = None,
) -> Figure:
    """Each criterion against ``K`` (lower is better), the one that chose drawn bold and its choice marked.

    Parameters
    ----------
    candidates : sequence of int
        The ``K`` scanned.
    scores : mapping of str to sequence of float
        ``{criterion: values per K}``; NaN where a ``K`` has no value.
    criterion : str
        The criterion that chose (a key of ``scores``).
    chosen : int
        The chosen ``K``.
    errors : sequence of float, optional
        Standard errors of ``scores[criterion]`` (drawn as two-sided bars of twice their size).
    weights : sequence of float, optional
        Model weights per ``K`` (stacking), drawn as bars on a second axis.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from probkm.selection.plots import plot_criterion
    >>> fig = plot_criterion([1, 2, 3], {"bic": [30.0, 10.0, 12.0], "aic": [29.0, 8.0, 9.0]}, "bic", 2)
    >>> [line.get_label() for line in fig.axes[0].get_lines()][:2]
    ['BIC', 'AIC']
    """
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    k = np.asarray(candidates)
    if weights is not None:
        twin = ax.twinx()
        twin.bar(k, weights, width=0.5, color="tab:gray", alpha=0.3, label="stacking weight")
        twin.set_ylim(0, 1)
        twin.set_ylabel("stacking weight")
    for name, values in scores.items():
        main = name == criterion
        ax.plot(k, values, marker="o" if main else ".", lw=2.2 if main else 1.0, ls="-" if main else "--", label=LABELS.get(name, name), zorder=3 if main else 2)
        if main and errors is not None:
            ax.errorbar(k, values, yerr=2 * np.asarray(errors), fmt="none", ecolor="k", capsize=3, lw=0.8)
    ax.axvline(chosen, color="k", ls=":", lw=1)
    ax.set_xticks(k)
    ax.set_xlabel("number of components K")
    ax.set_ylabel("criterion (lower is better)")
    ax.set_title(title or f"{LABELS.get(criterion, criterion)} against K: K = {chosen}")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def plot_staircase(staircase: Any, *, chosen: int | None = None, title: str | None = None) -> Figure:
    """Distinct centroids against temperature, with the bootstrap band and the analytic critical temperatures.

    Parameters
    ----------
    staircase : probkm.selection.staircase.Staircase
    chosen : int, optional
        The ``K`` whose step is shaded; the staircase's own choice by default.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Temperature falls from left to right (log axis). Dotted lines: the analytic critical
        temperature of the group that split at each observed split; the first is ``1/2``.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.selection.staircase import annealing_staircase
    >>> from probkm.selection.plots import plot_staircase
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(-5, 1, (40, 1)), rng.normal(5, 1, (40, 1))]
    >>> fig = plot_staircase(annealing_staircase(X, 3, n_temperatures=30, random_state=0))
    >>> fig.axes[0].get_xscale()
    'log'
    """
    chosen = staircase.n_components if chosen is None else chosen
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    t = staircase.temperatures
    if staircase.bootstrap_counts.size:
        low, high = staircase.band()
        ax.fill_between(t, low, high, step="post", color="tab:blue", alpha=0.2, label=f"bootstrap 5-95% ({len(staircase.bootstrap_counts)} resamples)")
    ax.step(t, staircase.counts, where="post", color="tab:blue", lw=2, label="distinct centroids")
    for i, split in enumerate(staircase.splits):
        ax.axvline(split.t_critical, color="tab:red", ls=":", lw=1, label="analytic critical temperature" if i == 0 else None)
    for step in staircase.plateaus:
        if step.n_components == chosen:
            ax.axvspan(step.t_low, step.t_high, color="tab:green", alpha=0.15, label=f"chosen step, K = {chosen}")
    ax.set_xscale("log")
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel("temperature T (falling)")
    ax.set_ylabel("distinct centroids")
    ax.set_title(title or "Deterministic-annealing staircase")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["plot_criterion", "plot_staircase"]
