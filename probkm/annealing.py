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
(:class:`probkm.likelihood.Columns`), the layout XLA vectorises well on CPU.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from probkm.likelihood import (
    column_distances,
    columns,
    scores_from_distances,
    squared_distances,
    tempered_softmax,
)

FIRST_CRITICAL_TEMPERATURE = 0.5


class AnnealPath(NamedTuple):
    """Result of :func:`anneal`.

    :ivar centers: ``(n_clusters, n_dim)`` means at the lowest temperature.
    :ivar temperatures: ``(n_temperatures,)`` the schedule, decreasing.
    :ivar path: ``(n_temperatures, n_clusters, n_dim)`` converged means at each temperature.
    :ivar n_iter: ``(n_temperatures,)`` fixed-point iterations spent at each temperature.
    :ivar sigma_ref: scalar reference sigma, ``sqrt(2 lambda_max)``.
    """

    centers: Array
    temperatures: Array
    path: Array
    n_iter: Array
    sigma_ref: Array


class LloydResult(NamedTuple):
    """Result of :func:`lloyd`: ``centers (K, D)``, ``labels (N,)``, ``inertia ()``, ``n_iter ()``."""

    centers: Array
    labels: Array
    inertia: Array
    n_iter: Array


def geometric_schedule(t_max: float, t_min: float, n_temperatures: int) -> Array:
    """``n_temperatures`` temperatures from ``t_max`` down to ``t_min``, evenly spaced in log."""
    return jnp.geomspace(t_max, t_min, n_temperatures)


def largest_covariance_eigenvalue(x: Array, weights: Array | None = None) -> Array:
    """``lambda_max`` of the (optionally ``weights``-weighted) covariance of ``x`` ``(N, D)``."""
    w = jnp.ones(x.shape[0], x.dtype) if weights is None else weights
    w = w / jnp.sum(w)
    centred = x - w @ x
    cov = (centred * w[:, None]).T @ centred
    return jnp.linalg.eigvalsh(cov)[-1]


def weighted_means(x: Array, resp: Array, previous: Array) -> Array:
    """``sum_i r_ki x_i / sum_i r_ki``; a component with no mass keeps its previous mean.

    :param x: ``(n_obs, n_dim)`` data.
    :param resp: ``(n_clusters, n_obs)`` responsibilities (or one-hot assignments), clusters first.
    :param previous: ``(n_clusters, n_dim)`` the means they replace.
    """
    mass = jnp.sum(resp, axis=1)
    means = (resp @ x) / jnp.maximum(mass, 1e-30)[:, None]
    return jnp.where(mass[:, None] > 0, means, previous)


@partial(jax.jit, static_argnames=("n_clusters", "max_iter"))
def anneal(
    rng_key: Array,
    x: Array,
    temperatures: Array,
    *,
    n_clusters: int,
    max_iter: int = 100,
    tol: float = 1e-5,
    perturbation: float = 1e-3,
) -> AnnealPath:
    """Deterministic annealing of ``n_clusters`` equal-weight means over ``temperatures``.

    :param rng_key: key for the symmetry-breaking perturbation added at each temperature.
    :param x: ``(n_obs, n_dim)`` data.
    :param temperatures: ``(n_temperatures,)`` decreasing schedule, traced (one compile
        serves every schedule of the same length).
    :param max_iter: most fixed-point iterations per temperature.
    :param tol: stop a temperature once no mean moves more than ``tol * sigma_ref``.
    :param perturbation: size of the perturbation, relative to ``sigma_ref``; coincident
        means can only split if something separates them.
    """
    center = jnp.mean(x, axis=0)
    xc = x - center  # work centred so the perturbation is not lost to float rounding
    data = columns(xc)
    sigma_ref = jnp.sqrt(2.0 * largest_covariance_eigenvalue(xc))
    log_weights = jnp.full((n_clusters, 1), -jnp.log(n_clusters), x.dtype)
    keys = jax.random.split(rng_key, temperatures.shape[0])

    def solve(means, inputs):
        key, temperature = inputs
        means = means + perturbation * sigma_ref * jax.random.normal(key, means.shape, means.dtype)

        def body(carry):
            current, _, it = carry
            scores = scores_from_distances(column_distances(data, current), log_weights, sigma_ref)
            new = weighted_means(xc, tempered_softmax(scores, temperature, axis=0), current)
            return new, jnp.max(jnp.abs(new - current)), it + 1

        def keep_going(carry):
            _, shift, it = carry
            return (shift > tol * sigma_ref) & (it < max_iter)

        means, _, n_iter = jax.lax.while_loop(keep_going, body, (means, jnp.inf, 0))
        return means, (means, n_iter)

    start = jnp.zeros((n_clusters, x.shape[1]), x.dtype)
    final, (path, n_iter) = jax.lax.scan(solve, start, (keys, temperatures))
    return AnnealPath(final + center, temperatures, path + center, n_iter, sigma_ref)


