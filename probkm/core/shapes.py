"""Shape buckets: rows and components padded to short ladders of sizes, so compiled programs serve many N and K.

JAX compiles a program per static shape. Fitting data of every size (a K-scan, a
cross-validation, a bootstrap, a notebook session) would compile anew for each ``N`` and
grow the process without bound. probkm pads the rows of a fit or a prediction to the next
size on a ladder and gives every row a weight (the user's ``sample_weight``, 0 on padding),
which every sum over rows honours. A padded fit equals the unpadded one up to float rounding.

The ladder (``docs/shapes.md`` has the measurements behind it): at least :data:`MIN_ROWS`
rows, then four sizes per doubling, rounded up to a multiple of 64 (each at most 25% above
the last; 33 sizes below :data:`MAX_PADDED_ROWS`); from there on, the exact ``N``: a fit that large
costs seconds, against which one compilation is small, and padding would cost up to 25% of it.

Components go the same way (:func:`bucket_components`): a fit of ``K`` components runs a
program of ``K_max >= K``, the last ``K_max - K`` masked (weight 0, no prior term;
:func:`component_mask`), so a scan over ``K`` compiles once or twice instead of once per ``K``.
"""

from __future__ import annotations

import math

import numpy as np

MIN_ROWS = 256
MAX_PADDED_ROWS = 65_536
STEPS_PER_DOUBLING = 4
MIN_COMPONENTS = 16  # the smallest component bucket of a small data set
SMALL_ROWS = 4_096  # up to this many (padded) rows, a fit's cost hardly depends on K


def bucket_rows(n_rows: int) -> int:
    """The padded size for ``n_rows`` rows: the next rung of the ladder (``n_rows`` itself from :data:`MAX_PADDED_ROWS` on).

    Examples
    --------
    >>> from probkm.core.shapes import bucket_rows
    >>> [bucket_rows(n) for n in (1, 150, 257, 1000, 1100, 10_000, 100_000)]
    [256, 256, 320, 1024, 1280, 11648, 100000]
    """
    if n_rows >= MAX_PADDED_ROWS:
        return int(n_rows)
    if n_rows <= MIN_ROWS:
        return MIN_ROWS
    rung = math.ceil(STEPS_PER_DOUBLING * math.log2(n_rows / MIN_ROWS) - 1e-9)
    size = MIN_ROWS * 2.0 ** (rung / STEPS_PER_DOUBLING)
    return int(max(n_rows, 64 * math.ceil(size / 64)))


def pad_rows(x: np.ndarray, row_weights: np.ndarray | None = None, n_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``x`` ``(N, D)`` with zero rows appended up to ``n_rows`` (:func:`bucket_rows` by default), and the row weights.

    Parameters
    ----------
    x : ndarray, shape (N, D)
    row_weights : ndarray, shape (N,), optional
        Weights of the real rows; ones by default.
    n_rows : int, optional
        The padded size; ``bucket_rows(N)`` by default.

    Returns
    -------
    x_padded : ndarray, shape (n_rows, D)
    weights : ndarray, shape (n_rows,)
        ``row_weights`` then zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.core.shapes import pad_rows
    >>> x, w = pad_rows(np.ones((3, 2)), n_rows=5)
    >>> x.shape, w.tolist()
    ((5, 2), [1.0, 1.0, 1.0, 0.0, 0.0])
    """
    x = np.asarray(x)
    n_obs = x.shape[0]
    n_rows = bucket_rows(n_obs) if n_rows is None else n_rows
    weights = np.ones(n_obs) if row_weights is None else np.asarray(row_weights, dtype=float)
    padded = np.zeros((n_rows,) + x.shape[1:], dtype=x.dtype)
    padded[:n_obs] = x
    return padded, np.concatenate([weights, np.zeros(n_rows - n_obs)])


def bucket_components(n_components: int, n_rows: int) -> int:
    """The padded number of components for a fit of ``n_components`` on ``n_rows`` (padded) rows.

    Up to :data:`SMALL_ROWS` rows, at least :data:`MIN_COMPONENTS`, then powers of two: a fit
    that small costs about the same at any ``K``, and a scan over ``K = 1..16`` compiles once.
    Above it, the next power of two (at most twice the arithmetic); from
    :data:`MAX_PADDED_ROWS` rows on, ``n_components`` itself, like the rows.

    Parameters
    ----------
    n_components : int
        ``K``.
    n_rows : int
        The rows of the fit, padded.

    Returns
    -------
    int

    Examples
    --------
    >>> from probkm.core.shapes import bucket_components
    >>> [bucket_components(k, 256) for k in (1, 3, 12, 16, 17, 40)]
    [16, 16, 16, 16, 32, 64]
    >>> [bucket_components(k, 10_240) for k in (1, 3, 5)], bucket_components(3, 100_000)
    ([1, 4, 8], 3)
    """
    if n_rows >= MAX_PADDED_ROWS:
        return int(n_components)
    floor = MIN_COMPONENTS if n_rows <= SMALL_ROWS else 1
    return max(floor, 1 << (int(n_components) - 1).bit_length())


def component_mask(n_components: int, n_padded: int) -> np.ndarray:
    """``(n_padded,)`` float mask: 1 for the first ``n_components`` components, 0 for the padding.

    Examples
    --------
    >>> from probkm.core.shapes import component_mask
    >>> component_mask(2, 4).tolist()
    [1.0, 1.0, 0.0, 0.0]
    """
    return (np.arange(n_padded) < n_components).astype(float)


def pad_components(values: dict, n_padded: int) -> dict:
    """Site values ``weights (K,)`` and ``means (K, D)`` padded with zeros to ``n_padded`` components.

    Other entries (``sigma``) pass through. Weight 0 takes a padded component out of every
    mixture computation.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.core.shapes import pad_components
    >>> padded = pad_components({"weights": np.array([0.5, 0.5]), "means": np.ones((2, 1)), "sigma": 1.0}, 3)
    >>> padded["weights"].tolist(), padded["means"].shape, padded["sigma"]
    ([0.5, 0.5, 0.0], (3, 1), 1.0)
    """
    out = dict(values)
    for name in ("weights", "means"):
        if name in out:
            value = np.asarray(out[name])
            widths = [(0, n_padded - value.shape[0])] + [(0, 0)] * (value.ndim - 1)
            out[name] = np.pad(value, widths)
    return out
