"""k-means solutions from deterministic annealing and k-means++ restarts, in one compile.

:func:`kmeans_candidates` returns several k-means solutions of the same data: candidate 0
comes from deterministic annealing followed by Lloyd iterations at ``T = 0``; candidates
``1..n_init`` come from k-means++ seeding followed by Lloyd. Annealing does not guarantee
the global optimum (it can lose to restarts when ``K`` is large), so keeping both and
choosing by inertia is both deterministic and robust. Annealing sees a random subsample of
at most ``anneal_samples`` points, and seeding and a first Lloyd run per candidate one of at
most ``init_samples``: they only have to find the basin, so their cost stops growing with ``N``. A final Lloyd run on all the data
polishes the best candidate; scikit-learn's ``KMeans(n_init=10)`` instead runs ten Lloyd runs
on all of it. The candidates also seed the MAP of the mixture
(:class:`probkm.SphericalGMM`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from probkm.algorithms.annealing import AnnealPath, anneal, assign, kmeans_plusplus, lloyd
from probkm.algorithms.draws import weighted_rows
from probkm.core.exported import serializable
from probkm.core.programs import compiled

# Rungs of the row ladder (probkm.core.shapes.bucket_rows), not round numbers: data padded to
# at most this size is never subsampled. Under a round limit of 10,000, data of 10,000 rows
# (padded to 11,648) would be: a draw of 10,000 rows with replacement repeats a third of them,
# and the MAP would solve twice, on the draw and again on all rows.
INIT_SAMPLES = 11_648  # most rows seeding and the first Lloyd runs see
ANNEAL_SAMPLES = 2_944  # most rows annealing sees


@serializable
class KMeansCandidates(NamedTuple):
    """Candidate k-means solutions, candidate 0 from annealing.

    Attributes
    ----------
    centers : Array, shape (n_candidates, n_clusters, n_dim)
        Centroids.
    labels : Array, shape (n_candidates, n_obs)
        Nearest-centroid labels.
    inertia : Array, shape (n_candidates,)
        k-means objective ``J``.
    n_iter : Array, shape (n_candidates,)
        Lloyd iterations.
    anneal : AnnealPath
        The :class:`~probkm.algorithms.annealing.AnnealPath` of candidate 0.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from probkm.algorithms.kmeans import kmeans_candidates
    >>> rng = np.random.default_rng(0)
    >>> x = jnp.asarray(np.vstack([rng.normal(0.0, 1.0, (20, 2)), rng.normal(8.0, 1.0, (20, 2))]))
    >>> schedule = jnp.geomspace(1.0, 0.01, 10)
    >>> candidates = kmeans_candidates(jax.random.key(0), x, schedule, n_clusters=2, n_init=2)
    >>> candidates.centers.shape, candidates.labels.shape, candidates.inertia.shape, candidates.anneal.n_iter.shape
    ((3, 2, 2), (3, 40), (3,), (10,))
    """

    centers: Array
    labels: Array
    inertia: Array
    n_iter: Array
    anneal: AnnealPath


def subsample_rows(rng_key: Array, x: Array, max_rows: int, row_weights: Array | None = None) -> tuple[Array, Array | None]:
    """At most ``max_rows`` rows of ``x``, with their weights: all of them, or a draw with replacement.

    With replacement because it costs ``max_rows`` random integers, where a draw without
    replacement sorts all ``n_obs`` keys; a starting point does not need distinct rows.

    Parameters
    ----------
    rng_key : Array
        JAX PRNG key.
    x : Array, shape (n_obs, n_dim)
        Data.
    max_rows : int
        Most rows to keep (static: it sets the result's shape).
    row_weights : Array, shape (n_obs,), optional
        Weight of each row; a draw picks rows in proportion to it (never a row of weight 0).

    Returns
    -------
    rows : Array, shape (min(n_obs, max_rows), n_dim)
    weights : Array or None
        ``row_weights`` when every row is kept; ones for a weighted draw (each drawn row
        counts once); ``None`` when ``row_weights`` is ``None``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from probkm.algorithms.kmeans import subsample_rows
    >>> x = jnp.arange(20.0).reshape(10, 2)
    >>> subsample_rows(jax.random.key(0), x, 4)[0].shape, subsample_rows(jax.random.key(0), x, 50)[0] is x
    ((4, 2), True)
    """
    if x.shape[0] <= max_rows:
        return x, row_weights
    if row_weights is None:
        return x[jax.random.randint(rng_key, (max_rows,), 0, x.shape[0])], None
    # rows in proportion to their weight (with replacement), each then counted once
    return x[weighted_rows(rng_key, row_weights, max_rows)], jnp.ones(max_rows, x.dtype)


def subsample_observed(
    rng_key: Array, x: Array, max_rows: int, row_weights: Array | None = None, observed: Array | None = None
) -> tuple[Array, Array | None, Array | None]:
    """:func:`subsample_rows` of ``x`` together with its mask of observed entries (``None`` stays ``None``).

    Parameters
    ----------
    rng_key, x, max_rows, row_weights
        As in :func:`subsample_rows`.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry of ``x`` is observed.

    Returns
    -------
    rows, weights
        As in :func:`subsample_rows`.
    observed : Array or None
        The same rows of ``observed``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from probkm.algorithms.kmeans import subsample_observed
    >>> x = jnp.arange(12.0).reshape(6, 2)
    >>> rows, _, seen = subsample_observed(jax.random.key(0), x, 4, observed=(x % 3 > 0).astype(x.dtype))
    >>> bool(jnp.all(seen == (rows % 3 > 0)))
    True
    """
    if observed is None:
        return (*subsample_rows(rng_key, x, max_rows, row_weights), None)
    # one draw for both: the mask rides along as extra columns
    joined, weights = subsample_rows(rng_key, jnp.concatenate([x, jnp.asarray(observed, x.dtype)], axis=1), max_rows, row_weights)
    return joined[:, : x.shape[1]], weights, joined[:, x.shape[1]:]


@compiled(on_disk=True, static_argnames=("n_clusters", "n_init", "anneal_max_iter", "max_iter", "init_samples", "anneal_samples"))
def kmeans_candidates(
    rng_key: Array,
    x: Array,
    temperatures: Array,
    *,
    n_clusters: int,
    n_init: int,
    anneal_max_iter: int = 50,
    max_iter: int = 300,
    init_samples: int = INIT_SAMPLES,
    anneal_samples: int = ANNEAL_SAMPLES,
    row_weights: Array | None = None,
    component_mask: Array | None = None,
    observed: Array | None = None,
) -> KMeansCandidates:
    """Annealed solution plus ``n_init`` k-means++ restarts, each run to convergence by Lloyd.

    Every candidate is first solved on a subsample of ``init_samples`` rows and scored on all
    of ``x``; the best one is then polished by Lloyd on all of ``x``. The others are returned
    as solved on the subsample (``n_iter`` 0), with their labels and inertia on all of ``x``.

    Parameters
    ----------
    rng_key : Array
        JAX PRNG key.
    x : Array, shape (n_obs, n_dim)
        Data.
    temperatures : Array, shape (n_temperatures,)
        Decreasing annealing schedule (traced).
    n_clusters : int
        ``K`` (static, as are the remaining arguments).
    n_init : int
        Number of k-means++ restarts besides annealing (0 for annealing only).
    anneal_max_iter : int, default 50
        Most evaluations of the fixed-point map per temperature (see :func:`~probkm.algorithms.annealing.anneal`).
        Near a phase transition the map converges slowly and a temperature can use all of
        them; the next temperature goes on from where it stopped, so a start loses nothing.
        Against 100: the same MAP optima on iris and wine at K = 1..12 (three seeds), the
        same k-means inertia on iris, wine, breast cancer, digits and 20,000 blobs at K = 3, 8, 12
        but one (0.1% lower), and a fit of 9,800 rows at K = 5 in 41 ms instead of 45.
    max_iter : int, default 300
        Most Lloyd updates per run.
    init_samples : int, default INIT_SAMPLES
        Most rows seeding and the first Lloyd runs see (a random subsample when ``N`` is larger).
    anneal_samples : int, default ANNEAL_SAMPLES
        Most rows annealing sees (its own random subsample).
    row_weights : Array, shape (n_obs,), optional
        Weight of each row (``sample_weight``, 0 on padding): seeding, annealing, Lloyd and
        the inertia all count row ``i`` ``row_weights[i]`` times.
    component_mask : Array, shape (n_clusters,), optional
        Nonzero for the centroids in use (the first ones, as :func:`probkm.core.shapes.component_mask`
        makes it): the others are never assigned a point, so one compiled program serves
        every ``K <= n_clusters`` and gives the candidates an unpadded call gives.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry is observed (the others may be NaN): every step uses partial
        distances over observed coordinates, and the inertia sums over observed entries.

    Returns
    -------
    KMeansCandidates
        ``1 + n_init`` candidates.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from probkm.algorithms.kmeans import kmeans_candidates
    >>> rng = np.random.default_rng(0)
    >>> x = jnp.asarray(np.vstack([rng.normal(0.0, 1.0, (20, 2)), rng.normal(8.0, 1.0, (20, 2))]))
    >>> schedule = jnp.geomspace(1.0, 0.01, 10)
    >>> candidates = kmeans_candidates(jax.random.key(0), x, schedule, n_clusters=2, n_init=2)
    >>> bool(np.allclose(candidates.inertia, candidates.inertia.min(), rtol=1e-4))  # all the same solution
    True
    """
    key_anneal, key_seed, key_sub, key_anneal_sub = jax.random.split(rng_key, 4)
    subset, subset_weights, subset_seen = subsample_observed(key_sub, x, init_samples, row_weights, observed)
    anneal_subset, anneal_weights, anneal_seen = subsample_observed(key_anneal_sub, x, anneal_samples, row_weights, observed)
    mask = component_mask
    path = anneal(
        key_anneal, anneal_subset, temperatures, n_clusters=n_clusters, max_iter=anneal_max_iter,
        row_weights=anneal_weights, component_mask=mask, observed=anneal_seen, skip_settled=True,
    )
    starts = path.centers[None]
    if n_init > 0:
        def seed(k):
            return kmeans_plusplus(k, subset, n_clusters=n_clusters, row_weights=subset_weights, component_mask=mask, observed=subset_seen)

        starts = jnp.concatenate([starts, jax.vmap(seed)(jax.random.split(key_seed, n_init))], axis=0)
    # lax.map, not vmap: a vmapped while_loop runs every start until the slowest converges
    # and holds (n_starts, N, K) intermediates; one start at a time holds (K, N)
    if subset.shape[0] == x.shape[0]:
        def polish(c):
            return lloyd(x, c, max_iter=max_iter, row_weights=row_weights, component_mask=mask, observed=observed)

        polished = jax.lax.map(polish, starts)
        return KMeansCandidates(polished.centers, polished.labels, polished.inertia, polished.n_iter, path)

    def rough_solve(c):
        return lloyd(subset, c, max_iter=max_iter, row_weights=subset_weights, component_mask=mask, observed=subset_seen).centers

    rough = jax.lax.map(rough_solve, starts)

    def scored(centers):
        labels, objective = assign(x, centers, mask, observed)
        return labels, jnp.sum(objective if row_weights is None else row_weights * objective)

    labels, inertia = jax.lax.map(scored, rough)
    best = jnp.argmin(inertia)
    final = lloyd(x, rough[best], max_iter=max_iter, row_weights=row_weights, component_mask=mask, observed=observed)
    return KMeansCandidates(
        rough.at[best].set(final.centers),
        labels.at[best].set(final.labels),
        inertia.at[best].set(final.inertia),
        jnp.zeros(starts.shape[0], jnp.int32).at[best].set(final.n_iter),
        path,
    )
