"""Split-and-merge moves: leaving a local optimum of the shared-sigma mixture.

At a local optimum two kinds of error are typical: two components share one group of rows,
while elsewhere one component covers two groups. No step of EM or BFGS fixes both at once,
since either half alone lowers the log joint. A split-and-merge move (Ueda, Nakano, Ghahramani
and Hinton 2000, "SMEM algorithm for mixture models") does: it merges a pair ``(i, j)`` and
uses the freed component to split a third, ``k``. Candidates are ranked as SMEM ranks them:

* merge: pairs whose responsibility vectors point the same way,
  ``J_merge(i, j) = r_i . r_j / (|r_i| |r_j|)``;
* split: components whose rows spread wider than the shared sigma,
  ``J_split(k) = sum_n r_nk |x_n - mu_k|^2 / (N_k D sigma^2)``; the two halves start
  ``SPLIT_OFFSET`` standard deviations either side of ``mu_k`` along the principal axis of
  its rows.

:func:`split_merge_proposals` builds every move among the best ``n_pairs`` merges and
``n_splits`` splits at once (fixed shapes, so it runs inside a compiled fit); the caller
screens them with a few EM steps and optimises the best (:mod:`probkm.inference.kmeans_start`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from probkm.core.distributions import active_weights
from probkm.core.likelihood import columns
from probkm.inference.em import SLIVER, responsibilities

MERGE_PAIRS = 8  # best-ranked merges tried
SPLITS = 6  # best-ranked splits tried with each merge
SPLIT_OFFSET = 0.8  # a halved normal's mean sits sqrt(2 / pi) = 0.8 standard deviations out
POWER_STEPS = 12  # power iterations for a component's principal axis


def split_merge_proposals(
    x: Array, values: dict[str, Array], kwargs: dict[str, Any], *, n_pairs: int = MERGE_PAIRS, n_splits: int = SPLITS
) -> tuple[dict[str, Array], Array]:
    """Split-and-merge moves from one mixture.

    Parameters
    ----------
    x : Array, shape (n_obs, n_dim)
        Data, complete (no missing entries), in the units of ``values``.
    values : dict of str to Array
        ``weights (K,)``, ``means (K, D)``, ``sigma ()``: the mixture to move from.
    kwargs : dict
        The model's keyword arguments; ``row_weights`` (0 on padding rows) and
        ``component_mask`` (the components in use) are read.
    n_pairs, n_splits : int
        The best-ranked merges, and splits per merge (static).

    Returns
    -------
    proposals : dict of str to Array
        ``weights (P, K)``, ``means (P, K, D)``, ``sigma (P,)`` with ``P = min(n_pairs, K^2)
        * min(n_splits, K)``: each ranked merge with each ranked split, the pair merged into its
        first component, the split component's halves in itself and the pair's second one.
    valid : Array of bool, shape (P,)
        False where the move needs a pair or a split that does not exist (fewer than three
        components in use) or splits a component of the pair.

    Examples
    --------
    >>> import jax.numpy as jnp, numpy as np
    >>> from probkm.inference.split_merge import split_merge_proposals
    >>> rng = np.random.default_rng(0)
    >>> x = jnp.asarray(np.concatenate([rng.normal(m, 0.3, (50, 1)) for m in (-4.0, 2.0, 6.0)]))
    >>> # two components share the rows at -4; one covers those at 2 and at 6
    >>> stuck = {"weights": jnp.array([0.2, 0.2, 0.6]), "means": jnp.array([[-4.1], [-3.9], [4.0]]), "sigma": jnp.asarray(0.3)}
    >>> moves, valid = split_merge_proposals(x, stuck, {}, n_pairs=1, n_splits=1)
    >>> bool(valid[0]), sorted(np.round(np.asarray(moves["means"][0, :, 0])).tolist())
    (True, [-4.0, 2.0, 6.0])
    """
    weights, means, sigma = values["weights"], values["means"], values["sigma"]
    n_clusters, n_dim = means.shape
    mask = kwargs.get("component_mask")
    in_use = jnp.ones(n_clusters, bool) if mask is None else jnp.asarray(mask) > 0
    rows = kwargs.get("row_weights")
    rows = jnp.ones(x.shape[0], x.dtype) if rows is None else rows
    weights = active_weights(weights, in_use)
    resp = responsibilities(columns(x), weights, means, sigma, in_use, rows)  # (K, N)
    counts = jnp.sum(resp, axis=1)

    # merges: the pairs (i < j) in use whose rows overlap most
    norms = jnp.sqrt(jnp.sum(resp * resp, axis=1))
    overlap = (resp @ resp.T) / jnp.maximum(norms[:, None] * norms[None, :], 1e-30)
    upper = jnp.triu(jnp.ones((n_clusters, n_clusters), bool), 1) & in_use[:, None] & in_use[None, :]
    merge_score, flat = jax.lax.top_k(jnp.where(upper, overlap, -jnp.inf).ravel(), min(n_pairs, n_clusters * n_clusters))
    first, second = flat // n_clusters, flat % n_clusters

    # splits: the components in use whose rows spread widest for the shared sigma
    centred = x[None, :, :] - means[:, None, :]  # (K, N, D)
    spread = jnp.einsum("kn,knd->k", resp, centred * centred) / jnp.maximum(counts * n_dim * sigma**2, 1e-30)
    split_score, split = jax.lax.top_k(jnp.where(in_use & (counts > 1.0), spread, -jnp.inf), min(n_splits, n_clusters))

    def axis(k):
        """The principal axis of component k's rows and their spread along it (power iteration)."""
        scatter = jnp.einsum("n,nd,ne->de", resp[k], centred[k], centred[k])
        start = jnp.ones(n_dim, x.dtype) / jnp.sqrt(n_dim) + jnp.diag(scatter) * 1e-3  # not orthogonal to the axis
        u = jax.lax.fori_loop(0, POWER_STEPS, lambda _, v: (scatter @ v) / jnp.maximum(jnp.linalg.norm(scatter @ v), 1e-30), start)
        return u, jnp.sqrt(jnp.maximum(u @ scatter @ u, 0.0) / jnp.maximum(counts[k], 1e-30))

    directions, spreads = jax.vmap(axis)(split)

    # every (merge, split) combination at once, by one-hot masks over the components (cheaper
    # to compile than scatters); move p takes merge p // n_split and split p % n_split
    n_merge, n_split = first.shape[0], split.shape[0]
    merge_of, split_of = jnp.repeat(jnp.arange(n_merge), n_split), jnp.tile(jnp.arange(n_split), n_merge)
    i, j, k = first[merge_of], second[merge_of], split[split_of]
    slot = jnp.arange(n_clusters)[None, :]
    is_i, is_j, is_k = slot == i[:, None], slot == j[:, None], slot == k[:, None]  # (P, K)
    merged = (counts[i, None] * means[i] + counts[j, None] * means[j]) / jnp.maximum(counts[i] + counts[j], 1e-30)[:, None]
    offset = SPLIT_OFFSET * spreads[split_of, None] * directions[split_of]
    new_means = jnp.where(is_i[..., None], merged[:, None, :], means[None])
    new_means = jnp.where(is_j[..., None], (means[k] + offset)[:, None, :], new_means)
    new_means = jnp.where(is_k[..., None], (means[k] - offset)[:, None, :], new_means)
    new_weights = jnp.where(is_i, (weights[i] + weights[j])[:, None], weights[None])
    new_weights = jnp.where(is_j | is_k, (weights[k] / 2)[:, None], new_weights)
    valid = jnp.isfinite(merge_score[merge_of]) & jnp.isfinite(split_score[split_of]) & (k != i) & (k != j)
    n_moves = valid.shape[0]
    # inside the simplex, as the optimiser needs; unused components keep EM's sliver
    new_weights = jnp.where(in_use, jnp.maximum(new_weights, 1e-12), SLIVER / n_clusters)
    new_weights = new_weights / jnp.sum(new_weights, axis=-1, keepdims=True)
    return {"weights": new_weights, "means": new_means, "sigma": jnp.broadcast_to(sigma, (n_moves,))}, valid


__all__ = ["MERGE_PAIRS", "SPLITS", "split_merge_proposals"]
