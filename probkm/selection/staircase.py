"""The deterministic-annealing staircase: how many distinct centroids survive at each temperature.

:class:`probkm.AnnealedKMeans` anneals coincident centroids from ``T = 1`` down to a
low temperature. They stay together until the first critical temperature (``1/2`` by the
choice of its reference sigma, ``sigma_ref^2 = 2 lambda_max`` of the whole data), and a group
of coincident centroids splits where ``T`` falls below ``lambda_max(C_g) / sigma_ref^2``,
``C_g`` the responsibility-weighted covariance of the points the group holds (DESIGN sections
1 and 5b). Counting distinct centroids (closer than ``distinct_tol`` times the data's pooled
standard deviation counts as one) against temperature gives a staircase, and a wide step in
``log T`` is a number of clusters that stays stable over a wide range of resolutions.

Spare centroids. A staircase up to ``K_max`` anneals :data:`SPARE_CENTROIDS` times ``K_max``
centroids (at most one per row). When a group splits, its centroids go to its two halves as
annealing's perturbations fall, not in proportion to the clusters each half holds, and a half
with fewer centroids than clusters can never separate them: with exactly ``K_max = 16``
centroids, data of 15 well separated clusters showed a wide step at 14 and then a jump to 16
(a spare centroid splitting a cluster in two) in 3 of 10 seeds. With twice as many, every
``K = 2..15`` was recovered in 10 of 10 seeds (``benchmarks/bench_select.py``, part 3). Steps
past ``K_max`` count as one, ``K_max + 1``.

Which steps count. The ``K = 1`` step, from ``T = 1`` down to ``1/2``, is set by where the
schedule starts, not by the data: it is excluded, and the staircase never answers ``K = 1``
unless nothing splits at all above the schedule's end (ask :func:`probkm.select_n_components`
with ``criterion="bic"`` whether there is structure at all). Every other step up to ``K_max``
is eligible: the spare centroids end the ``K_max`` step at a split too, where the data make one.
A last step that runs to the schedule's end is shorter than it would be on a longer schedule,
so it is chosen only if it is the widest even so. Just below a critical temperature the fixed
point converges slowly, so centroids caught mid-split can count as more groups for one
temperature than they settle into; a split cannot be undone as ``T`` falls, so the count at
``T`` is the smallest count at or below ``T`` (a running minimum from the cold end).

A bootstrap over the rows (multinomial row weights, so every resample reuses one compiled
program) gives a band around the staircase and the distribution of the chosen ``K``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from probkm._checks import Integer, Real, check, seed_from
from probkm.estimators.annealed_kmeans import AnnealedKMeans

SPARE_CENTROIDS = 2  # centroids annealed per K of the staircase (module docstring: why)


class Plateau(NamedTuple):
    """One step of the staircase.

    Attributes
    ----------
    n_components : int
        Distinct centroids on the step.
    t_high, t_low : float
        Where the step starts and ends (geometric midpoints between the schedule's
        temperatures either side of each split; the schedule's ends for the first and last).
    width : float
        ``log(t_high / t_low)``.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.selection.staircase import Plateau
    >>> step = Plateau(2, 0.5, 0.05, float(np.log(10)))
    >>> step.n_components, round(step.width, 3)
    (2, 2.303)
    """

    n_components: int
    t_high: float
    t_low: float
    width: float


class Split(NamedTuple):
    """One split seen on the schedule, beside the analytic critical temperature of the group that split.

    Attributes
    ----------
    t_above, t_below : float
        The schedule's temperatures just before and just after the split.
    n_before, n_after : int
        Distinct centroids before and after.
    parent_size : float
        Points (responsibility-weighted) held by the group that split.
    t_critical : float
        ``lambda_max(C_g) / sigma_ref^2`` of that group, ``C_g`` its responsibility-weighted covariance
        at the last temperature above the split where the centroids had settled.
    ratio : float
        Observed over analytic: the geometric midpoint ``sqrt(t_above t_below)`` over ``t_critical``.
    agrees : bool
        ``t_critical`` lies within two schedule steps of ``[t_below, t_above]``: just below a
        critical temperature the split grows slowly out of annealing's small perturbation, so
        it can show a step late.

    Examples
    --------
    >>> from probkm.selection.staircase import Split
    >>> split = Split(0.55, 0.45, 1, 2, 40.0, 0.5, 0.995, True)
    >>> split.n_after - split.n_before, split.agrees
    (1, True)
    """

    t_above: float
    t_below: float
    n_before: int
    n_after: int
    parent_size: float
    t_critical: float
    ratio: float
    agrees: bool


class Staircase(NamedTuple):
    """Result of :func:`annealing_staircase`.

    Attributes
    ----------
    temperatures : ndarray, shape (n_temperatures,)
        The schedule, decreasing from 1.
    counts : ndarray of int, shape (n_temperatures,)
        Distinct centroids at each temperature (the smallest count at or below it), counted up
        to ``K_max + 1``.
    plateaus : list of Plateau
        The steps, from ``T = 1`` down.
    widths : dict
        ``{K: width in log T}`` for ``K = 1 .. K_max`` (0 where the staircase skips ``K``).
    eligible : tuple of int
        The ``K`` whose steps may be chosen (``2 .. K_max``).
    n_components : int
        The choice: the widest eligible step.
    splits : list of Split
        Every split, with the analytic critical temperature of the group that split (those
        past ``K_max`` too).
    first_critical_temperature : float
        ``1/2``.
    bootstrap_counts : ndarray of int, shape (n_bootstrap, n_temperatures)
        The staircase of each resample of the rows (empty without a bootstrap).
    bootstrap_choices : ndarray of int, shape (n_bootstrap,)
        The ``K`` each resample chooses.
    estimator : AnnealedKMeans
        The annealing behind the staircase (:data:`SPARE_CENTROIDS` times ``K_max`` centroids,
        at most one per row).

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.selection.staircase import annealing_staircase
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(-5, 1, (40, 1)), rng.normal(5, 1, (40, 1))]
    >>> stairs = annealing_staircase(X, 4, n_temperatures=40, random_state=0)
    >>> stairs.n_components, int(stairs.counts[0]), stairs.eligible
    (2, 1, (2, 3, 4))
    """

    temperatures: np.ndarray
    counts: np.ndarray
    plateaus: list
    widths: dict
    eligible: tuple
    n_components: int
    splits: list
    first_critical_temperature: float
    bootstrap_counts: np.ndarray
    bootstrap_choices: np.ndarray
    estimator: Any

    def band(self, lower: float = 0.05, upper: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise quantiles of the bootstrap staircases, each ``(n_temperatures,)``.

        Parameters
        ----------
        lower, upper : float
            The quantiles.

        Returns
        -------
        tuple of ndarray
            ``(low, high)``; the staircase itself twice without a bootstrap.

        Examples
        --------
        >>> import numpy as np
        >>> from probkm.selection.staircase import annealing_staircase
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(-5, 1, (40, 1)), rng.normal(5, 1, (40, 1))]
        >>> stairs = annealing_staircase(X, 3, n_temperatures=30, n_bootstrap=4, random_state=0)
        >>> low, high = stairs.band()
        >>> low.shape, bool((low <= high).all())
        ((30,), True)
        """
        if self.bootstrap_counts.size == 0:
            return self.counts.astype(float), self.counts.astype(float)
        return np.quantile(self.bootstrap_counts, lower, axis=0), np.quantile(self.bootstrap_counts, upper, axis=0)


