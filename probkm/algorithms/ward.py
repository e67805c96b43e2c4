"""Ward's hierarchical clustering as a start for a mixture: one linkage tree, cut at any ``K``.

Ward's criterion merges the two clusters whose union raises the within-cluster sum of squares
least, the agglomeration that model-based hierarchical clustering performs for spherical
components with one shared variance. Its partitions do not come from a random seeding, so they
reach basins that Lloyd's iterations from k-means++ or annealing can miss; their cluster means
join the k-means candidates of :mod:`probkm.inference.kmeans_start`.

The linkage costs ``O(m^2)`` time and ``m (m - 1) / 2`` floats of memory for ``m`` rows, so it
sees at most :data:`WARD_ROWS` rows (a seeded random draw above that): SciPy links 2,000 rows of
10 columns in about 0.1 s (16 MB of distances), 4,000 in 0.65 s and 8,000 in 3.3 s (256 MB), so
2,000 rows keep the start a small part of a fit (a MAP fit of 100,000 rows takes about 4 s). A
start only has to find the basin, and 2,000 rows resolve clusters down to a few tenths of a
percent of the data. The tree is built once; cutting it at ``K`` costs
``O(m log m)``, so a scan over ``K`` links once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.cluster import hierarchy
from scipy.spatial import distance

WARD_ROWS = 2_000  # most rows the linkage sees
# ``ward_start="auto"`` links data of at most this many rows: there the linkage costs a few
# milliseconds (about 25 ms at 1,000 rows), local optima at large K are most common, and a fit
# is short; on larger data the linkage would be most of a fit's time (0.1 s at 2,000 rows next
# to a MAP fit of 100,000 rows of about 0.25 s) for starts k-means++ and annealing already find
AUTO_ROWS = 1_000


def ward_wanted(ward_start, n_rows: int) -> bool:
    """Whether a fit of ``n_rows`` rows (with a positive weight) starts from Ward: ``True``,
    ``False``, or ``"auto"`` for at most :data:`AUTO_ROWS` rows.

    Examples
    --------
    >>> from probkm.algorithms.ward import ward_wanted
    >>> ward_wanted("auto", 150), ward_wanted("auto", 100_000), ward_wanted(True, 100_000)
    (True, False, True)
    """
    return n_rows <= AUTO_ROWS if ward_start == "auto" else bool(ward_start)


class WardTree(NamedTuple):
    """A Ward linkage of rows of ``x``.

    Attributes
    ----------
    linkage : ndarray, shape (m - 1, 4)
        SciPy's linkage matrix of the ``m`` clustered rows.
    rows : ndarray of int, shape (m,)
        Which rows of ``x`` were clustered (a row drawn twice appears twice: a row weight).
    fill : ndarray, shape (n_dim,)
        The column means that stood in for missing entries during the linkage.
    n_obs : int
        Rows of the ``x`` the tree was built on.
    seed : int
        Seed of the draw of rows.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.algorithms.ward import ward_tree
    >>> tree = ward_tree(np.array([[0.0], [1.0], [5.0]]), row_weights=np.array([1.0, 0.0, 2.0]))
    >>> tree.rows.tolist(), tree.n_obs  # row 1 has weight 0; row 2 counts twice
    ([0, 2, 2], 3)
    """

    linkage: np.ndarray
    rows: np.ndarray
    fill: np.ndarray
    n_obs: int
    seed: int


def _rows(weights: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the rows to link: zero-weight rows never; integer weights as repeated rows."""
    positive = np.flatnonzero(weights > 0)
    if np.ptp(weights[positive]) == 0:  # equal weights scale every merge cost alike: the rows as they are
        if positive.size <= max_rows:
            return positive
        return np.sort(rng.choice(positive, max_rows, replace=False))
    if np.all(weights == np.round(weights)) and weights.sum() <= max_rows:  # exactly the repeated rows
        return np.repeat(np.arange(weights.size), weights.astype(int))
    # otherwise a draw of the weighted rows: repeats merge first, at no cost, so a row drawn c times counts c
    return np.sort(rng.choice(weights.size, max_rows, replace=True, p=weights / weights.sum()))


