"""The MAP of a mixture model from k-means starts: the one path from data to a MAP point.

k-means candidates (deterministic annealing and k-means++ restarts, :mod:`probkm.algorithms.kmeans`)
only have to find the MAP's basin, so they see at most ``init_samples`` random rows; each
becomes a starting point (:func:`map_starts`), the best ``map_restarts`` of them by log joint
(judged on the same rows: a pass over all rows would hold ``(N, K)`` arrays, which minibatch
SVI exists to avoid) start the optimiser on all the data (:func:`probkm.inference.map.fit_map`),
and the best result is kept. Past ``init_samples`` rows, BFGS first converges on the starts' rows
and carries its solution and inverse-Hessian estimate to all of them, where it then needs a
few evaluations instead of tens. The whole path is one compiled program, so a fit of a new shape
compiles once, and a fit of a shape already seen runs no Python between its steps.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from probkm.algorithms.annealing import assign
from probkm.algorithms.kmeans import INIT_SAMPLES, KMeansCandidates, kmeans_candidates, subsample_observed
from probkm.algorithms.ward import AUTO_ROWS
from probkm.inference.em import em_applies, em_steps
from probkm.inference.map import MapResult, check_optimizer, negative_log_joints, optimize_restarts
from probkm.inference.split_merge import split_merge_proposals
from probkm.inference.model_kwargs import split_model_kwargs
from probkm.core.programs import compiled
from probkm.core.scaling import as_jax

SPLIT_MERGE_ROUNDS = 8  # most rounds of split-and-merge moves; they stop at the first that gains nothing
SCREEN_STEPS = 10  # EM steps that rank the split-and-merge moves before the best are optimised
MOVES_OPTIMISED = 2  # best-ranked moves the optimiser runs from in each round


def restarts_wanted(map_restarts: int | str, n_rows: int, n_starts: int) -> int:
    """How many starts the optimiser runs from: ``map_restarts``, or for ``"auto"`` every one of
    the ``n_starts`` on data of at most :data:`~probkm.algorithms.ward.AUTO_ROWS` rows (with a
    positive weight) and the best-ranked one above.

    A start's log joint before optimising is a rough guide to the basin it leads to: on iris
    at K = 7, 9, 12 and wine at K = 7, 11, 12, five seeds each, the best-ranked start ended in a
    worse optimum than another start in 9 of 30 fits (by 0.17-8.1 nats). On small data an optimisation costs
    milliseconds, so there every start is optimised and the best optimum kept.

    Examples
    --------
    >>> from probkm.inference.kmeans_start import restarts_wanted
    >>> restarts_wanted("auto", 150, 5), restarts_wanted("auto", 100_000, 5), restarts_wanted(2, 150, 5)
    (5, 1, 2)
    """
    if map_restarts == "auto":
        return n_starts if n_rows <= AUTO_ROWS else 1
    return int(map_restarts)


def map_starts(
    candidates: KMeansCandidates, n_obs: int, n_dim: int, row_weights: Array | None = None, component_mask: Array | None = None
) -> dict[str, Array]:
    """MAP starting points from k-means candidates: centroids, cluster proportions and plug-in sigma.

    Parameters
    ----------
    candidates : KMeansCandidates
        Solutions with ``centers (C, K, D)``, ``labels (C, n_obs)`` and ``inertia (C,)``.
    n_obs : int or Array
        Rows the candidates were scored on (their total weight, with ``row_weights``).
    n_dim : int or Array
        ``D``, the data's dimension; with missing entries, the (weighted) mean number of
        observed coordinates per row, so that ``n_obs * n_dim`` counts the observed entries.
    row_weights : Array, shape (n_obs,), optional
        Weight of each scored row: the proportions count weights instead of rows.
    component_mask : Array, shape (K,), optional
        Nonzero for the components in use; the others start with a negligible weight.

    Returns
    -------
    dict of str to Array
        ``means (C, K, D)``, ``weights (C, K)`` (add-one smoothed, inside the simplex) and
        ``sigma (C,)``, the plug-in ``sqrt(J / (n_obs D))`` floored at 1e-3.

    Examples
    --------
    >>> import jax.numpy as jnp, numpy as np
    >>> from probkm.algorithms.kmeans import KMeansCandidates
    >>> from probkm.inference.kmeans_start import map_starts
    >>> centers, labels, inertia = jnp.array([[[0.0], [10.0]]]), jnp.array([[0, 0, 0, 1]]), jnp.array([8.0])
    >>> starts = map_starts(KMeansCandidates(centers, labels, inertia, jnp.zeros(1), None), n_obs=4, n_dim=1)
    >>> np.asarray(starts["weights"], float).round(3).tolist(), np.asarray(starts["sigma"], float).round(3).tolist()
    ([[0.667, 0.333]], [1.414])
    """
    n_clusters = candidates.centers.shape[1]
    if row_weights is None:
        counts = jax.vmap(lambda labels: jnp.bincount(labels, length=n_clusters))(candidates.labels)
    else:  # each row counts its weight; n_obs is then the total weight
        counts = jax.vmap(lambda labels: jnp.zeros(n_clusters, row_weights.dtype).at[labels].add(row_weights))(candidates.labels)
    if component_mask is None:
        weights = (counts + 1.0) / (n_obs + n_clusters)
    else:  # the kept components' proportions as unmasked; a sliver for the others, which MaskedDirichlet ignores
        in_use = jnp.asarray(component_mask) > 0
        kept = (counts + 1.0) / (n_obs + jnp.sum(in_use))
        weights = jnp.where(in_use, kept, 1e-3 / n_clusters)
        weights = weights / jnp.sum(weights, axis=-1, keepdims=True)
    sigma = jnp.sqrt(jnp.maximum(candidates.inertia / (n_obs * n_dim), 1e-6))
    return {"means": candidates.centers, "weights": weights, "sigma": sigma}


@compiled(
    on_disk=True,
    static_argnames=("model", "static_kwargs", "n_init", "map_restarts", "init_samples", "num_steps", "optimizer", "learning_rate", "split_merge_rounds"),
)
def _map_from_kmeans(
    rng_key, x, temperatures, traced_kwargs, init_means, *, model, static_kwargs, n_init, map_restarts, init_samples, num_steps, optimizer, learning_rate,
    split_merge_rounds,
):
    """The whole MAP fit (starts, their ranking, the optimiser) as one compiled program."""
    kwargs = {**dict(static_kwargs), **traced_kwargs}
    row_weights, mask, observed = kwargs.get("row_weights"), kwargs.get("component_mask"), kwargs.get("observed")
    key_sub, key_init, key_map = jax.random.split(rng_key, 3)
    x_init, init_weights, init_seen = subsample_observed(key_sub, x, init_samples, row_weights, observed)
    candidates = kmeans_candidates(
        key_init, x_init, temperatures, n_clusters=kwargs["n_components"], n_init=n_init,
        row_weights=init_weights, component_mask=mask, observed=init_seen,
    )
    if init_means is not None:  # the caller's means, (n_extra, K, D): more candidates, as they are
        labels, objective = jax.vmap(lambda means: assign(x_init, means, mask, init_seen))(init_means)
        inertia = jnp.sum(objective if init_weights is None else init_weights * objective, axis=-1)
        candidates = candidates._replace(
            centers=jnp.concatenate([candidates.centers, init_means]),
            labels=jnp.concatenate([candidates.labels, labels]),
            inertia=jnp.concatenate([candidates.inertia, inertia]),
            n_iter=jnp.concatenate([candidates.n_iter, jnp.zeros(init_means.shape[0], candidates.n_iter.dtype)]),
        )
    n_init_rows = x_init.shape[0] if init_weights is None else jnp.sum(init_weights)
    n_dim = x.shape[1]
    if init_seen is not None:  # the plug-in sigma divides the inertia by the observed entries
        rows = jnp.ones(x_init.shape[0], x.dtype) if init_weights is None else init_weights
        n_dim = jnp.sum(rows[:, None] * (init_seen > 0)) / n_init_rows
    starts = map_starts(candidates, n_init_rows, n_dim, init_weights, mask)
    # rank the starts on the rows they were found on; a start the model rejects (NaN) goes last
    init_kwargs = {**kwargs, "row_weights": init_weights, "subsample_size": None}
    if init_seen is not None:
        init_kwargs["observed"] = init_seen
    if map_restarts >= candidates.centers.shape[0]:
        # every start is optimised: a ranking would only reorder them (and cost its compilation)
        chosen = starts
    else:
        ranking = negative_log_joints(x_init, starts, init_kwargs, model)
        ranking = jnp.where(jnp.isnan(ranking), jnp.inf, ranking)
        # starts equal to rounding (often one solution in another label order) count as tied and
        # keep their candidate order, so that data equal up to a change of units pick the same one
        best = jnp.min(ranking)
        ranking = jnp.where(ranking <= best + 1e-6 * jnp.maximum(jnp.abs(best), 1.0), best, ranking)
        order = jnp.argsort(ranking, stable=True)[:map_restarts]
        chosen = {k: v[order] for k, v in starts.items()}
    # past init_samples rows, BFGS first solves on the rows the starts were found on and
    # carries that solution and its curvature to all rows (optimize_restarts' ``coarse``)
    coarse = (x_init, init_kwargs) if x_init.shape[0] < x.shape[0] else None

    def optimise(starts):
        return optimize_restarts(
            key_map, x, starts, kwargs, model=model, optimizer=optimizer, learning_rate=learning_rate, num_steps=num_steps,
            coarse=coarse,
        )

    if split_merge_rounds:
        params, final, losses, n_iter, moves = _split_merge(optimise, x, chosen, kwargs, model, split_merge_rounds, num_steps)
    else:
        (params, final, losses, n_iter), moves = optimise(chosen), jnp.zeros((), jnp.int32)
    return params, final, losses, n_iter, chosen, moves


def _split_merge(optimise, x, starts, kwargs, model, rounds, num_steps):
    """``optimise(starts)``, then up to ``rounds`` rounds of split-and-merge moves from the best
    optimum (:mod:`probkm.inference.split_merge`): each round screens every move with
    :data:`SCREEN_STEPS` EM steps and optimises the best :data:`MOVES_OPTIMISED` of them in
    as many slots as ``starts`` holds (so one traced optimiser serves every round; the other
    slots restart from the optimum, where BFGS stops at once), and the rounds stop at the first
    that does not raise the log joint. Returns the first round's per-start results with the
    best start's slot holding the final optimum, and the number of moves kept."""
    n_starts = jax.tree_util.tree_leaves(starts)[0].shape[0]

    def screened(point):
        moves, valid = split_merge_proposals(x, point, kwargs)
        # sigma held at the optimum's while screening: ranking the moves needs no Newton steps on it
        held = {**kwargs, "sigma": point["sigma"]}
        moved = jax.vmap(lambda values: em_steps(x, values, held, max_steps=SCREEN_STEPS)[0])({k: moves[k] for k in ("weights", "means")})
        moved["sigma"] = moves["sigma"]
        loss = negative_log_joints(x, moved, kwargs, model)
        order = jnp.argsort(jnp.where(valid & jnp.isfinite(loss), loss, jnp.inf))[:MOVES_OPTIMISED]
        # the other slots restart from the optimum itself, where the optimiser stops at once
        slots = jnp.arange(n_starts)
        following = {k: jnp.where((slots < order.shape[0]).reshape((-1,) + (1,) * (v.ndim - 1)), v[order[jnp.minimum(slots, order.shape[0] - 1)]], point[k][None])
                     for k, v in moved.items()}
        return following, jnp.any(valid)

    def body(state):
        round_, current, first, best, best_loss, best_iter, _, kept = state
        params, final, losses, n_iter = jax.tree_util.tree_map(lambda new, old: new.astype(old.dtype), optimise(current), first)
        first = jax.tree_util.tree_map(lambda new, old: jnp.where(round_ == 0, new, old), (params, final, losses, n_iter), first)
        i = jnp.argmin(jnp.where(jnp.isfinite(final), final, jnp.inf))
        # a move must gain more than the optimiser's own noise (BFGS stops at a gradient of 1e-5 per row)
        margin = jnp.where(jnp.isfinite(best_loss), jnp.maximum(1e-6 * jnp.abs(best_loss), 1e-4), 0.0)
        better = final[i] < best_loss - margin
        best = jax.tree_util.tree_map(lambda new, old: jnp.where(better, new[i], old), params, best)
        best_loss = jnp.where(better, final[i], best_loss)
        best_iter = best_iter + jnp.where(better, n_iter[i], 0)
        kept = kept + jnp.where(better & (round_ > 0), 1, 0)
        # screen the next moves only if there will be a next round
        going = better & (round_ < rounds)
        following, any_move = jax.lax.cond(going, screened, lambda _: (current, jnp.asarray(False)), best)
        return round_ + 1, following, first, best, best_loss, best_iter, going & any_move, kept

    # the carry's shapes, written out: jax.eval_shape would trace the optimiser a second time
    dtype = x.dtype
    first = ({k: jnp.zeros(v.shape, dtype) for k, v in starts.items()}, jnp.zeros(n_starts, dtype),
             jnp.zeros((n_starts, num_steps), dtype), jnp.zeros(n_starts, jnp.int32))
    best = {k: jnp.zeros(v.shape[1:], dtype) for k, v in starts.items()}
    state = (jnp.zeros((), jnp.int32), starts, first, best, jnp.asarray(jnp.inf, dtype), jnp.zeros((), jnp.int32), jnp.asarray(True), jnp.zeros((), jnp.int32))
    _, _, (params, final, losses, n_iter), best, best_loss, best_iter, _, kept = jax.lax.while_loop(lambda s: s[6], body, state)
    i = jnp.argmin(jnp.where(jnp.isfinite(final), final, jnp.inf))
    found = jnp.isfinite(best_loss)  # no start gave a finite optimum: nothing to put anywhere
    params = jax.tree_util.tree_map(lambda all_, one: jnp.where(found, all_.at[i].set(one), all_), params, best)
    return params, jnp.where(found, final.at[i].set(best_loss), final), losses, jnp.where(found, n_iter.at[i].set(best_iter), n_iter), kept