def distinct_groups(centroids: Any, tol: float) -> np.ndarray:
    """Group centroids closer than ``tol`` (single linkage): the label of each centroid's group.

    Parameters
    ----------
    centroids : array_like, shape (K, D)
    tol : float
        Centroids at most ``tol`` apart (directly or through a chain) are one.

    Returns
    -------
    ndarray of int, shape (K,)
        Group labels ``0 .. n_groups - 1``, numbered in order of first appearance.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.selection.staircase import distinct_groups
    >>> distinct_groups(np.array([[0.0], [0.001], [3.0], [3.0005]]), 0.01).tolist()
    [0, 0, 1, 1]
    """
    c = np.asarray(centroids, dtype=float)
    near = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(-1)) <= tol
    labels = np.full(c.shape[0], -1)
    n_groups = 0
    for start in range(c.shape[0]):
        if labels[start] >= 0:
            continue
        labels[start] = n_groups
        frontier = [start]
        while frontier:
            members = np.flatnonzero(near[frontier].any(axis=0) & (labels < 0))
            labels[members] = n_groups
            frontier = members.tolist()
        n_groups += 1
    return labels


def _plateaus(temperatures: np.ndarray, counts: np.ndarray) -> list[Plateau]:
    edges = np.flatnonzero(np.diff(counts)) + 1  # first index of each later step
    starts, ends = np.r_[0, edges], np.r_[edges, len(counts)]
    log_t = np.log(temperatures)
    steps = []
    for i, j in zip(starts, ends):
        top = log_t[0] if i == 0 else 0.5 * (log_t[i - 1] + log_t[i])
        bottom = log_t[-1] if j == len(counts) else 0.5 * (log_t[j - 1] + log_t[j])
        steps.append(Plateau(int(counts[i]), float(np.exp(top)), float(np.exp(bottom)), float(top - bottom)))
    return steps


