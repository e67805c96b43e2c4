"""The mathematics of probkm, written once.

Every model, estimator and diagnostic in probkm evaluates the shared-sigma spherical
mixture through the functions here (DESIGN section 1). ``x`` is ``(n_obs, n_dim)``,
``weights`` is ``(n_clusters,)`` on the simplex, ``locs`` is ``(n_clusters, n_dim)`` and
``sigma`` is a positive scalar in the units of ``x``. Leading batch dimensions on the
parameters broadcast.

Missing values: every function of the data takes an optional ``observed`` mask ``(n_obs, n_dim)``,
nonzero (or ``True``) where an entry is observed. With a spherical covariance a missing coordinate
marginalises exactly: its Gaussian factor integrates to one, so distances sum over a row's observed
coordinates and the normaliser counts them (``n_i = sum_d observed_id`` instead of ``D``). Entries
outside the mask may hold anything, NaN included: they are replaced by 0 before any arithmetic, so
neither values nor gradients see them. ``observed=None`` (every entry observed) runs the
complete-data arithmetic unchanged, and compiles the same program as before.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

_LOG_2PI = 1.8378770664093453  # log(2 pi)


class Columns(NamedTuple):
    """Data laid out with points on the fast axis, for loops that reuse it many times.

    XLA on CPU vectorises reductions over a handful of clusters badly when they sit on the
    minor axis of an ``(n_obs, n_clusters)`` array; with points on the minor axis the same
    fixed-point iteration is 2-5x cheaper.

    Attributes
    ----------
    xt : Array, shape (n_dim, n_obs)
        The data, transposed once.
    sq : Array, shape (n_obs,)
        Squared norms ``|x_i|^2`` (over the observed entries).
    observed : Array or None, shape (n_dim, n_obs)
        The mask of observed entries, transposed; ``None`` when every entry is observed.

    See Also
    --------
    columns : Builds this layout from ``x``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import columns
    >>> data = columns(jnp.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]]))
    >>> data.xt.shape, data.sq.tolist()
    ((2, 3), [0.0, 25.0, 1.0])
    """

    xt: Array
    sq: Array
    observed: Array | None = None


def filled(x: Array, observed: Array | None) -> Array:
    """``x`` with its unobserved entries set to 0 (``x`` itself when ``observed`` is ``None``).

    Parameters
    ----------
    x : Array, shape (..., n_obs, n_dim)
        Data; unobserved entries may be NaN.
    observed : Array or None, shape (n_obs, n_dim)
        Nonzero where an entry is observed.

    Returns
    -------
    Array
        Shaped as ``x``, finite wherever ``observed`` is.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import filled
    >>> x = jnp.array([[1.0, jnp.nan]])
    >>> filled(x, ~jnp.isnan(x)).tolist()
    [[1.0, 0.0]]
    """
    return x if observed is None else jnp.where(jnp.asarray(observed) > 0, x, 0.0)


def observed_mask(x) -> Array | None:
    """The mask of the non-NaN entries of concrete data ``x``, as floats; ``None`` when none is NaN.

    Decided on the host, so complete data keep the complete-data programs.

    Parameters
    ----------
    x : array_like, shape (n_obs, n_dim)

    Returns
    -------
    numpy.ndarray of float, shape (n_obs, n_dim), or None

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.core.likelihood import observed_mask
    >>> observed_mask(np.array([[1.0, np.nan]])).tolist(), observed_mask(np.ones((1, 2)))
    ([[1.0, 0.0]], None)
    """
    seen = ~np.isnan(np.asarray(x, dtype=float))
    return None if seen.all() else seen.astype(float)


def observed_counts(observed: Array | None, n_dim: int) -> Array | int:
    """Observed coordinates of each row, ``n_i``: ``n_dim`` when ``observed`` is ``None``.

    Parameters
    ----------
    observed : Array or None, shape (n_obs, n_dim)
    n_dim : int

    Returns
    -------
    Array, shape (n_obs,), or int

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import observed_counts
    >>> observed_counts(jnp.array([[1.0, 0.0], [1.0, 1.0]]), 2).tolist(), observed_counts(None, 2)
    ([1.0, 2.0], 2)
    """
    return n_dim if observed is None else jnp.sum(jnp.asarray(observed) > 0, axis=-1).astype(jnp.result_type(float))


def _as_mask(observed: Array | None, dtype) -> Array | None:
    return None if observed is None else (jnp.asarray(observed) > 0).astype(dtype)


def columns(x: Array, observed: Array | None = None) -> Columns:
    """The :class:`Columns` layout of ``x``.

    Parameters
    ----------
    x : Array, shape (n_obs, n_dim)
        Data.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry is observed; the others are ignored (they may be NaN).

    Returns
    -------
    Columns
        ``x`` (missing entries 0) transposed, its rows' squared norms and the mask transposed.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import columns
    >>> x = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    >>> data = columns(x)
    >>> data.xt.tolist(), data.sq.tolist()
    ([[1.0, 3.0], [2.0, 4.0]], [5.0, 25.0])
    """
    mask = _as_mask(observed, x.dtype)
    x = filled(x, mask)
    return Columns(x.T, jnp.sum(x * x, axis=-1), None if mask is None else mask.T)


def _expanded(x_sq: Array, cross: Array, locs_sq: Array) -> Array:
    # |x|^2 - 2 x.mu + |mu|^2 can round below zero for a point on a centroid
    return jnp.maximum(x_sq - 2.0 * cross + locs_sq, 0.0)


def squared_distances(x: Array, locs: Array, observed: Array | None = None) -> Array:
    """Squared Euclidean distances ``d_ik = ||x_i - mu_k||^2`` (over observed coordinates only).

    Parameters
    ----------
    x : Array, shape (..., n_obs, n_dim)
        Data.
    locs : Array, shape (..., n_clusters, n_dim)
        Means.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry is observed: ``d_ik = sum_d observed_id (x_id - mu_kd)^2``, the
        partial distance, whose ``|mu|^2`` term is one more matrix product ``observed @ (mu^2)^T``.

    Returns
    -------
    Array, shape (..., n_obs, n_clusters)

    Notes
    -----
    Uses the expanded form ``|x|^2 - 2 x.mu + |mu|^2``: it needs an ``(n_obs, n_clusters)``
    intermediate only (never ``n_obs x n_clusters x n_dim``) and runs as one matrix product.
    Rounding can make the expanded form slightly negative for points on a centroid,
    so it is clipped at zero.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import squared_distances
    >>> squared_distances(jnp.array([[0.0, 0.0], [3.0, 4.0]]), jnp.array([[0.0, 0.0]])).tolist()
    [[0.0], [25.0]]
    """
    mask = _as_mask(observed, x.dtype)
    x = filled(x, mask)
    x_sq = jnp.sum(x * x, axis=-1)[..., :, None]
    if mask is None:
        locs_sq = jnp.sum(locs * locs, axis=-1)[..., None, :]
    else:
        locs_sq = jnp.einsum("nd,...kd->...nk", mask, locs * locs)
    return _expanded(x_sq, jnp.einsum("...nd,...kd->...nk", x, locs), locs_sq)


def column_distances(data: Columns, locs: Array) -> Array:
    """:func:`squared_distances` in the :class:`Columns` layout, clusters first.

    Parameters
    ----------
    data : Columns
        The data, from :func:`columns`.
    locs : Array, shape (n_clusters, n_dim)
        Means.

    Returns
    -------
    Array, shape (n_clusters, n_obs)
        The transpose of ``squared_distances(x, locs, observed)``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import column_distances, columns
    >>> data = columns(jnp.array([[0.0, 0.0], [3.0, 4.0]]))
    >>> column_distances(data, jnp.array([[0.0, 0.0], [3.0, 0.0]])).tolist()
    [[0.0, 25.0], [9.0, 16.0]]
    """
    if data.observed is None:
        return _expanded(data.sq[None, :], locs @ data.xt, jnp.sum(locs * locs, axis=-1)[:, None])
    # partial distances: |mu_k|^2 over each point's observed coordinates, one more matrix product
    return _expanded(data.sq[None, :], locs @ data.xt, (locs * locs) @ data.observed)


def scores_from_distances(dist: Array, log_weights: Array, sigma: Array) -> Array:
    """Component scores ``a_ik = log w_k - d_ik / (2 sigma^2)`` from squared distances.

    Parameters
    ----------
    dist : Array, shape (..., n_obs, n_clusters)
        Squared distances ``d_ik``.
    log_weights : Array
        ``log w``, broadcasting against ``dist``.
    sigma : Array
        Shared standard deviation, broadcasting against ``dist``.

    Returns
    -------
    Array
        The scores, shaped as ``dist``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import scores_from_distances
    >>> scores_from_distances(jnp.array([[0.0, 2.0], [8.0, 0.0]]), jnp.zeros(2), 2.0).tolist()
    [[0.0, -0.25], [-1.0, 0.0]]
    """
    return log_weights - dist / (2.0 * sigma**2)


def component_scores(x: Array, weights: Array, locs: Array, sigma: Array, observed: Array | None = None) -> Array:
    """Component scores ``a_ik = log w_k - d_ik / (2 sigma^2)`` of each point and cluster.

    Parameters
    ----------
    x : Array, shape (..., n_obs, n_dim)
        Data.
    weights : Array, shape (..., n_clusters)
        Mixture weights on the simplex.
    locs : Array, shape (..., n_clusters, n_dim)
        Means.
    sigma : Array, shape (...)
        Shared standard deviation, in the units of ``x``.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry is observed (see :func:`squared_distances`).

    Returns
    -------
    Array, shape (..., n_obs, n_clusters)

    Examples
    --------
    >>> import jax.numpy as jnp, numpy as np
    >>> from probkm.core.likelihood import component_scores
    >>> x, locs = jnp.array([[0.0, 0.0], [3.0, 4.0]]), jnp.array([[0.0, 0.0], [3.0, 4.0]])
    >>> np.asarray(component_scores(x, jnp.array([0.5, 0.5]), locs, 1.0), float).round(2).tolist()
    [[-0.69, -13.19], [-13.19, -0.69]]
    """
    sigma = jnp.asarray(sigma)[..., None, None]
    return scores_from_distances(squared_distances(x, locs, observed), jnp.log(weights)[..., None, :], sigma)


def tempered_softmax(scores: Array, temperature: Array, axis: int = -1) -> Array:
    """Responsibilities from component scores: ``softmax(scores / T)`` along ``axis``.

    Parameters
    ----------
    scores : Array
        Component scores ``a_ik``.
    temperature : Array
        ``T > 0``; must broadcast against ``scores`` with ``axis`` removed and kept as size one.
    axis : int, default -1
        The clusters' axis.

    Returns
    -------
    Array
        Shaped as ``scores``; sums to one along ``axis``.

    Examples
    --------
    >>> import jax.numpy as jnp, numpy as np
    >>> from probkm.core.likelihood import tempered_softmax
    >>> scores = jnp.log(jnp.array([[1.0, 3.0]]))
    >>> np.asarray(tempered_softmax(scores, 1.0), float).round(3).tolist()
    [[0.25, 0.75]]
    >>> np.asarray(tempered_softmax(scores, 0.01), float).round(3).tolist()
    [[0.0, 1.0]]
    """
    return jax.nn.softmax(scores / temperature, axis=axis)


def _log_normaliser(sigma: Array, n_dim) -> Array:
    """``(n / 2) log(2 pi sigma^2)``, the per-point Gaussian normalising constant of ``n`` coordinates
    (``D``, or each row's observed count)."""
    return 0.5 * n_dim * (_LOG_2PI + 2.0 * jnp.log(sigma))


def annealed_log_likelihood(
    x: Array,
    weights: Array,
    locs: Array,
    sigma: Array,
    temperature: Array = 1.0,
    row_weights: Array | None = None,
    observed: Array | None = None,
) -> Array:
    """Pointwise annealed log-likelihood ``l_T,i``, times each row's weight when ``row_weights`` is given.

    ``l_T,i = T * logsumexp_k [a_ik / T] - (D / 2) log(2 pi sigma^2)``. At ``T = 1`` this is
    the marginal log-density of the shared-sigma spherical Gaussian mixture; as ``T -> 0``
    it tends to the classification log-likelihood ``max_k a_ik - (D/2) log(2 pi sigma^2)``.

    Parameters
    ----------
    x : Array, shape (..., n_obs, n_dim)
        Data.
    weights : Array, shape (..., n_clusters)
        Mixture weights on the simplex.
    locs : Array, shape (..., n_clusters, n_dim)
        Means.
    sigma : Array, shape (...)
        Shared standard deviation, in the units of ``x``.
    temperature : Array, shape (...), default 1.0
        ``T > 0``.
    row_weights : Array, shape (n_obs,), optional
        Non-negative weight of each row (``sample_weight``; 0 on padding rows): the result
        is ``row_weights * l_T``, so a sum over rows counts row ``i`` ``row_weights[i]`` times.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry is observed. A row's missing coordinates are marginalised out:
        ``d_ik`` sums over its observed coordinates and the normaliser is
        ``(n_i / 2) log(2 pi sigma^2)`` with ``n_i`` of them. Unobserved entries of ``x`` may be
        NaN; they reach neither the value nor any gradient.

    Returns
    -------
    Array, shape (..., n_obs)

    Notes
    -----
    ``T * logsumexp(a / T)`` is evaluated as ``max a + T * log sum exp((a - max a) / T)``,
    which stays finite for any ``T > 0``.

    Without batch dimensions (``x (N, D)``, ``weights (K,)``, ``locs (K, D)``, scalar
    ``sigma`` and ``temperature``, as the models call it) its derivatives come from a
    hand-written reverse-mode rule whose sums the forward pass gathers, over cache-sized
    blocks of rows for large ``N`` on a CPU: value and gradient at ``N = 1e6`` cost about a
    fifth of autodiff of the log-sum-exp (``benchmarks/bench_likelihood.py``). Reverse mode
    and Hessians (``jax.hessian``) work; pure forward mode (``jax.jvp``, ``jax.jacfwd``) of
    the unbatched form does not.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from probkm.core.likelihood import annealed_log_likelihood, component_scores
    >>> x, w, locs = jnp.array([[0.0, 0.0], [1.5, 0.0]]), jnp.array([0.5, 0.5]), jnp.array([[0.0, 0.0], [2.0, 0.0]])
    >>> classification = component_scores(x, w, locs, 1.0).max(-1) - jnp.log(2 * jnp.pi)
    >>> bool(jnp.allclose(annealed_log_likelihood(x, w, locs, 1.0, 1e-3), classification, atol=1e-4))
    True
    >>> jax.grad(lambda m: annealed_log_likelihood(x, w, m, 1.0).sum())(locs).shape
    (2, 2)
    """
    sigma, temperature = jnp.asarray(sigma), jnp.asarray(temperature)
    mask = _as_mask(observed, x.dtype)
    x = filled(x, mask)
    if x.ndim == 2 and weights.ndim == 1 and locs.ndim == 2 and sigma.ndim == 0 and temperature.ndim == 0:
        rows = jnp.ones(x.shape[0], x.dtype) if row_weights is None else jnp.asarray(row_weights, x.dtype)
        return _annealed_unbatched(x, weights, locs, sigma, temperature, rows, mask)
    ll = _annealed_forward(x, weights, locs, sigma, temperature, mask)[0]
    return ll if row_weights is None else ll * row_weights


def _annealed_forward(x, weights, locs, sigma, temperature, mask=None, clusters_first=False):
    """The annealed log-likelihood and what its derivatives need (``x`` already 0 where ``mask`` is).

    Returns ``(ll, (dist, shifted, resp, log_z))``, the middle two with a clusters axis: last,
    or first with ``clusters_first`` (unbatched arguments only). Clusters first, the ``(K, N)``
    intermediates run along the points, the layout XLA vectorises on a CPU: value and gradient
    sums took 0.3-0.9x the time of the ``(N, K)`` layout (``N = 1e4``, ``K = 3``, ``D = 2``:
    0.3x; ``N = 1e5``, ``K = 16``, ``D = 16``: 0.9x).
    """
    if clusters_first:
        axis, t, normaliser_sigma = 0, temperature, sigma
        locs_sq = jnp.sum(locs * locs, axis=-1)[:, None] if mask is None else jnp.einsum("kd,nd->kn", locs * locs, mask)
        # einsum, not locs @ x.T: XLA reads x in place instead of copying its transpose
        dist = _expanded(jnp.sum(x * x, axis=-1)[None, :], jnp.einsum("kd,nd->kn", locs, x), locs_sq)
        scores = scores_from_distances(dist, jnp.log(weights)[:, None], sigma)
    else:
        axis, temperature, normaliser_sigma = -1, temperature[..., None], sigma[..., None]
        t = temperature[..., None]
        dist = squared_distances(x, locs, mask)
        scores = scores_from_distances(dist, jnp.log(weights)[..., None, :], sigma[..., None, None])
    top = jnp.max(scores, axis=axis, keepdims=True)
    shifted = scores - top  # components of weight 0 (masked) score -inf and drop out here
    e = jnp.exp(shifted / t)
    z = jnp.sum(e, axis=axis, keepdims=True)
    log_z = jnp.log(jnp.squeeze(z, axis))
    n_dim = x.shape[-1] if mask is None else jnp.sum(mask, axis=-1)
    ll = jnp.squeeze(top, axis) + temperature * log_z - _log_normaliser(normaliser_sigma, n_dim)
    return ll, (dist, shifted, e / z, log_z)


ROW_BLOCK = 32_768  # rows per block: a block's (rows, K) intermediates stay in cache
# below this many rows the (N, K) arrays fit in cache anyway, and the block loop only adds
# overhead: a MAP fit at N = 1e5 took 2.4x longer in blocks, at 1e6 it took 0.8x
MIN_ROWS_TO_BLOCK = 8 * ROW_BLOCK


def _block_statistics(x, weights, locs, sigma, temperature, cotangent, with_dx, mask=None):
    """One block of rows: pointwise values and the ``cotangent``-weighted sums the gradient needs.

    Returns ``(ll (rows,), d_x (rows, D) or None, (mass (K,), resp_x (K, D), resp_dist (), d_t ()))``
    with ``gr_ik = g_i r_ik``: ``mass_k = sum_i gr_ik``, ``resp_x = sum_i gr_ik x_i``,
    ``resp_dist = sum_ik gr_ik d_ik`` and ``d_t = sum_i g_i (log z_i - sum_k r_ik a'_ik / T)``.
    With a ``mask`` of observed entries the sums also hold ``resp_mask = sum_i gr_ik m_i`` ``(K, D)``,
    the mass that observes each coordinate, and ``g_dims = sum_i g_i n_i``.
    """
    ll, (dist, shifted, resp, log_z) = _annealed_forward(x, weights, locs, sigma, temperature, mask, clusters_first=True)
    weighted = resp * cotangent[None, :]  # (K, rows)
    mass = jnp.sum(weighted, axis=1)
    d_x = None
    if with_dx:
        d_x = (jnp.einsum("kn,kd->nd", weighted, locs) - x * jnp.sum(weighted, axis=0)[:, None]) / sigma**2
        d_x = d_x if mask is None else d_x * mask
    # resp * shifted is 0 * -inf on a masked component: its term is 0
    d_t = jnp.sum(cotangent * (log_z - jnp.sum(jnp.where(resp > 0, resp * shifted, 0.0), axis=0) / temperature))
    sums = (mass, weighted @ x, jnp.sum(weighted * dist), d_t)
    if mask is not None:
        sums = sums + (weighted @ mask, jnp.sum(cotangent * jnp.sum(mask, axis=-1)))
    return ll, d_x, sums


def _over_row_blocks(x, cotangent, params, with_dx=False, mask=None):
    """:func:`_block_statistics` over blocks of :data:`ROW_BLOCK` rows (one block below
    :data:`MIN_ROWS_TO_BLOCK` rows): row outputs concatenated, sums added. One pass over the
    data, each block's work done in cache."""
    n_full = x.shape[0] // ROW_BLOCK * ROW_BLOCK if _blocks_pay(x.shape[0]) else 0
    parts = []
    if n_full:
        def block(a):
            return None if a is None else a[:n_full].reshape(-1, ROW_BLOCK, x.shape[1])

        blocks = (block(x), cotangent[:n_full].reshape(-1, ROW_BLOCK), block(mask))
        ll, d_x, sums = jax.lax.map(lambda b: _block_statistics(b[0], *params, b[1], with_dx, b[2]), blocks)
        rows = jax.tree_util.tree_map(lambda a: a.reshape((n_full,) + a.shape[2:]), (ll, d_x))
        parts.append((*rows, jax.tree_util.tree_map(lambda a: jnp.sum(a, 0), sums)))
    if n_full < x.shape[0]:
        rest = None if mask is None else mask[n_full:]
        parts.append(_block_statistics(x[n_full:], *params, cotangent[n_full:], with_dx, rest))
    if len(parts) == 1:
        return parts[0]
    (ll_a, dx_a, sums_a), (ll_b, dx_b, sums_b) = parts
    d_x = jnp.concatenate([dx_a, dx_b]) if with_dx else None
    return jnp.concatenate([ll_a, ll_b]), d_x, jax.tree_util.tree_map(jnp.add, sums_a, sums_b)


def _blocks_pay(n_rows: int) -> bool:
    """Whether to split ``n_rows`` into blocks: on one CPU device, for large ``N`` only.

    Blocks keep a CPU core's caches warm. A GPU has no such cache problem, and a loop over
    blocks of rows that are sharded over several devices would move the rows between them.
    """
    return n_rows >= MIN_ROWS_TO_BLOCK and jax.default_backend() == "cpu" and jax.device_count() == 1


def _parameter_cotangents(sums, g_total, weights, locs, sigma):
    """``dL/dw, dL/dmu, dL/dsigma, dL/dT`` from the sums of :func:`_block_statistics`."""
    mass, resp_x, resp_dist, d_t = sums[:4]
    # without missing entries every row observes all D coordinates; with them, sums[4:] hold
    # the mass observing each coordinate and sum_i g_i n_i (:func:`_block_statistics`)
    complete = len(sums) == 4
    # a component of weight 0 (masked) has no mass: its derivative is 0, not 0 / 0
    d_weights = jnp.where(weights > 0, mass / jnp.where(weights > 0, weights, 1.0), 0.0)
    d_locs = (resp_x - (mass[:, None] if complete else sums[4]) * locs) / sigma**2
    d_sigma = resp_dist / sigma**3 - (g_total * locs.shape[-1] if complete else sums[5]) / sigma
    return d_weights, d_locs, d_sigma, d_t


@jax.custom_vjp
def _annealed_unbatched(x, weights, locs, sigma, temperature, row_weights, mask):
    # in row blocks even without a gradient: 1.5x faster than one (N, K) pass at N = 1e6
    return row_weights * _over_row_blocks(x, row_weights, (weights, locs, sigma, temperature), mask=mask)[0]


def _annealed_unbatched_fwd(x, weights, locs, sigma, temperature, row_weights, mask):
    # the forward pass also gathers the gradient's sums for a cotangent of ones (g_i = the row
    # weight): the case of every model here, whose potential adds the values with one scale factor
    values = tuple(p.value for p in (x, weights, locs, sigma, temperature))
    rows = row_weights.value
    mask = None if mask is None else mask.value
    ll, _, sums = _over_row_blocks(values[0], rows, values[1:], mask=mask)
    return rows * ll, (values, rows, mask, sums, x.perturbed)


def _annealed_unbatched_bwd(residuals, cotangent):
    """Pull ``g = dL/dl_i`` back through ``l_T,i``; the tempered responsibilities are ``dl_i/da_ik``.

    With ``a_ik = log w_k - d_ik / (2 sigma^2)`` and ``gr_ik = g_i r_ik``: ``dL/dw_k = sum_i gr_ik / w_k``,
    ``dL/dmu_k = sum_i gr_ik (x_i - mu_k) / sigma^2``, ``dL/dx_i = -sum_k gr_ik (x_i - mu_k) / sigma^2``,
    ``dL/dsigma = sum_ik gr_ik d_ik / sigma^3 - D sum_i g_i / sigma`` and
    ``dL/dT = sum_i g_i (log z_i - sum_k r_ik (a_ik - max_k a_ik) / T)``. With a mask ``m`` of observed
    entries, ``(x_i - mu_k)`` becomes ``m_i * (x_i - mu_k)`` and ``D`` becomes ``n_i``. A constant ``g`` (and
    no gradient in ``x``) scales the forward pass's sums; any other ``g`` repeats the pass.
    """
    (x, weights, locs, sigma, temperature), rows, mask, sums_of_ones, x_perturbed = residuals
    params = (weights, locs, sigma, temperature)
    constant, c0 = jnp.all(cotangent == cotangent[0]), cotangent[0]
    cotangent = cotangent * rows  # the output is rows * l_i: g_i = dL/dl_i
    g_total = jnp.sum(cotangent)

    if x_perturbed:
        _, d_x, sums = _over_row_blocks(x, cotangent, params, with_dx=True, mask=mask)
        return (d_x, *_parameter_cotangents(sums, g_total, weights, locs, sigma), None, None)

    def repeat_pass(_):
        return _parameter_cotangents(_over_row_blocks(x, cotangent, params, mask=mask)[2], g_total, weights, locs, sigma)

    def scale_sums(_):
        # a constant dL/d(output) c0: g = c0 * rows, and the forward pass summed with g = rows
        scaled = jax.tree_util.tree_map(lambda a: c0 * a, sums_of_ones)
        return _parameter_cotangents(scaled, g_total, weights, locs, sigma)

    parameters = jax.lax.cond(constant, scale_sums, repeat_pass, None)
    return (None, *parameters, None, None)


_annealed_unbatched.defvjp(_annealed_unbatched_fwd, _annealed_unbatched_bwd, symbolic_zeros=True)


def mixture_log_likelihood(x: Array, weights: Array, locs: Array, sigma: Array, observed: Array | None = None) -> Array:
    """Pointwise marginal log-density of the shared-sigma mixture.

    This *is* :func:`annealed_log_likelihood` at ``T = 1``.

    Parameters
    ----------
    x : Array, shape (..., n_obs, n_dim)
        Data.
    weights : Array, shape (..., n_clusters)
        Mixture weights on the simplex.
    locs : Array, shape (..., n_clusters, n_dim)
        Means.
    sigma : Array, shape (...)
        Shared standard deviation, in the units of ``x``.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry is observed; missing coordinates are marginalised out.

    Returns
    -------
    Array, shape (..., n_obs)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import mixture_log_likelihood
    >>> ll = mixture_log_likelihood(jnp.zeros((3, 2)), jnp.ones(1), jnp.zeros((1, 2)), 1.0)
    >>> ll.shape, round(float(ll[0]), 4)  # -log(2 pi) at the mean of a 2-D standard normal
    ((3,), -1.8379)
    """
    return annealed_log_likelihood(x, weights, locs, sigma, 1.0, observed=observed)


def responsibilities(
    x: Array, weights: Array, locs: Array, sigma: Array, temperature: Array = 1.0, observed: Array | None = None
) -> Array:
    """Posterior assignment probabilities ``p(z_i = k | x_i)`` at temperature ``T``.

    At ``T = 1`` these are the mixture's responsibilities; as ``T -> 0`` they become one-hot
    nearest-centroid assignments (for equal weights).

    Parameters
    ----------
    x : Array, shape (..., n_obs, n_dim)
        Data.
    weights : Array, shape (..., n_clusters)
        Mixture weights on the simplex.
    locs : Array, shape (..., n_clusters, n_dim)
        Means.
    sigma : Array, shape (...)
        Shared standard deviation, in the units of ``x``.
    temperature : Array, shape (...), default 1.0
        ``T > 0``.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry is observed: ``p(z_i = k | observed coordinates of x_i)``.

    Returns
    -------
    Array, shape (..., n_obs, n_clusters)
        Rows sum to one.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import responsibilities
    >>> x, w, locs = jnp.array([[0.0, 0.0], [1.5, 0.0]]), jnp.array([0.5, 0.5]), jnp.array([[0.0, 0.0], [2.0, 0.0]])
    >>> bool(jnp.allclose(responsibilities(x, w, locs, 1.0).sum(-1), 1.0))
    True
    >>> responsibilities(x, w, locs, 1.0, temperature=0.01).round(3).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    temperature = jnp.asarray(temperature)[..., None, None]
    return tempered_softmax(component_scores(x, weights, locs, sigma, observed), temperature, axis=-1)


def log_sigma_derivatives(x: Array, weights: Array, locs: Array, sigma: Array) -> tuple[Array, Array]:
    """First and second derivatives of ``sum_i mixture_log_likelihood`` in ``u = log sigma``.

    Parameters
    ----------
    x : Array, shape (..., n_obs, n_dim)
        Data.
    weights : Array, shape (..., n_clusters)
        Mixture weights on the simplex.
    locs : Array, shape (..., n_clusters, n_dim)
        Means.
    sigma : Array, shape (...)
        Shared standard deviation, in the units of ``x``.

    Returns
    -------
    first, second : Array, shape (...)
        ``l'`` and ``l''``.

    Notes
    -----
    With ``s = 1 / (2 sigma^2)`` and responsibilities ``r``: ``l' = 2 s sum_i E_r[d_i] - N D``
    and ``l'' = sum_i (4 s^2 Var_r[d_i] - 4 s E_r[d_i])``. Written out because the
    autodiff Hessian of the log-sum-exp overflows in float32 for far-apart clusters.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import log_sigma_derivatives
    >>> x = jnp.array([[1.0, 0.0], [-1.0, 0.0]])
    >>> first, second = log_sigma_derivatives(x, jnp.ones(1), jnp.zeros((1, 2)), 1.0)
    >>> float(first), float(second)
    (-2.0, -4.0)
    """
    return log_sigma_derivatives_from_distances(
        squared_distances(x, locs), jnp.log(weights)[..., None, :], jnp.asarray(sigma)[..., None, None], x.shape[-1]
    )


def log_sigma_derivatives_from_distances(
    dist: Array, log_weights: Array, sigma: Array, n_dim: int, row_weights: Array | None = None
) -> tuple[Array, Array]:
    """:func:`log_sigma_derivatives` from squared distances already computed.

    The distances do not depend on sigma, so a search over sigma computes them once.

    Parameters
    ----------
    dist : Array, shape (..., n_obs, n_clusters)
        Squared distances.
    log_weights : Array
        ``log w``, broadcasting against ``dist``.
    sigma : Array
        Broadcasting against ``dist``.
    n_dim : int or Array of shape (n_obs,)
        ``D``, the data's dimension, or each row's count of observed coordinates
        (:func:`observed_counts`) when ``dist`` are partial distances.
    row_weights : Array, shape (n_obs,), optional
        Weight of each row (``sample_weight``; 0 on padding rows).

    Returns
    -------
    first, second : Array
        ``l'`` and ``l''``, with the batch shape of ``dist`` and ``sigma``.

    Examples
    --------
    Two values of sigma, one set of distances:

    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import log_sigma_derivatives_from_distances, squared_distances
    >>> dist = squared_distances(jnp.array([[1.0, 0.0], [-1.0, 0.0]]), jnp.zeros((1, 2)))
    >>> sigma = jnp.array([1.0, 2.0])[:, None, None]
    >>> first, second = log_sigma_derivatives_from_distances(dist, jnp.zeros((1, 1)), sigma, 2)
    >>> first.tolist(), second.tolist()
    ([-2.0, -3.5], [-4.0, -1.0])
    """
    s = 1.0 / (2.0 * sigma**2)
    resp = tempered_softmax(scores_from_distances(dist, log_weights, sigma), 1.0, axis=-1)
    rows = jnp.ones(dist.shape[-2], dist.dtype) if row_weights is None else row_weights
    mean_d = jnp.sum(resp * dist, axis=-1, keepdims=True)
    var_d = jnp.sum(rows[:, None] * resp * (dist - mean_d) ** 2, axis=(-2, -1))
    total_d = jnp.sum(rows[:, None] * mean_d, axis=(-2, -1))
    s = jnp.reshape(s, total_d.shape)
    first = 2.0 * s * total_d - jnp.sum(rows * n_dim)
    second = 4.0 * s**2 * var_d - 4.0 * s * total_d
    return first, second


def kmeans_objective_pointwise(x: Array, locs: Array, observed: Array | None = None) -> Array:
    """Each point's contribution to the k-means objective, ``min_k d_ik``.

    Parameters
    ----------
    x : Array, shape (..., n_obs, n_dim)
        Data.
    locs : Array, shape (..., n_clusters, n_dim)
        Centroids.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry is observed: partial distances over those coordinates.

    Returns
    -------
    Array, shape (..., n_obs)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import kmeans_objective_pointwise
    >>> x, locs = jnp.array([[0.0, 0.0], [3.0, 4.0]]), jnp.array([[0.0, 0.0], [3.0, 0.0]])
    >>> kmeans_objective_pointwise(x, locs).tolist()
    [0.0, 16.0]
    """
    return jnp.min(squared_distances(x, locs, observed), axis=-1)


def nearest_centroid(x: Array, locs: Array, observed: Array | None = None) -> Array:
    """Index of each point's nearest centroid.

    Parameters
    ----------
    x : Array, shape (..., n_obs, n_dim)
        Data.
    locs : Array, shape (..., n_clusters, n_dim)
        Centroids.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry is observed: partial distances over those coordinates.

    Returns
    -------
    Array of int32, shape (..., n_obs)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import nearest_centroid
    >>> x, locs = jnp.array([[0.0, 0.0], [3.0, 4.0]]), jnp.array([[0.0, 0.0], [3.0, 0.0]])
    >>> nearest_centroid(x, locs).tolist()
    [0, 1]
    """
    return jnp.argmin(squared_distances(x, locs, observed), axis=-1).astype(jnp.int32)


def plugin_sigma(inertia: Array, n_obs: int, n_dim: int) -> Array:
    """Classification-likelihood MLE of sigma for a k-means solution: ``sqrt(J / (N D))``.

    Parameters
    ----------
    inertia : Array
        The k-means objective ``J``, in squared units of ``x``.
    n_obs : int
        ``N``, the number of points.
    n_dim : int
        ``D``, the data's dimension.

    Returns
    -------
    Array
        Sigma, in the units of ``x``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import plugin_sigma
    >>> float(plugin_sigma(jnp.asarray(32.0), 4, 2))
    2.0
    """
    return jnp.sqrt(inertia / (n_obs * n_dim))


def sample_mixture(
    rng_key: Array, weights: Array, locs: Array, sigma: Array, sample_shape: tuple = ()
) -> tuple[Array, Array]:
    """Draw from the generative story ``z ~ Cat(w)``, ``x ~ N(mu_z, sigma^2 I)``.

    Parameters
    ----------
    rng_key : Array
        JAX PRNG key.
    weights : Array, shape (batch..., n_clusters)
        Mixture weights on the simplex.
    locs : Array, shape (batch..., n_clusters, n_dim)
        Means.
    sigma : Array, shape (batch...)
        Shared standard deviation.
    sample_shape : tuple, default ()
        Leading shape of the draws.

    Returns
    -------
    x : Array, shape sample_shape + batch + (n_dim,)
        The points; the draws are i.i.d., so their order is already random.
    z : Array of int32, shape sample_shape + batch
        Their components.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from probkm.core.likelihood import sample_mixture
    >>> locs = jnp.array([[0.0, 0.0], [10.0, 10.0]])
    >>> x, z = sample_mixture(jax.random.key(0), jnp.array([0.5, 0.5]), locs, 0.1, (50,))
    >>> x.shape, z.shape, bool(jnp.allclose(x, locs[z], atol=1.0))
    ((50, 2), (50,), True)
    """
    key_z, key_x = jax.random.split(rng_key)
    batch = jnp.broadcast_shapes(weights.shape[:-1], locs.shape[:-2], jnp.shape(sigma))
    shape = tuple(sample_shape) + batch
    z = jax.random.categorical(key_z, jnp.log(weights), shape=shape)
    locs_b = jnp.broadcast_to(locs, shape + locs.shape[-2:])
    centre = jnp.take_along_axis(locs_b, z[..., None, None], axis=-2)[..., 0, :]
    noise = jax.random.normal(key_x, centre.shape, dtype=centre.dtype)
    return centre + jnp.asarray(sigma)[..., None] * noise, z.astype(jnp.int32)
