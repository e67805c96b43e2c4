"""Deterministic annealing and Lloyd's algorithm, as pure jitted JAX functions.

Deterministic annealing (DESIGN section 1) maximises the equal-weight annealed likelihood
``l_T`` in the means at a fixed reference ``sigma`` over a decreasing schedule of
temperatures, warm-starting each solve from the last. The closed-form fixed point at each
``T`` is the tempered EM update ``mu_k = sum_i r_ik x_i / sum_i r_ik`` with
``r = responsibilities(x, 1/K, mu, sigma_ref, T)``. The reference is
``sigma_ref^2 = 2 lambda_max`` (``lambda_max`` the largest eigenvalue of the data
covariance), which puts the first critical temperature at ``T_c = lambda_max / sigma_ref^2 = 1/2``:
a schedule starting at ``T = 1`` (the plain mixture) begins above it, so the result does not
depend on a random initialisation. The whole schedule is one ``lax.scan`` and compiles once.
Both fixed-point loops hold their arrays clusters-first, points last
(:class:`probkm.core.likelihood.Columns`), the layout XLA vectorises well on CPU.

Missing values: every function of the data takes ``observed`` ``(N, D)``, nonzero where an entry
is observed (``None``: all are, and the complete-data program runs). Distances are then partial,
over a row's observed coordinates; a centroid's coordinate is the mean over the rows (of its
cluster, weighted by responsibility) that observe that coordinate; the inertia sums over
observed entries.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from probkm.algorithms.draws import counter_normals, counter_uniforms, rows_at
from probkm.core.exported import serializable
from probkm.core.likelihood import (
    Columns,
    column_distances,
    columns,
    filled,
    scores_from_distances,
    squared_distances,
)
from probkm.core.programs import compiled

FIRST_CRITICAL_TEMPERATURE = 0.5
# the longest SQUAREM step, |a| in x0 - 2 a r + a^2 v: a^2 multiplies the rounding error of v,
# and an unbounded one let float32 noise decide which way a pair of coincident means split (a
# shift of the data by 1e6 permuted the centres); at 10 the noise stays far below the 1e-3
# symmetry-breaking perturbation, and the map evaluations are as few as unbounded
MAX_STEP = 10.0


def _in_use(component_mask: Array | None, n_clusters: int) -> Array:
    """``(K,)`` booleans: the components in use (all of them without a mask)."""
    return jnp.ones(n_clusters, bool) if component_mask is None else jnp.asarray(component_mask) > 0


def _masked_distances(dist: Array, component_mask: Array | None) -> Array:
    """Clusters-first ``(K, N)`` distances with masked components infinitely far."""
    return dist if component_mask is None else jnp.where((jnp.asarray(component_mask) > 0)[:, None], dist, jnp.inf)


def _component_normals(rng_key: Array, index: Array, shape: tuple[int, int], dtype) -> Array:
    """Standard normals ``(K, D)`` for the temperature at ``index``, entry ``(k, d)`` from the counters
    ``(index, k * 2**16 + d)`` (:func:`~probkm.algorithms.draws.counter_normals`): the first rows do not
    depend on ``K``, so a fit padded with masked components draws what the unpadded fit draws."""
    k, d = jnp.arange(shape[0], dtype=jnp.uint32)[:, None], jnp.arange(shape[1], dtype=jnp.uint32)[None, :]
    return counter_normals(rng_key, index, k * (2**16) + d, dtype)


@serializable
class AnnealPath(NamedTuple):
    """Result of :func:`anneal`.

    Attributes
    ----------
    centers : Array, shape (n_clusters, n_dim)
        Means at the lowest temperature.
    temperatures : Array, shape (n_temperatures,)
        The schedule, decreasing.
    path : Array, shape (n_temperatures, n_clusters, n_dim)
        Converged means at each temperature.
    n_iter : Array, shape (n_temperatures,)
        Evaluations of the fixed-point map (:func:`tempered_em_step`) at each temperature,
        whether plain or extrapolated steps.
    sigma_ref : Array, shape ()
        Reference sigma, ``sqrt(2 lambda_max)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = jnp.asarray(np.vstack([rng.normal(0.0, 1.0, (20, 2)), rng.normal(8.0, 1.0, (20, 2))]))
    >>> from probkm.algorithms.annealing import anneal, geometric_schedule
    >>> result = anneal(jax.random.key(0), x, geometric_schedule(1.0, 0.01, 10), n_clusters=2)
    >>> result.centers.shape, result.temperatures.shape, result.path.shape, result.n_iter.shape
    ((2, 2), (10,), (10, 2, 2), (10,))
    """

    centers: Array
    temperatures: Array
    path: Array
    n_iter: Array
    sigma_ref: Array


@serializable
class LloydResult(NamedTuple):
    """Result of :func:`lloyd`.

    Attributes
    ----------
    centers : Array, shape (K, D)
        Final centroids.
    labels : Array of int32, shape (N,)
        Nearest-centroid labels.
    inertia : Array, shape ()
        The k-means objective ``J`` of ``centers``.
    n_iter : Array, shape ()
        Lloyd updates run.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.algorithms.annealing import lloyd
    >>> x = jnp.array([[0.0, 0.0], [1.0, 0.0], [9.0, 0.0], [10.0, 0.0]])
    >>> result = lloyd(x, x[:2])
    >>> result.centers.tolist(), result.labels.tolist(), float(result.inertia)
    ([[0.5, 0.0], [9.5, 0.0]], [0, 0, 1, 1], 1.0)
    """

    centers: Array
    labels: Array
    inertia: Array
    n_iter: Array


def geometric_schedule(t_max: float, t_min: float, n_temperatures: int) -> np.ndarray:
    """``n_temperatures`` temperatures from ``t_max`` down to ``t_min``, evenly spaced in log.

    Parameters
    ----------
    t_max, t_min : float
        The first and last temperature.
    n_temperatures : int
        Length of the schedule.

    Returns
    -------
    numpy.ndarray, shape (n_temperatures,)
        In JAX's default float type. Computed by NumPy: an eager JAX computation would be
        one more program for a new process to compile.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.algorithms.annealing import geometric_schedule
    >>> np.asarray(geometric_schedule(1.0, 0.01, 3), float).round(4).tolist()
    [1.0, 0.1, 0.01]
    """
    return np.geomspace(t_max, t_min, n_temperatures).astype(jnp.result_type(float))


def largest_covariance_eigenvalue(x: Array, weights: Array | None = None, observed: Array | None = None) -> Array:
    """``lambda_max``, the largest eigenvalue of the covariance of ``x``.

    Parameters
    ----------
    x : Array, shape (N, D)
        Data.
    weights : Array, shape (N,), optional
        Non-negative weights of the points (normalised here); equal by default.
    observed : Array, shape (N, D), optional
        Nonzero where an entry is observed: each covariance entry is then over the rows that
        observe both coordinates (pairwise deletion).

    Returns
    -------
    Array, shape ()

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.algorithms.annealing import largest_covariance_eigenvalue
    >>> x = jnp.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]])
    >>> round(float(largest_covariance_eigenvalue(x, jnp.array([1.0, 1.0, 0.0]))), 4)  # first two points
    1.0
    """
    w = jnp.ones(x.shape[0], x.dtype) if weights is None else weights
    if observed is not None:
        mask = (jnp.asarray(observed) > 0).astype(x.dtype)
        seen = w[:, None] * mask
        center = jnp.sum(seen * filled(x, mask), axis=0) / jnp.maximum(jnp.sum(seen, axis=0), 1e-30)
        centred = filled(x - center, mask)
        pairs = seen.T @ mask  # weight of the rows observing both coordinates
        return jnp.linalg.eigvalsh((centred * w[:, None]).T @ centred / jnp.maximum(pairs, 1e-30))[-1]
    w = w / jnp.maximum(jnp.sum(w), 1e-30)  # no weight at all (an empty cluster): 0, not NaN
    centred = x - w @ x
    cov = (centred * w[:, None]).T @ centred
    return jnp.linalg.eigvalsh(cov)[-1]


def weighted_means(x: Array, resp: Array, previous: Array, observed: Array | None = None) -> Array:
    """``sum_i r_ki x_i / sum_i r_ki``; a component with no mass keeps its previous mean.

    Parameters
    ----------
    x : Array, shape (n_obs, n_dim)
        Data (0 at unobserved entries when ``observed`` is given).
    resp : Array, shape (n_clusters, n_obs)
        Responsibilities (or one-hot assignments), clusters first.
    previous : Array, shape (n_clusters, n_dim)
        The means they replace.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry is observed: coordinate ``d`` is then
        ``sum_i r_ki m_id x_id / sum_i r_ki m_id``, the mean over the rows observing it; a
        coordinate no row observes keeps its previous value.

    Returns
    -------
    Array, shape (n_clusters, n_dim)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.algorithms.annealing import weighted_means
    >>> x, resp = jnp.array([[0.0], [2.0], [10.0]]), jnp.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    >>> weighted_means(x, resp, jnp.array([[5.0], [7.0]])).tolist()  # cluster 1 is empty
    [[1.0], [7.0]]
    """
    mass = jnp.sum(resp, axis=1)[:, None] if observed is None else resp @ (jnp.asarray(observed) > 0).astype(x.dtype)
    means = (resp @ x) / jnp.maximum(mass, 1e-30)
    return jnp.where(mass > 0, means, previous)


def tempered_em_step(
    x: Array, data: Columns, means: Array, log_weights: Array, sigma: Array, temperature: Array, row_weights: Array | None = None
) -> Array:
    """One tempered EM update ``mu_k = sum_i r_ik x_i / sum_i r_ik``, ``r = softmax_k(a_ik / T)``.

    The fixed point of the annealed likelihood ``l_T`` in the means, with the weights and
    ``sigma`` held.

    Parameters
    ----------
    x : Array, shape (n_obs, n_dim)
        Data.
    data : Columns
        ``x`` in the :class:`~probkm.core.likelihood.Columns` layout; with missing entries
        (``data.observed``), ``x`` is 0 at them and the update is per observed coordinate.
    means : Array, shape (n_clusters, n_dim)
        Current means.
    log_weights : Array, shape (n_clusters, 1)
        Log mixture weights.
    sigma : Array, shape ()
        Shared standard deviation.
    temperature : Array, shape ()
        ``T > 0``.

    Returns
    -------
    Array, shape (n_clusters, n_dim)
        The updated means.

    Examples
    --------
    >>> import jax.numpy as jnp, numpy as np
    >>> from probkm.algorithms.annealing import tempered_em_step
    >>> from probkm.core.likelihood import columns
    >>> x = jnp.array([[0.0, 0.0], [1.0, 0.0], [9.0, 0.0], [10.0, 0.0]])
    >>> new = tempered_em_step(x, columns(x), x[jnp.array([1, 2])], jnp.log(jnp.full((2, 1), 0.5)), 1.0, 1.0)
    >>> np.asarray(new, float).round(2).tolist()
    [[0.5, 0.0], [9.5, 0.0]]
    """
    return _tempered_em_update(x, data, means, log_weights, sigma, temperature, row_weights)[0]


def _tempered_em_update(x, data, means, log_weights, sigma, temperature, row_weights=None) -> tuple[Array, Array]:
    """:func:`tempered_em_step` and, from the same scores, ``sum_i w_i T logsumexp_k(a_ik / T)``
    (the annealed log-likelihood ``l_T`` of ``means`` up to its normaliser, constant at fixed
    sigma) beside a bound on its rounding error, ``1e-6 sum_i |w_i T logsumexp_k(a_ik / T)|``."""
    scores = scores_from_distances(column_distances(data, means), log_weights, sigma) / temperature
    # the responsibilities (probkm.core.likelihood.tempered_softmax) and the log-sum-exp from
    # one pass of exponentials: a second pass cost a third more per update
    top = jnp.max(scores, axis=0)
    e = jnp.exp(scores - top[None, :])
    total = jnp.sum(e, axis=0)
    resp = e / total[None, :]
    observed = None if data.observed is None else data.observed.T
    pointwise = temperature * (top + jnp.log(total))
    if row_weights is not None:
        pointwise = jnp.where(row_weights > 0, row_weights * pointwise, 0.0)
    # the objective and its rounding error: changes below that are no evidence either way
    objective = jnp.stack([jnp.sum(pointwise), 1e-6 * jnp.sum(jnp.abs(pointwise))])
    return weighted_means(x, resp if row_weights is None else resp * row_weights[None, :], means, observed), objective


def _plain_fixed_point(step, start: Array, tol: Array, max_iter: int) -> tuple[Array, Array]:
    """Iterate ``step`` (means to ``(means, objective)``) until no mean moves more than ``tol``,
    or ``max_iter`` evaluations."""

    def body(carry):
        current, _, it = carry
        new = step(current)[0]
        return new, jnp.max(jnp.abs(new - current)), it + 1

    def keep_going(carry):
        _, shift, it = carry
        return (shift > tol) & (it < max_iter)

    means, _, n_iter = jax.lax.while_loop(keep_going, body, (start, jnp.asarray(jnp.inf, start.dtype), 0))
    return means, n_iter


def _squarem_fixed_point(step, start: Array, tol: Array, max_iter: int) -> tuple[Array, Array]:
    """The fixed point of ``step`` (means to ``(F(means), l(means))``) by SQUAREM (Varadhan &
    Roland 2008, scheme S3), ``l`` the objective ``F`` never decreases.

    A cycle from ``x0`` evaluates ``x1 = F(x0)``, ``x2 = F(x1)``, extrapolates
    ``x' = x0 - 2 a r + a^2 v`` (``r = x1 - x0``, ``v = x2 - x1 - r``,
    ``a = clip(-|r| / |v|, -MAX_STEP, -1)``; ``a = -1`` gives ``x2``) and evaluates ``F(x')`` once to
    stabilise; the next cycle starts from ``F(x')``, or from ``x2`` when ``l(x') < l(x1)`` or
    ``x'`` is not finite. The objective, not the residual, judges the jump: leaving an unstable
    fixed point (a cluster about to split) raises ``l`` but first raises the residual too.
    Each loop pass evaluates ``F`` once, and the stopping rule is the plain iteration's: the
    last evaluation moved no mean more than ``tol``, and its image is returned.
    """
    inf = jnp.asarray(jnp.inf, start.dtype)

    def body(carry):
        point, x0, x1, phase, previous_objective, _, _, it = carry
        image, objective = step(point)
        shift = jnp.max(jnp.abs(image - point))
        # phase 1 (point = x1, image = x2): extrapolate
        r = x1 - x0
        v = image - x1 - r
        alpha = jnp.clip(-jnp.sqrt(jnp.sum(r * r) / jnp.maximum(jnp.sum(v * v), jnp.finfo(start.dtype).tiny)), -MAX_STEP, -1.0)
        jump = x0 - 2.0 * alpha * r + alpha**2 * v
        jump = jnp.where(jnp.all(jnp.isfinite(jump)), jump, image)
        # phase 2 (point = x', image = F(x'), x1 holds x2, previous_objective l(x1))
        accepted = (objective[0] >= previous_objective[0] - objective[1]) & jnp.all(jnp.isfinite(image))
        restart = jnp.where(accepted, image, x1)
        next_point = jnp.select([phase == 0, phase == 1], [image, jump], restart)
        next_x0 = jnp.where(phase == 0, point, x0)
        return next_point, next_x0, image, (phase + 1) % 3, objective, shift, image, it + 1

    def keep_going(carry):
        *_, shift, _, it = carry
        return (shift > tol) & (it < max_iter)

    init = (start, start, start, 0, jnp.stack([-inf, 0.0]), inf, start, 0)
    *_, image, n_iter = jax.lax.while_loop(keep_going, body, init)
    return image, n_iter


@compiled(static_argnames=("num_iter",))
def fixed_sigma_centroids(x: Array, start: Array, sigma_values: Array, temperatures: Array, *, num_iter: int = 300) -> Array:
    """Equal-weight annealed maximum-likelihood means with sigma *fixed*, for every (T, sigma) pair.

    ``num_iter`` :func:`tempered_em_step` updates from ``start`` (no prior on the means, whose
    pull would scale with sigma^2). One compiled call.

    Parameters
    ----------
    x : Array, shape (N, D)
        Data.
    start : Array, shape (K, D)
        Starting means (a k-means solution).
    sigma_values : Array, shape (S,)
        The fixed sigmas.
    temperatures : Array, shape (M,)
        The temperatures.
    num_iter : int, default 300
        Updates per pair (static).

    Returns
    -------
    Array, shape (M, S, K, D)
        Means.

    Examples
    --------
    >>> import jax.numpy as jnp, numpy as np
    >>> from probkm.algorithms.annealing import fixed_sigma_centroids
    >>> x = jnp.array([[0.0, 0.0], [1.0, 0.0], [9.0, 0.0], [10.0, 0.0]])
    >>> sigmas, temperatures = jnp.array([0.5, 1.0, 2.0]), jnp.array([1.0, 0.1])
    >>> means = fixed_sigma_centroids(x, x[jnp.array([1, 2])], sigmas, temperatures, num_iter=20)
    >>> means.shape, np.asarray(means[1, 0], float).round(2).tolist()
    ((2, 3, 2, 2), [[0.5, 0.0], [9.5, 0.0]])
    """
    data = columns(x)
    log_weights = jnp.full((start.shape[0], 1), -jnp.log(start.shape[0]), x.dtype)

    def solve(temperature, sigma):
        step = lambda _, means: tempered_em_step(x, data, means, log_weights, sigma, temperature)  # noqa: E731
        return jax.lax.fori_loop(0, num_iter, step, start)

    per_sigma = jax.vmap(solve, in_axes=(None, 0))
    return jax.vmap(per_sigma, in_axes=(0, None))(temperatures, sigma_values)


@compiled(static_argnames=("n_clusters", "max_iter", "accelerate", "skip_settled"))
def anneal(
    rng_key: Array,
    x: Array,
    temperatures: Array,
    *,
    n_clusters: int,
    max_iter: int = 100,
    tol: float = 1e-5,
    perturbation: float = 1e-3,
    row_weights: Array | None = None,
    component_mask: Array | None = None,
    observed: Array | None = None,
    accelerate: bool = True,
    skip_settled: bool = False,
) -> AnnealPath:
    """Deterministic annealing of ``n_clusters`` equal-weight means over ``temperatures``.

    Parameters
    ----------
    rng_key : Array
        Key for the symmetry-breaking perturbation added at each temperature.
    x : Array, shape (n_obs, n_dim)
        Data.
    temperatures : Array, shape (n_temperatures,)
        Decreasing schedule, traced (one compile serves every schedule of the same length).
    n_clusters : int
        Number of means (static).
    max_iter : int, default 100
        Most evaluations of the fixed-point map per temperature (static).
    tol : float, default 1e-5
        Stop a temperature once no mean moves more than ``tol * sigma_ref``.
    perturbation : float, default 1e-3
        Size of the perturbation, relative to ``sigma_ref``; coincident means can only split
        if something separates them.
    row_weights : Array, shape (n_obs,), optional
        Weight of each row (0 on padding).
    component_mask : Array, shape (n_clusters,), optional
        Nonzero for the means in use; the others take no points and stay at the centre.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry is observed; the others (NaN allowed) are left out.
    accelerate : bool, default True
        Reach each fixed point by SQUAREM extrapolation (static); ``False`` runs the plain
        iteration. Both stop on the same rule, so they reach the same fixed points.
    skip_settled : bool, default False
        Leave out the temperatures whose fixed point is known (static): those above
        ``1.1 FIRST_CRITICAL_TEMPERATURE``, where every mean sits at the data's centre, and all
        temperatures after the first one whose fixed point took at most two evaluations (the
        perturbation undone by one update: every point's assignment is hard) with every mean
        in use apart from the others (none left to split off as ``T`` falls). Their means are
        the last ones solved, and their ``n_iter`` 0. For a start, where only the final means
        count.

    Returns
    -------
    AnnealPath

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = jnp.asarray(np.vstack([rng.normal(0.0, 1.0, (20, 2)), rng.normal(8.0, 1.0, (20, 2))]))
    >>> from probkm.algorithms.annealing import anneal, geometric_schedule
    >>> result = anneal(jax.random.key(0), x, geometric_schedule(1.0, 0.01, 10), n_clusters=2)
    >>> bool(np.allclose(np.sort(result.centers[:, 0]), [0.0, 8.0], atol=1.0))
    True
    """
    if observed is None:
        center = jnp.mean(x, axis=0) if row_weights is None else row_weights @ x / jnp.sum(row_weights)
    else:
        seen = (jnp.asarray(observed) > 0).astype(x.dtype) * (1.0 if row_weights is None else row_weights[:, None])
        center = jnp.sum(seen * filled(x, observed), axis=0) / jnp.maximum(jnp.sum(seen, axis=0), 1e-30)
    xc = filled(x - center, observed)  # work centred so the perturbation is not lost to float rounding
    data = columns(xc, observed)
    sigma_ref = jnp.sqrt(2.0 * largest_covariance_eigenvalue(xc, row_weights, observed))
    in_use = _in_use(component_mask, n_clusters)
    n_used = jnp.sum(in_use).astype(x.dtype)
    log_weights = jnp.where(in_use, -jnp.log(n_used), -jnp.inf)[:, None].astype(x.dtype)

    def fixed_point(means, index, temperature):
        means = means + perturbation * sigma_ref * _component_normals(rng_key, index, means.shape, means.dtype) * in_use[:, None]

        def step(means):
            return _tempered_em_update(xc, data, means, log_weights, sigma_ref, temperature, row_weights)

        if accelerate:
            return _squarem_fixed_point(step, means, tol * sigma_ref, max_iter)
        return _plain_fixed_point(step, means, tol * sigma_ref, max_iter)

    def solve(carry, inputs):
        means, frozen = carry
        index, temperature = inputs
        if not skip_settled:
            means, n_iter = fixed_point(means, index, temperature)
            return (means, frozen), (means, n_iter)
        settled = frozen | (temperature > 1.1 * FIRST_CRITICAL_TEMPERATURE)

        def solved(means):
            means, n_iter = fixed_point(means, index, temperature)
            return means, n_iter.astype(jnp.int32)  # the loop's counter is int64 under x64

        means, n_iter = jax.lax.cond(settled, lambda m: (m, jnp.zeros((), jnp.int32)), solved, means)
        # frozen: the perturbation undone by one update, and no two means in use together (a
        # pair still together is a cluster that may yet split as T falls)
        apart = jnp.sum((means[:, None, :] - means[None, :, :]) ** 2, axis=-1) > (10 * perturbation * sigma_ref) ** 2
        distinct = jnp.all(apart | jnp.eye(n_clusters, dtype=bool) | ~(in_use[:, None] & in_use[None, :]))
        return (means, frozen | (~settled & (n_iter <= 2) & distinct)), (means, n_iter)

    start = jnp.zeros((n_clusters, x.shape[1]), x.dtype)
    steps = jnp.arange(temperatures.shape[0], dtype=jnp.uint32)
    (final, _), (path, n_iter) = jax.lax.scan(solve, (start, jnp.zeros((), bool)), (steps, temperatures))
    return AnnealPath(final + center, temperatures, path + center, n_iter, sigma_ref)


@compiled(static_argnames=("max_iter",))
def lloyd(
    x: Array,
    centers: Array,
    *,
    max_iter: int = 300,
    tol: float = 0.0,
    row_weights: Array | None = None,
    component_mask: Array | None = None,
    observed: Array | None = None,
) -> LloydResult:
    """Lloyd's algorithm (the ``T = 0`` limit of the annealed fixed point) from ``centers``.

    Stops when the inertia stops decreasing by more than ``tol`` (relative) or after
    ``max_iter`` updates. An empty cluster keeps its previous centroid.

    Parameters
    ----------
    x : Array, shape (N, D)
        Data.
    centers : Array, shape (K, D)
        Starting centroids.
    max_iter : int, default 300
        Most updates (static).
    tol : float, default 0.0
        Relative decrease of the inertia below which it stops.
    row_weights : Array, shape (N,), optional
        Weight of each row (0 on padding).
    component_mask : Array, shape (K,), optional
        Nonzero for the centroids in use; no point is assigned to the others.
    observed : Array, shape (N, D), optional
        Nonzero where an entry is observed: partial distances, per-coordinate means over the
        rows observing each coordinate, and the inertia over observed entries.

    Returns
    -------
    LloydResult

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = jnp.asarray(np.vstack([rng.normal(0.0, 1.0, (20, 2)), rng.normal(8.0, 1.0, (20, 2))]))
    >>> from probkm.algorithms.annealing import lloyd
    >>> result = lloyd(x, x[jnp.array([0, 20])])
    >>> bool((result.labels == np.repeat([0, 1], 20)).all())
    True
    """
    x = filled(x, observed)
    data = columns(x, observed)
    clusters = jnp.arange(centers.shape[0])[:, None]
    rows = jnp.ones(x.shape[0], x.dtype) if row_weights is None else row_weights

    def body(carry):
        # one distance pass gives both the inertia of the current centres (for the stopping
        # rule) and their assignments (for the update)
        current, inertia, _, it = carry
        dist = _masked_distances(column_distances(data, current), component_mask)
        assigned = (jnp.argmin(dist, axis=0)[None, :] == clusters).astype(x.dtype) * rows[None, :]
        return weighted_means(x, assigned, current, observed), jnp.sum(rows * jnp.min(dist, axis=0)), inertia, it + 1

    def keep_going(carry):
        _, inertia, previous, it = carry
        return (inertia < previous * (1.0 - tol)) & (it <= max_iter)

    # the first pass only measures the start, so it is not counted as an update
    init = (centers, jnp.asarray(jnp.finfo(x.dtype).max, x.dtype), jnp.asarray(jnp.inf, x.dtype), 0)
    centers, _, _, n_iter = jax.lax.while_loop(keep_going, body, init)
    labels, objective = _assign(data, centers, component_mask)
    return LloydResult(centers, labels, jnp.sum(rows * objective), n_iter - 1)


def _assign(data, centers: Array, component_mask: Array | None = None) -> tuple[Array, Array]:
    dist = _masked_distances(column_distances(data, centers), component_mask)
    return jnp.argmin(dist, axis=0).astype(jnp.int32), jnp.min(dist, axis=0)


@compiled
def assign(x: Array, centers: Array, component_mask: Array | None = None, observed: Array | None = None) -> tuple[Array, Array]:
    """Nearest-centroid labels and each point's k-means objective, from one distance pass.

    Parameters
    ----------
    x : Array, shape (N, D)
        Data.
    centers : Array, shape (K, D)
        Centroids.
    component_mask : Array, shape (K,), optional
        Nonzero for the centroids in use; no point is assigned to the others.
    observed : Array, shape (N, D), optional
        Nonzero where an entry is observed: partial distances over those coordinates.

    Returns
    -------
    labels : Array of int32, shape (N,)
        Index of each point's nearest centroid.
    objective : Array, shape (N,)
        Its squared distance to that centroid (over its observed coordinates).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.algorithms.annealing import assign
    >>> x = jnp.array([[0.0, 0.0], [1.0, 0.0], [9.0, 0.0]])
    >>> labels, objective = assign(x, jnp.array([[0.0, 0.0], [10.0, 0.0]]))
    >>> labels.tolist(), objective.tolist()
    ([0, 0, 1], [0.0, 1.0, 1.0])
    """
    return _assign(columns(x, observed), centers, component_mask)


@compiled(static_argnames=("n_clusters", "n_local_trials"))
def kmeans_plusplus(
    rng_key: Array,
    x: Array,
    *,
    n_clusters: int,
    n_local_trials: int | None = None,
    row_weights: Array | None = None,
    component_mask: Array | None = None,
    observed: Array | None = None,
) -> Array:
    """Greedy k-means++ seeding.

    Each new centre is the best, by the k-means objective it leaves, of ``n_local_trials``
    points drawn with probability ``∝ D(x)^2`` (the squared distance to the nearest centre
    so far).

    Parameters
    ----------
    rng_key : Array
        JAX PRNG key.
    x : Array, shape (n_obs, n_dim)
        Data.
    n_clusters : int
        Number of centres (static).
    n_local_trials : int, optional
        Candidates per centre (static). ``None`` means ``2 + int(log K)``, scikit-learn's
        choice (``K`` the number of centres in use); 1 is plain k-means++.
    row_weights : Array, shape (n_obs,), optional
        Weight of each row: a row is drawn in proportion to it, so rows of weight 0
        (padding) never are.
    component_mask : Array, shape (n_clusters,), optional
        Nonzero for the centres in use. Masked centres are left at the first centre and
        change nothing; each centre and each trial draws from its own key, so the centres
        in use are those an unmasked call with fewer clusters returns.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry is observed: ``D(x)^2`` is the partial distance, and a centre
        drawn from a row with missing entries takes the column's observed mean there.

    Returns
    -------
    Array, shape (n_clusters, n_dim)
        Centres, each a row of ``x`` (completed by column means where it has missing entries).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from probkm.algorithms.annealing import kmeans_plusplus
    >>> x = jnp.array([[0.0, 0.0], [1.0, 0.0], [9.0, 0.0], [10.0, 0.0]])
    >>> centers = kmeans_plusplus(jax.random.key(0), x, n_clusters=2)
    >>> sorted(bool(c > 5) for c in centers[:, 0])  # one centre in each group
    [False, True]
    >>> masked = kmeans_plusplus(jax.random.key(0), x, n_clusters=4, component_mask=jnp.array([1, 1, 0, 0]))
    >>> bool(jnp.array_equal(masked[:2], centers))
    True
    """
    in_use = _in_use(component_mask, n_clusters)
    if n_local_trials is None:
        max_trials = 2 + int(math.log(n_clusters))
        n_trials = 2 + jnp.floor(jnp.log(jnp.sum(in_use).astype(jnp.float32)) + 1e-6).astype(jnp.int32)
    else:
        max_trials = n_trials = n_local_trials
    rows = jnp.ones(x.shape[0], x.dtype) if row_weights is None else row_weights
    points = x  # the candidate centres: rows of x, completed by column means
    if observed is not None:
        seen = (jnp.asarray(observed) > 0).astype(x.dtype) * rows[:, None]
        x = filled(x, observed)
        column_means = jnp.sum(seen * x, axis=0) / jnp.maximum(jnp.sum(seen, axis=0), 1e-30)
        points = jnp.where(jnp.asarray(observed) > 0, x, column_means)
    # every draw from one table of counters (centre k, trial t), drawn before the loop: entry
    # (k, t) does not depend on how many centres or trials there are room for. Rows are drawn
    # in proportion to their weight: rows of weight 0 (padding) never
    table = counter_uniforms(rng_key, jnp.arange(n_clusters, dtype=jnp.uint32)[:, None], jnp.arange(max_trials, dtype=jnp.uint32)[None, :])
    first = points[rows_at(rows, table[0, 0])]
    centers = jnp.broadcast_to(first, (n_clusters, x.shape[1]))
    closest = squared_distances(x, first[None], observed)[:, 0]

    def add(k, carry):
        centers, closest = carry
        mass = rows * jnp.maximum(closest, 0.0)
        # all points on existing centres: fall back to a choice by weight alone
        mass = jnp.where(jnp.any(mass > 0), mass, rows)
        trials = points[rows_at(mass, table[k])]
        after = jnp.minimum(closest[:, None], squared_distances(x, trials, observed))  # (N, max_trials)
        objective = jnp.sum(after, axis=0) if row_weights is None else rows @ after
        best = jnp.argmin(jnp.where(jnp.arange(max_trials) < n_trials, objective, jnp.inf))
        return (
            jnp.where(in_use[k], centers.at[k].set(trials[best]), centers),
            jnp.where(in_use[k], after[:, best], closest),
        )

    # up to the last centre in use only: with padded components, the masked tail costs nothing
    last = n_clusters if component_mask is None else n_clusters - jnp.argmax(in_use[::-1])
    centers, _ = jax.lax.fori_loop(1, last, add, (centers, closest))
    return centers


@compiled(static_argnames=("n_clusters",))
def cluster_critical_temperatures(
    x: Array, labels: Array, n_clusters: int, sigma_ref: Array, row_weights: Array | None = None, observed: Array | None = None
) -> Array:
    """Critical temperature ``lambda_max(cluster k) / sigma_ref^2`` of each cluster.

    Below its critical temperature a cluster would split further (DESIGN section 1).

    Parameters
    ----------
    x : Array, shape (N, D)
        Data.
    labels : Array of int, shape (N,)
        Cluster of each point.
    n_clusters : int
        ``K`` (static).
    sigma_ref : Array, shape ()
        The reference sigma of annealing.

    Returns
    -------
    Array, shape (K,)

    Examples
    --------
    >>> import jax.numpy as jnp, numpy as np
    >>> from probkm.algorithms.annealing import cluster_critical_temperatures
    >>> x = jnp.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 1.0]])
    >>> t_c = cluster_critical_temperatures(x, jnp.array([0, 0, 1, 1]), 2, jnp.asarray(2.0))
    >>> np.asarray(t_c, float).round(4).tolist()
    [0.25, 0.0625]
    """
    one_hot = jax.nn.one_hot(labels, n_clusters, dtype=x.dtype).T
    if row_weights is not None:
        one_hot = one_hot * row_weights[None, :]
    # lax.map, not vmap: one (N, D) centred copy at a time instead of K of them
    lam = jax.lax.map(lambda w: largest_covariance_eigenvalue(x, w, observed), one_hot)
    return lam / sigma_ref**2


__all__ = [
    "AnnealPath",
    "LloydResult",
    "FIRST_CRITICAL_TEMPERATURE",
    "anneal",
    "lloyd",
    "assign",
    "kmeans_plusplus",
    "geometric_schedule",
    "largest_covariance_eigenvalue",
    "weighted_means",
    "cluster_critical_temperatures",
    "squared_distances",
]
