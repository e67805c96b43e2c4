"""Rank statistics of simulation-based calibration: ranks, their uniformity test and figure.

See :mod:`probkm.studies.calibration` for the simulations. ``P`` is the number of scalars
checked and ``L`` the posterior draws each rank is taken among.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from probkm._checks import InvalidValue, check_positive_int

GROUPS = ("sigma", "weights", "means")


@dataclass(frozen=True)
class SBCResult:
    """Result of :func:`~probkm.studies.calibration.simulation_based_calibration`.

    ``P`` is the number of scalars checked, ``1 + K + K * D``, in the order of ``names``.

    Attributes
    ----------
    names : tuple of str, length P
        Scalar names: ``"sigma"``, ``"weights[k]"``, ``"means[k,d]"``.
    groups : tuple of str, length P
        The group of each scalar: ``"sigma"``, ``"weights"`` or ``"means"``.
    truth : ndarray, shape (n_simulations, P)
        True values (labelled as the draws are).
    draws : ndarray, shape (n_simulations, n_draws, P)
        Thinned, relabelled posterior draws.
    ranks : ndarray of int, shape (n_simulations, P)
        Rank of each true value among the draws, in ``0..n_draws``.
    n_draws : int
        ``L``, thinned draws per simulation.
    n_bins : int
        Histogram bins of the chi-square test.
    alpha : float
        Family-wise significance level.
    threshold : float
        Per-scalar level, ``alpha / P`` (Bonferroni).
    p_values : ndarray, shape (P,)
        Chi-square p-values.
    passed : ndarray of bool, shape (P,)
        ``p_values >= threshold``.
    divergences : ndarray of int, shape (n_simulations,)
        Divergent post-warmup transitions of each chain.
    settings : dict
        The prior, data shape and sampler settings, for the record.

    Examples
    --------
    Ranks drawn uniformly, as an exact sampler would give them:

    >>> import numpy as np
    >>> from probkm.studies.sbc_ranks import SBCResult, rank_uniformity_test
    >>> ranks = np.random.default_rng(0).integers(0, 21, size=(50, 2))
    >>> p, passed, threshold, n_bins = rank_uniformity_test(ranks, 20)
    >>> result = SBCResult(("sigma", "weights[0]"), ("sigma", "weights"), np.zeros((50, 2)), np.zeros((50, 20, 2)),
    ...                    ranks, 20, n_bins, 0.01, threshold, p, passed, np.zeros(50, dtype=int))
    >>> result.all_passed, result.group_passed(), result.to_dict()["n_simulations"]
    (True, {'sigma': True, 'weights': True}, 50)
    """

    names: tuple[str, ...]
    groups: tuple[str, ...]
    truth: np.ndarray
    draws: np.ndarray
    ranks: np.ndarray
    n_draws: int
    n_bins: int
    alpha: float
    threshold: float
    p_values: np.ndarray
    passed: np.ndarray
    divergences: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def all_passed(self) -> bool:
        """Whether every scalar passed the Bonferroni-corrected uniformity test.

        Returns
        -------
        bool
        """
        return bool(np.all(self.passed))

    def group_passed(self) -> dict[str, bool]:
        """Pass/fail of each group: a group passes when all of its scalars do.

        Returns
        -------
        dict of str to bool
            Group name (``"sigma"``, ``"weights"``, ``"means"``; those present) to its verdict.
        """
        groups = np.asarray(self.groups)
        return {g: bool(np.all(self.passed[groups == g])) for g in GROUPS if np.any(groups == g)}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no draws): settings, per-scalar p-values and pass/fail, ranks.

        Returns
        -------
        dict
            Keys ``settings``, ``n_simulations``, ``n_draws``, ``n_bins``, ``alpha``,
            ``threshold``, ``all_passed``, ``groups_passed``, ``parameters`` (name to group,
            p-value and pass/fail), ``divergences_total``, ``simulations_with_divergences``
            and ``ranks`` (name to the list of its ranks).
        """
        return {
            "settings": self.settings,
            "n_simulations": int(self.ranks.shape[0]),
            "n_draws": self.n_draws,
            "n_bins": self.n_bins,
            "alpha": self.alpha,
            "threshold": self.threshold,
            "all_passed": self.all_passed,
            "groups_passed": self.group_passed(),
            "parameters": {
                name: {"group": group, "p_value": float(p), "passed": bool(ok)}
                for name, group, p, ok in zip(self.names, self.groups, self.p_values, self.passed)
            },
            "divergences_total": int(np.sum(self.divergences)),
            "simulations_with_divergences": int(np.sum(self.divergences > 0)),
            "ranks": {name: self.ranks[:, j].tolist() for j, name in enumerate(self.names)},
        }