def map_from_kmeans(
    rng_key: Array,
    x: Array,
    model: Callable,
    *,
    n_components: int,
    temperatures: Array,
    n_init: int,
    map_restarts: int = 1,
    init_samples: int = INIT_SAMPLES,
    num_steps: int = 1,
    optimizer: str = "bfgs",
    learning_rate: float = 0.05,
    subsample_size: int | None = None,
    row_weights: Array | None = None,
    init_means: Array | None = None,
    split_merge_rounds: int = 0,
    **model_kwargs: Any,
) -> tuple[MapResult, dict[str, Array]]:
    """MAP of ``model(x, n_components=..., **model_kwargs)`` started from k-means solutions.

    Parameters
    ----------
    rng_key : Array
        JAX PRNG key.
    x : Array, shape (n_obs, n_dim)
        Data (standardised, as every probkm path computes).
    model : callable
        A NumPyro model with the sites of probkm's mixtures.
    n_components : int
        ``K``.
    temperatures : Array, shape (n_temperatures,)
        The annealing schedule of the annealed candidate.
    n_init : int
        k-means++ restarts beside annealing.
    map_restarts : int, default 1
        How many candidates, best log joint first, the optimiser starts from.
    init_samples : int, default INIT_SAMPLES
        Most rows the candidates see.
    num_steps, optimizer, learning_rate, subsample_size
        As in :func:`probkm.inference.map.fit_map`.
    row_weights : Array, shape (n_obs,), optional
        Weight of each row (``sample_weight``; 0 on padding rows), for the starts and the MAP.
    init_means : Array, shape (n_components, n_dim) or (n_extra, n_components, n_dim), optional
        Means to start from besides the k-means candidates (units of ``x``): each set becomes
        one more start, with proportions and plug-in sigma from its nearest-mean assignment, and
        takes part in the ranking like the others. ``n_extra`` is part of the compiled shape.
    split_merge_rounds : int, default 0
        Most rounds of split-and-merge moves from the best optimum (:mod:`probkm.inference.split_merge`;
        each round screens the moves by EM steps and optimises the best two, and the rounds stop
        at the first that does not raise the log joint). Only where EM applies (:func:`probkm.inference.em.em_applies`)
        and weights, means and sigma are all free; elsewhere ignored.
    **model_kwargs
        The model's other keyword arguments; a ``component_mask`` (:func:`probkm.core.shapes.component_mask`)
        reaches the k-means starts too, so one compiled fit serves every ``K <= n_components``,
        and so does ``observed`` (the mask of observed entries of ``x``, whose other entries the
        starts and the model leave out).

    Returns
    -------
    result : MapResult
        The :class:`~probkm.inference.map.MapResult`.
    starts : dict of str to Array
        The starting points the optimiser ran from, best log joint first (in candidate order
        when every candidate is optimised, where a ranking would only reorder them; site name to
        ``(map_restarts, ...)``).

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from probkm.core.models import spherical_gmm
    >>> from probkm.inference.kmeans_start import map_from_kmeans
    >>> rng = np.random.default_rng(0)
    >>> x = jnp.asarray(np.vstack([rng.normal(-2.0, 0.5, (20, 2)), rng.normal(2.0, 0.5, (20, 2))]))
    >>> result, starts = map_from_kmeans(jax.random.key(0), x, spherical_gmm, n_components=2,
    ...                                  temperatures=jnp.geomspace(1.0, 0.01, 10), n_init=2, map_restarts=2)
    >>> starts["means"].shape, bool(np.allclose(np.sort(result.params["means"][:, 0]), [-2.0, 2.0], atol=0.5))
    ((2, 2, 2), True)
    """
    check_optimizer(optimizer, subsample_size)
    kwargs = {"n_components": n_components, "subsample_size": subsample_size, "row_weights": row_weights, **model_kwargs}
    if optimizer != "bfgs" or not em_applies(model, kwargs) or any(kwargs.get(site) is not None for site in ("weights", "means", "sigma")):
        split_merge_rounds = 0
    static, traced = split_model_kwargs(kwargs)
    params, final, losses, n_iter, chosen, moves = _map_from_kmeans(
        rng_key, x, jnp.asarray(temperatures, dtype=jnp.result_type(float)), traced,
        None if init_means is None else as_jax(np.reshape(init_means, (-1, n_components, x.shape[1]))),
        model=model, static_kwargs=static,
        n_init=int(n_init), map_restarts=int(map_restarts), init_samples=int(init_samples), num_steps=int(num_steps),
        optimizer=optimizer, learning_rate=float(learning_rate), split_merge_rounds=int(split_merge_rounds),
    )
    final = np.asarray(final)
    best = int(np.argmin(np.where(np.isfinite(final), final, np.inf)))
    best_params = {k: np.asarray(v)[best] for k, v in params.items()}  # on the host: no program to compile
    return MapResult(best_params, final[best], losses, final, best, np.asarray(n_iter), int(moves)), chosen
