"""Shape buckets: rows padded to a short ladder of sizes, so compiled programs serve many N.

JAX compiles a program per static shape. Fitting data of every size (a K-scan, a
cross-validation, a bootstrap, a notebook session) would compile anew for each ``N`` and
grow the process without bound. probkm pads the rows of a fit or a prediction to the next
size on a ladder and gives every row a weight (the user's ``sample_weight``, 0 on padding),
which every sum over rows honours. A padded fit equals the unpadded one up to float rounding.

The ladder (``docs/shapes.md`` has the measurements behind it): at least :data:`MIN_ROWS`
rows, then four sizes per doubling, rounded up to a multiple of 64 (each at most 25% above
the last; 33 sizes below :data:`MAX_PADDED_ROWS`); from there on, the exact ``N``: a fit that large
costs seconds, against which one compilation is small, and padding would cost up to 25% of it.
"""

from __future__ import annotations

import math

import numpy as np

MIN_ROWS = 256
MAX_PADDED_ROWS = 65_536
STEPS_PER_DOUBLING = 4


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