def sbc_ranks(truth: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Rank of each true scalar among its posterior draws: ``sum_l [draw_l < truth]``.

    Parameters
    ----------
    truth : array_like, shape (n_simulations, P)
    draws : array_like, shape (n_simulations, L, P)

    Returns
    -------
    ndarray of int, shape (n_simulations, P)
        Integers in ``0..L``.

    Raises
    ------
    InvalidValue
        The shapes do not match.

    Examples
    --------
    >>> from probkm.studies.sbc_ranks import sbc_ranks
    >>> sbc_ranks([[0.5]], [[[0.1], [0.4], [0.6], [0.9]]])
    array([[2]])
    """
    truth = np.asarray(truth, dtype=float)
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 3 or truth.shape != (draws.shape[0], draws.shape[2]):
        raise InvalidValue(f"Expected truth (S, P) and draws (S, L, P); got {truth.shape} and {draws.shape}.")
    return np.sum(draws < truth[:, None, :], axis=1)


def default_n_bins(n_simulations: int, n_draws: int) -> int:
    """Bins for the chi-square test: 10, fewer when that would leave under 5 simulations
    per bin (the chi-square approximation needs about 5), never more than ``L + 1``.

    Parameters
    ----------
    n_simulations : int
    n_draws : int
        ``L``, the draws each rank is taken among.

    Returns
    -------
    int
        At least 2.

    Examples
    --------
    >>> from probkm.studies.sbc_ranks import default_n_bins
    >>> default_n_bins(100, 99), default_n_bins(20, 99), default_n_bins(100, 3)
    (10, 4, 4)
    """
    return int(max(2, min(10, n_simulations // 5, n_draws + 1)))


def _uniform_bin_probabilities(n_draws: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges over ranks ``0..L`` and the exact probability of each bin under uniformity."""
    edges = np.linspace(0.0, n_draws + 1.0, n_bins + 1)
    # bin j holds the integer ranks r with edges[j] <= r < edges[j+1]
    counts = np.diff(np.ceil(edges)).astype(float)
    return edges, counts / (n_draws + 1)


def rank_histograms(ranks: np.ndarray, n_draws: int, n_bins: int) -> np.ndarray:
    """Histogram counts ``(P, n_bins)`` of ``ranks (n_simulations, P)`` over ``0..n_draws``.

    Parameters
    ----------
    ranks : array_like of int, shape (n_simulations, P)
    n_draws : int
        ``L``: ranks lie in ``0..L``.
    n_bins : int

    Returns
    -------
    ndarray of int, shape (P, n_bins)

    Examples
    --------
    >>> from probkm.studies.sbc_ranks import rank_histograms
    >>> rank_histograms([[0], [1], [2], [3]], 3, 2)
    array([[2, 2]])
    """
    edges, _ = _uniform_bin_probabilities(n_draws, n_bins)
    ranks = np.asarray(ranks)
    return np.stack([np.histogram(ranks[:, j], bins=edges)[0] for j in range(ranks.shape[1])])


def rank_uniformity_test(
    ranks: np.ndarray, n_draws: int, *, n_bins: int | None = None, alpha: float = 0.01
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Chi-square test of uniformity of each column of ``ranks``, Bonferroni-corrected.

    Parameters
    ----------
    ranks : array_like of int, shape (n_simulations, P)
        Integer ranks in ``0..n_draws``.
    n_draws : int
        ``L``, posterior draws each rank was taken among.
    n_bins : int or None
        Histogram bins; ``None`` for :func:`default_n_bins`.
    alpha : float
        Family-wise significance level over the ``P`` tests.

    Returns
    -------
    p_values : ndarray, shape (P,)
    passed : ndarray of bool, shape (P,)
        ``p >= alpha / P``.
    threshold : float
        The per-test threshold ``alpha / P``.
    n_bins : int
        The number of bins used.

    Raises
    ------
    InvalidValue
        ``ranks`` is not 2-D or has a rank outside ``0..n_draws``.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.studies.sbc_ranks import rank_uniformity_test
    >>> uniform = np.random.default_rng(0).integers(0, 21, size=(50, 2))
    >>> rank_uniformity_test(uniform, 20)[1:]
    (array([ True,  True]), 0.005, 10)
    >>> rank_uniformity_test(np.zeros((50, 1), dtype=int), 20)[1]  # every truth below every draw
    array([False])
    """
    ranks = np.asarray(ranks)
    if ranks.ndim != 2:
        raise InvalidValue(f"ranks must be (n_simulations, n_parameters); got shape {ranks.shape}.")
    if ranks.size and (ranks.min() < 0 or ranks.max() > n_draws):
        raise InvalidValue(f"ranks must lie in 0..{n_draws}; got {ranks.min()}..{ranks.max()}.")
    n_sim, n_params = ranks.shape
    n_bins = default_n_bins(n_sim, n_draws) if n_bins is None else check_positive_int("n_bins", n_bins, minimum=2)
    _, probabilities = _uniform_bin_probabilities(n_draws, n_bins)
    observed = rank_histograms(ranks, n_draws, n_bins)
    p_values = np.array([stats.chisquare(row, probabilities * n_sim).pvalue for row in observed])
    threshold = alpha / n_params
    return p_values, p_values >= threshold, threshold, n_bins


def _uniform_band(n_simulations: int, probabilities: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` binomial interval of each bin's count under uniform ranks."""
    lower = stats.binom.ppf((1 - level) / 2, n_simulations, probabilities)
    upper = stats.binom.ppf(1 - (1 - level) / 2, n_simulations, probabilities)
    return lower, upper


def plot_sbc_ranks(result: SBCResult, *, band_level: float = 0.99) -> Figure:
    """One panel per parameter group with the rank histogram of each of its scalars.

    The grey band is the central ``band_level`` interval of one bin's count under uniform
    ranks (binomial), the dashed line the expected count; the legend gives each scalar's
    chi-square p-value and whether it passed.

    Parameters
    ----------
    result : SBCResult
    band_level : float
        Coverage of the grey band, in ``(0, 1)``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.studies.sbc_ranks import SBCResult, plot_sbc_ranks, rank_uniformity_test
    >>> ranks = np.random.default_rng(0).integers(0, 21, size=(50, 2))
    >>> p, passed, threshold, n_bins = rank_uniformity_test(ranks, 20)
    >>> result = SBCResult(("sigma", "weights[0]"), ("sigma", "weights"), np.zeros((50, 2)), np.zeros((50, 20, 2)),
    ...                    ranks, 20, n_bins, 0.01, threshold, p, passed, np.zeros(50, dtype=int))
    >>> len(plot_sbc_ranks(result).axes)  # one panel per group
    2
    """
    present = [g for g in GROUPS if g in result.groups]
    edges, probabilities = _uniform_bin_probabilities(result.n_draws, result.n_bins)
    n_sim = result.ranks.shape[0]
    counts = rank_histograms(result.ranks, result.n_draws, result.n_bins)
    lower, upper = _uniform_band(n_sim, probabilities, band_level)
    fig = Figure(figsize=(4.6 * len(present), 4.2))
    axes = fig.subplots(1, len(present), squeeze=False)[0]
    for ax, group in zip(axes, present):
        ax.stairs(upper, edges, baseline=lower, fill=True, color="0.85", label=f"uniform {band_level:.0%} band")
        ax.stairs(n_sim * probabilities, edges, baseline=None, color="0.3", linestyle="--", label="expected count")
        members = [j for j, g in enumerate(result.groups) if g == group]
        for j in members:
            verdict = "ok" if result.passed[j] else "FAIL"
            ax.stairs(counts[j], edges, baseline=None, linewidth=1.4, label=f"{result.names[j]} (p={result.p_values[j]:.2g}, {verdict})")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel(f"rank of the true value among {result.n_draws} draws")
        ax.set_ylabel("simulations per bin")
        ax.set_title(group)
        ax.legend(loc="upper center", fontsize=7, ncol=1 if len(members) < 4 else 2)
        ax.set_ylim(0, max(float(upper.max()), float(counts[members].max())) * (1.35 + 0.08 * len(members)))
    verdict = "all uniform" if result.all_passed else "NOT uniform"
    fig.suptitle(
        f"SBC rank histograms: {n_sim} simulations, chi-square at alpha={result.alpha:g}/"
        f"{len(result.names)} (Bonferroni): {verdict}"
    )
    fig.tight_layout()
    return fig