def _cut(linkage: np.ndarray, n_rows: int, n_clusters: int) -> np.ndarray:
    """Cluster of each linked row after the first ``n_rows - n_clusters`` merges, numbered in the
    order of their first row (as SciPy's ``cut_tree``, which costs ``O(m^2)`` where this is
    ``O(m log m)``; ``fcluster``'s ``maxclust`` can return fewer clusters when merges tie)."""
    n_merges = n_rows - n_clusters
    parent = np.arange(n_rows + n_merges)
    merged = linkage[:n_merges, :2].astype(int)
    parent[merged[:, 0]] = parent[merged[:, 1]] = n_rows + np.arange(n_merges)
    while True:  # pointer jumping: each pass halves the distance to the root
        jumped = parent[parent]
        if np.array_equal(jumped, parent):
            break
        parent = jumped
    _, first, labels = np.unique(parent[:n_rows], return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[labels]


def ward_tree(x: np.ndarray, row_weights: np.ndarray | None = None, *, max_rows: int | None = None, seed: int = 0) -> WardTree:
    """Ward's linkage of (at most ``max_rows``) rows of ``x``.

    Parameters
    ----------
    x : ndarray, shape (n_obs, n_dim)
        Data (standardised, as every probkm path computes); NaN entries are missing and take
        the mean of their column's observed entries among the linked rows.
    row_weights : ndarray, shape (n_obs,), optional
        Non-negative row weights (``sample_weight``): rows of weight 0 are never linked; integer
        weights that sum to at most ``max_rows`` link each row that many times (as repeated
        rows); other weights link a draw of ``max_rows`` rows with probabilities proportional
        to the weights.
    max_rows : int, optional
        Most rows linked (default :data:`WARD_ROWS`): more rows (of equal weight) are a random
        draw of ``max_rows``.
    seed : int, default 0
        Seed of that draw.

    Returns
    -------
    WardTree

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.algorithms.ward import ward_means, ward_tree
    >>> x = np.array([[0.0], [0.2], [5.0], [5.4], [9.0]])
    >>> tree = ward_tree(x)
    >>> tree.linkage.shape, ward_means(tree, x, 2).ravel().tolist()
    ((4, 4), [0.1, 6.466666666666666])
    """
    x = np.asarray(x, dtype=float)
    weights = np.ones(x.shape[0]) if row_weights is None else np.asarray(row_weights, dtype=float)
    rows = _rows(weights, WARD_ROWS if max_rows is None else int(max_rows), np.random.default_rng(seed))
    linked = x[rows]
    missing = np.isnan(linked)
    fill = np.zeros(x.shape[1])
    if missing.any():
        counts = np.sum(~missing, axis=0)
        fill = np.where(counts > 0, np.nansum(linked, axis=0) / np.maximum(counts, 1), 0.0)
        linked = np.where(missing, fill, linked)
    # condensed Euclidean distances, which Ward's linkage takes as they are: handed the rows, SciPy
    # warns when they happen to form a square, symmetric, hollow matrix (it cannot tell)
    linkage = hierarchy.linkage(distance.pdist(linked), method="ward") if rows.size > 1 else np.zeros((0, 4))
    return WardTree(linkage, rows, fill, x.shape[0], int(seed))


def ward_means(tree: WardTree, x: np.ndarray, n_clusters: int) -> np.ndarray | None:
    """The means of the ``n_clusters`` clusters of ``tree`` cut at that many.

    Parameters
    ----------
    tree : WardTree
        From :func:`ward_tree` on the same ``x``.
    x : ndarray, shape (n_obs, n_dim)
        The data; a mean averages its cluster's observed entries (the column's ``fill`` where
        a cluster has none).
    n_clusters : int
        ``K``.

    Returns
    -------
    ndarray, shape (n_clusters, n_dim), or None
        The cluster means (a row drawn twice counts twice), ordered by their first row;
        ``None`` when the tree has fewer rows than ``n_clusters``.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.algorithms.ward import ward_means, ward_tree
    >>> x = np.array([[0.0, 1.0], [0.2, np.nan], [5.0, 3.0], [5.4, 3.0]])
    >>> ward_means(ward_tree(x), x, 2).tolist()  # the first cluster's second column: its observed entry
    [[0.1, 1.0], [5.2, 3.0]]
    >>> ward_means(ward_tree(x), x, 5) is None
    True
    """
    n_clusters = int(n_clusters)
    if tree.rows.size < n_clusters:
        return None
    labels = _cut(tree.linkage, tree.rows.size, n_clusters)
    values = np.asarray(x, dtype=float)[tree.rows]
    seen = ~np.isnan(values)
    sums, counts = np.zeros((n_clusters, x.shape[1])), np.zeros((n_clusters, x.shape[1]))
    np.add.at(sums, labels, np.where(seen, values, 0.0))
    np.add.at(counts, labels, seen)
    return np.where(counts > 0, sums / np.maximum(counts, 1), tree.fill)


__all__ = ["WARD_ROWS", "WardTree", "ward_means", "ward_tree"]