def widest_plateau(plateaus: list[Plateau], eligible: tuple[int, ...], max_components: int) -> int:
    """The ``K`` of the widest eligible step (ties: the smaller ``K``).

    Without an eligible step: 1 if nothing ever split, else ``max_components``.

    Parameters
    ----------
    plateaus : list of Plateau
    eligible : tuple of int
        The ``K`` that may be chosen.
    max_components : int
        ``K_max``.

    Returns
    -------
    int

    Examples
    --------
    >>> from probkm.selection.staircase import Plateau, widest_plateau
    >>> steps = [Plateau(1, 1.0, 0.5, 0.69), Plateau(2, 0.5, 0.01, 3.9), Plateau(3, 0.01, 0.005, 0.69), Plateau(4, 0.005, 1e-4, 3.9)]
    >>> widest_plateau(steps, (2, 3), 4)
    2
    """
    widths = {k: 0.0 for k in eligible}
    for step in plateaus:
        if step.n_components in widths:
            widths[step.n_components] = max(widths[step.n_components], step.width)
    if widths and max(widths.values()) > 0:
        return min(k for k, w in widths.items() if w == max(widths.values()))
    return 1 if all(step.n_components == 1 for step in plateaus) else max_components


def _top_eigenvalue(X: np.ndarray, weights: np.ndarray) -> float:
    w = weights / weights.sum()
    centred = X - w @ X
    return float(np.linalg.eigvalsh((centred * w[:, None]).T @ centred)[-1])


def _split_checks(X, weights, path, temperatures, groups, counts, sigma_ref_sq) -> list[Split]:
    """Each split of the schedule beside the critical temperature of the group that split."""
    splits = []
    step = float(temperatures[0] / temperatures[1]) if len(temperatures) > 1 else 1.0
    raw = groups.max(axis=1) + 1
    for j in np.flatnonzero(np.diff(counts)) + 1:
        # settled groups either side: the last index above with the count before the split, the
        # first below with the count after it (centroids caught mid-split are skipped)
        i_before = int(np.flatnonzero(raw[:j] == counts[j - 1])[-1])
        i_after = j + int(np.flatnonzero(raw[j:] == counts[j])[0])
        before, after = groups[i_before], groups[i_after]
        # the group (at t_above) whose centroids went to two or more groups at t_below
        parents = [g for g in np.unique(before) if len(np.unique(after[before == g])) > 1]
        if not parents:
            continue
        centres = np.array([path[i_before][before == g].mean(axis=0) for g in np.unique(before)])
        sizes = np.array([np.sum(before == g) for g in np.unique(before)], dtype=float)
        # responsibilities at t_above of the distinct centroids, each group weighted by its size
        d = ((X[:, None, :] - centres[None]) ** 2).sum(-1)
        logits = np.log(sizes)[None] - d / (2.0 * sigma_ref_sq * temperatures[i_before])
        resp = np.exp(logits - logits.max(axis=1, keepdims=True))
        resp /= resp.sum(axis=1, keepdims=True)
        t_c = {g: _top_eigenvalue(X, weights * resp[:, g]) / sigma_ref_sq for g in parents}
        g = max(parents, key=lambda p: t_c[p])
        t_above, t_below = float(temperatures[j - 1]), float(temperatures[j])
        splits.append(Split(
            t_above, t_below, int(counts[j - 1]), int(counts[j]), float(np.sum(weights * resp[:, g])), float(t_c[g]),
            float(np.sqrt(t_above * t_below) / t_c[g]), bool(t_below / step**2 <= t_c[g] <= t_above * step**2),
        ))
    return splits