@partial(jax.jit, static_argnames=("max_iter",))
def lloyd(x: Array, centers: Array, *, max_iter: int = 300, tol: float = 0.0) -> LloydResult:
    """Lloyd's algorithm (the ``T = 0`` limit of the annealed fixed point) from ``centers``.

    Stops when the inertia stops decreasing by more than ``tol`` (relative) or after
    ``max_iter`` updates. An empty cluster keeps its previous centroid.
    """
    data = columns(x)
    clusters = jnp.arange(centers.shape[0])[:, None]

    def body(carry):
        # one distance pass gives both the inertia of the current centres (for the stopping
        # rule) and their assignments (for the update)
        current, inertia, _, it = carry
        dist = column_distances(data, current)
        assigned = (jnp.argmin(dist, axis=0)[None, :] == clusters).astype(x.dtype)
        return weighted_means(x, assigned, current), jnp.sum(jnp.min(dist, axis=0)), inertia, it + 1

    def keep_going(carry):
        _, inertia, previous, it = carry
        return (inertia < previous * (1.0 - tol)) & (it <= max_iter)

    # the first pass only measures the start, so it is not counted as an update
    init = (centers, jnp.asarray(jnp.finfo(x.dtype).max, x.dtype), jnp.asarray(jnp.inf, x.dtype), 0)
    centers, _, _, n_iter = jax.lax.while_loop(keep_going, body, init)
    labels, objective = _assign(data, centers)
    return LloydResult(centers, labels, jnp.sum(objective), n_iter - 1)


def _assign(data, centers: Array) -> tuple[Array, Array]:
    dist = column_distances(data, centers)
    return jnp.argmin(dist, axis=0).astype(jnp.int32), jnp.min(dist, axis=0)


@jax.jit
def assign(x: Array, centers: Array) -> tuple[Array, Array]:
    """Nearest-centroid labels ``(N,)`` (int32) and each point's k-means objective ``(N,)``
    (its squared distance to that centroid), from one distance pass."""
    return _assign(columns(x), centers)


@partial(jax.jit, static_argnames=("n_clusters", "n_local_trials"))
def kmeans_plusplus(rng_key: Array, x: Array, *, n_clusters: int, n_local_trials: int | None = None) -> Array:
    """Greedy k-means++ seeding: ``(n_clusters, n_dim)`` centres.

    Each new centre is the best, by the k-means objective it leaves, of ``n_local_trials``
    points drawn with probability ``∝ D(x)^2`` (the squared distance to the nearest centre
    so far). ``None`` means ``2 + int(log K)``, scikit-learn's choice; 1 is plain k-means++.
    """
    n_trials = 2 + int(math.log(n_clusters)) if n_local_trials is None else n_local_trials
    keys = jax.random.split(rng_key, n_clusters)
    first = x[jax.random.randint(keys[0], (), 0, x.shape[0])]
    centers = jnp.zeros((n_clusters, x.shape[1]), x.dtype).at[0].set(first)
    closest = squared_distances(x, first[None])[:, 0]

    def add(k, carry):
        centers, closest = carry
        logits = jnp.where(closest > 0, jnp.log(jnp.maximum(closest, 1e-30)), -jnp.inf)
        # all points on existing centres: fall back to a uniform choice
        logits = jnp.where(jnp.all(closest <= 0), jnp.zeros_like(logits), logits)
        trials = x[jax.random.categorical(keys[k], logits, shape=(n_trials,))]
        after = jnp.minimum(closest[:, None], squared_distances(x, trials))  # (N, n_trials)
        best = jnp.argmin(jnp.sum(after, axis=0))
        return centers.at[k].set(trials[best]), after[:, best]

    centers, _ = jax.lax.fori_loop(1, n_clusters, add, (centers, closest))
    return centers


@partial(jax.jit, static_argnames=("n_clusters",))
def cluster_critical_temperatures(x: Array, labels: Array, n_clusters: int, sigma_ref: Array) -> Array:
    """Critical temperature ``lambda_max(cluster k) / sigma_ref^2`` of each cluster, ``(K,)``.

    Below its critical temperature a cluster would split further (DESIGN section 1).
    """
    one_hot = jax.nn.one_hot(labels, n_clusters, dtype=x.dtype).T
    # lax.map, not vmap: one (N, D) centred copy at a time instead of K of them
    lam = jax.lax.map(lambda w: largest_covariance_eigenvalue(x, w), one_hot)
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
