"""k-means solutions from deterministic annealing and k-means++ restarts, in one compile.

:func:`kmeans_candidates` returns several k-means solutions of the same data: candidate 0
comes from deterministic annealing followed by Lloyd iterations at ``T = 0``; candidates
``1..n_init`` come from k-means++ seeding followed by Lloyd. Annealing does not guarantee
the global optimum (it can lose to restarts when ``K`` is large), so keeping both and
choosing by inertia is both deterministic and robust. Annealing runs on a random subsample
of at most ``anneal_samples`` points: it only has to find the basin, and Lloyd on all the
data finishes the job, so its cost stops growing with ``N``. The candidates also seed the MAP of
the mixture (:class:`probkm.SphericalGMM`).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from probkm.annealing import AnnealPath, anneal, kmeans_plusplus, lloyd


class KMeansCandidates(NamedTuple):
    """Candidate k-means solutions, candidate 0 from annealing.

    :ivar centers: ``(n_candidates, n_clusters, n_dim)``.
    :ivar labels: ``(n_candidates, n_obs)`` nearest-centroid labels.
    :ivar inertia: ``(n_candidates,)`` k-means objective ``J``.
    :ivar n_iter: ``(n_candidates,)`` Lloyd iterations.
    :ivar anneal: the :class:`~probkm.annealing.AnnealPath` of candidate 0.
    """

    centers: Array
    labels: Array
    inertia: Array
    n_iter: Array
    anneal: AnnealPath


@partial(jax.jit, static_argnames=("n_clusters", "n_init", "anneal_max_iter", "max_iter", "anneal_samples"))
def kmeans_candidates(
    rng_key: Array,
    x: Array,
    temperatures: Array,
    *,
    n_clusters: int,
    n_init: int,
    anneal_max_iter: int = 100,
    max_iter: int = 300,
    anneal_samples: int = 10_000,
) -> KMeansCandidates:
    """Annealed solution plus ``n_init`` k-means++ restarts, each polished by Lloyd.

    :param x: ``(n_obs, n_dim)`` data.
    :param temperatures: ``(n_temperatures,)`` decreasing annealing schedule (traced).
    :param n_init: number of k-means++ restarts besides annealing (0 for annealing only).
    :param anneal_samples: most points annealing sees (a random subsample when ``N`` is larger).
    """
    key_anneal, key_seed, key_sub = jax.random.split(rng_key, 3)
    subset = x
    if x.shape[0] > anneal_samples:
        subset = x[jax.random.choice(key_sub, x.shape[0], (anneal_samples,), replace=False)]
    path = anneal(key_anneal, subset, temperatures, n_clusters=n_clusters, max_iter=anneal_max_iter)
    starts = path.centers[None]
    if n_init > 0:
        seeds = jax.vmap(lambda k: kmeans_plusplus(k, x, n_clusters=n_clusters))(jax.random.split(key_seed, n_init))
        starts = jnp.concatenate([starts, seeds], axis=0)
    polished = jax.vmap(lambda c: lloyd(x, c, max_iter=max_iter))(starts)
    return KMeansCandidates(polished.centers, polished.labels, polished.inertia, polished.n_iter, path)
