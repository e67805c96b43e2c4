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

    from probkm.estimators.annealed_kmeans import AnnealedKMeans


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
    """Data ``X (N, D)`` with centroids ``means (K, D)`` and circles of radius ``sigma``.

    Parameters
    ----------
    X : ndarray, shape (N, D)
        The data; only the first two features are drawn (one feature: on a line).
    means : ndarray, shape (K, D)
        Centroids, units of ``X``.
    sigma : float
        Radius of each circle, units of ``X``.
    labels : ndarray of int, shape (N,), optional
        Colours the points by cluster.
    title : str

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.reporting.plots import plot_clusters
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> fig = plot_clusters(X, np.array([[0.0, 0.0], [6.0, 6.0]]), 1.0, labels=np.repeat([0, 1], 20))
    >>> len(fig.axes), fig.axes[0].get_title()
    (1, 'Data, fitted centroids and one-sigma circles')
    """
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
    """Real data in the first panel, then one panel per ``(name, X, labels)`` generated set.

    Parameters
    ----------
    real : ndarray, shape (N, D)
    generated : sequence of (str, ndarray, ndarray or None)
        Name, points ``(M, D)`` and labels ``(M,)`` (or ``None``) of each generated set.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        Panels sharing their axes, so the sets compare at a glance.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.reporting.plots import plot_generated
    >>> X = np.random.default_rng(0).normal(size=(40, 2))
    >>> fig = plot_generated(X, [("shifted", X + 1.0, None)])
    >>> [ax.get_title() for ax in fig.axes]
    ['real data', 'generated: shifted']
    """
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
    """ArviZ's trace plot (``kind="rank_bars"`` for rank plots) of ``var_names``, as a Figure.

    Parameters
    ----------
    idata : arviz.InferenceData
        With a ``posterior`` group holding ``var_names``.
    var_names : sequence of str
    kind : {"rank_bars", "rank_vlines", "trace"}
        The right-hand panels, passed to :func:`arviz.plot_trace`.

    Returns
    -------
    matplotlib.figure.Figure
        Detached from pyplot's registry: closing it is not needed.

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> from probkm.reporting.plots import plot_trace
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"sigma": rng.gamma(50, 0.02, (2, 50)), "weights": rng.dirichlet([5, 5], (2, 50))})
    >>> len(plot_trace(idata).axes)  # densities and rank plots of sigma and of the weights
    4
    """
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
    """A figure with ``n`` axes in rows of at most three, titled ``title``.

    Parameters
    ----------
    n : int
        Panels wanted, at least 1.
    title : str
    width, height : float
        Size of one panel, inches.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : ndarray of matplotlib.axes.Axes, shape (n,)
        The visible axes; the unused ones of the last row are hidden.

    Examples
    --------
    >>> from probkm.reporting.plots import panels
    >>> fig, axes = panels(4, "four panels")
    >>> len(axes), len(fig.axes), sum(ax.get_visible() for ax in fig.axes)
    (4, 6, 4)
    """
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig, axes[:n]


def draws_of(dataset, name: str) -> np.ndarray:
    """Variable ``name`` of an ArviZ group as float draws ``(chain * draw, ...)``.

    Parameters
    ----------
    dataset : xarray.Dataset
        An ArviZ group, such as ``idata.posterior``, with dimensions ``(chain, draw, ...)``.
    name : str

    Returns
    -------
    ndarray of float, shape (chain * draw, ...)

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> from probkm.reporting.plots import draws_of
    >>> idata = az.from_dict(posterior={"means": np.zeros((2, 50, 3, 2))})
    >>> draws_of(idata.posterior, "means").shape
    (100, 3, 2)
    """
    return np.asarray(dataset[name].values, dtype=float).reshape(-1, *dataset[name].shape[2:])


def plot_sigma_prior_posterior(idata: Mapping[str, "az.InferenceData"], plugin_sigma: float) -> Figure:
    """Prior and posterior densities of ``log10(sigma)``, one panel per model (log-scale x).

    Each density has its own bins: a contracted posterior needs far finer bins than its prior.

    Parameters
    ----------
    idata : mapping of str to arviz.InferenceData
        Model label to its fit, with ``sigma`` in the ``prior`` and ``posterior`` groups.
    plugin_sigma : float
        The plug-in ``sqrt(J / (N D))``, drawn as a dashed line, units of x.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> from probkm.reporting.plots import plot_sigma_prior_posterior
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"sigma": rng.gamma(50, 0.02, (2, 50))}, prior={"sigma": np.abs(rng.normal(size=(1, 200)))})
    >>> fig = plot_sigma_prior_posterior({"gmm": idata}, plugin_sigma=1.0)
    >>> len(fig.axes), fig.axes[0].get_xscale()
    (1, 'log')
    """
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
    """Centroid coordinates against the annealing temperature, critical temperatures marked.

    Parameters
    ----------
    kmeans : AnnealedKMeans
        A fitted estimator with an annealing path (not one from :func:`probkm.from_sklearn`).
    max_features : int
        Features drawn per cluster.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from probkm import AnnealedKMeans
    >>> from probkm.reporting.plots import plot_annealing_path
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> km = AnnealedKMeans(2, n_temperatures=10, random_state=0).fit(X)
    >>> fig = plot_annealing_path(km)
    >>> len(fig.axes), fig.axes[0].get_xscale()
    (1, 'log')
    """
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