def _stairs(est: AnnealedKMeans, X: np.ndarray, weights: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    scale = np.sqrt(np.sum(weights[:, None] * (X - weights @ X / weights.sum()) ** 2) / (weights.sum() * X.shape[1]))
    groups = np.array([distinct_groups(c, tol * scale) for c in est.annealing_path_])
    counts = np.minimum.accumulate((groups.max(axis=1) + 1)[::-1])[::-1]
    return groups, counts


def annealing_staircase(
    X: Any,
    max_components: int,
    *,
    n_temperatures: int = 120,
    t_min: float = 1e-4,
    distinct_tol: float = 0.02,
    n_bootstrap: int = 0,
    random_state: Any = None,
) -> Staircase:
    """The staircase of distinct centroids against temperature, its widest step and its splits.

    Parameters
    ----------
    X : array_like, shape (n_samples, n_features)
    max_components : int
        ``K_max``, the largest ``K`` of the staircase (at least 1); :data:`SPARE_CENTROIDS`
        times as many centroids are annealed, at most one per row.
    n_temperatures : int, default 120
        Steps of the geometric schedule from ``T = 1`` to ``t_min``.
    t_min : float, default 1e-4
        The schedule's end, in ``(0, 1/2)``.
    distinct_tol : float, default 0.02
        Centroids closer than this times the data's pooled standard deviation count as one.
    n_bootstrap : int, default 0
        Resamples of the rows for the band and the distribution of the choice.
    random_state : int, numpy random state or None
        Seed of the annealing's perturbations and of the resamples.

    Returns
    -------
    Staircase

    Raises
    ------
    InvalidValue
        A setting outside its range.

    Examples
    --------
    Two 1-D clusters 10 apart with unit spread: the first split comes at ``T = 1/2``, and the
    halves would split again where ``T`` falls below ``1 / sigma_ref^2``:

    >>> import numpy as np
    >>> from probkm.selection.staircase import annealing_staircase
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(-5, 1, (40, 1)), rng.normal(5, 1, (40, 1))]
    >>> stairs = annealing_staircase(X, 3, n_temperatures=40, random_state=0)
    >>> first = stairs.splits[0]
    >>> (first.n_before, first.n_after), round(first.t_critical, 2), first.agrees
    ((1, 2), 0.5, True)
    """
    max_components = check("max_components", max_components, Integer(1))
    check("distinct_tol", distinct_tol, Real(0.0))
    n_bootstrap = check("n_bootstrap", n_bootstrap, Integer(0))
    X = np.asarray(X, dtype=float)
    seed = seed_from(random_state)
    n_centroids = max(min(SPARE_CENTROIDS * max_components, X.shape[0]), max_components)
    est = AnnealedKMeans(n_centroids, n_temperatures=n_temperatures, t_min=t_min, n_init=0, random_state=seed).fit(X)
    ones = np.ones(X.shape[0])
    groups, all_counts = _stairs(est, X, ones, distinct_tol)
    counts = np.minimum(all_counts, max_components + 1)  # past K_max, one step
    temperatures = np.asarray(est.temperatures_, dtype=float)
    plateaus = _plateaus(temperatures, counts)
    eligible = tuple(range(2, max_components + 1))
    splits = _split_checks(X, ones, est.annealing_path_, temperatures, groups, all_counts, 2.0 * _top_eigenvalue(X, ones))
    rng = np.random.default_rng(seed)
    boot_counts, boot_choices = [], []
    for _ in range(n_bootstrap):
        weights = rng.multinomial(X.shape[0], np.full(X.shape[0], 1.0 / X.shape[0])).astype(float)
        fit = AnnealedKMeans(n_centroids, n_temperatures=n_temperatures, t_min=t_min, n_init=0, random_state=int(rng.integers(2**31 - 1)))
        c = np.minimum(_stairs(fit.fit(X, sample_weight=weights), X, weights, distinct_tol)[1], max_components + 1)
        boot_counts.append(c)
        boot_choices.append(widest_plateau(_plateaus(temperatures, c), eligible, max_components))
    widths = {k: max([p.width for p in plateaus if p.n_components == k], default=0.0) for k in range(1, max_components + 1)}
    return Staircase(
        temperatures, counts, plateaus, widths, eligible, widest_plateau(plateaus, eligible, max_components), splits,
        float(est.first_critical_temperature_), np.asarray(boot_counts, dtype=int).reshape(n_bootstrap, len(temperatures)),
        np.asarray(boot_choices, dtype=int), est,
    )


__all__ = ["Plateau", "Split", "Staircase", "annealing_staircase", "distinct_groups", "widest_plateau"]
