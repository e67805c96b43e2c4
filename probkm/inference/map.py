"""Inference for probkm's models: MAP by SVI with an ``AutoDelta`` guide, and NUTS.

Both take any probkm model (or a user's model with the same sites) and plain keyword
arguments for it. Keyword arguments split into *static* ones (ints, strings, ``None``,
which fix shapes and control flow) and *traced* ones (arrays and floats, such as a
temperature, a fixed sigma or prior scales), so a temperature schedule, a sequence of
restarts or repeated fits of the same shape reuse one compiled function.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from jax import Array
from numpyro.handlers import replay, seed
from numpyro.primitives import Messenger
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoDelta
from numpyro.infer.initialization import init_to_value
from jax.flatten_util import ravel_pytree
from numpyro.infer.util import compute_log_probs, constrain_fn, log_density, unconstrain_fn
from numpyro.util import check_model_guide_match

from probkm._checks import InvalidValue
from probkm.core.distributions import active_weights
from probkm.inference.bfgs import minimize_bfgs
from probkm.inference.em import em_applies, em_steps
from probkm.inference.model_kwargs import split_model_kwargs
from probkm.core.programs import compiled

OPTIMIZERS = ("bfgs", "adam")
EM_STEPS = 10  # most EM passes over all rows between the BFGS runs on a subsample and on all rows


class MapResult(NamedTuple):
    """Result of :func:`fit_map`.

    Attributes
    ----------
    params : dict of str to Array
        Site name to MAP value (constrained), for the best restart.
    loss : scalar
        Negative log joint density at ``params`` (lower is better).
    losses : numpy.ndarray, shape (n_restarts, num_steps)
        Loss trace of every restart.
    restart_losses : numpy.ndarray, shape (n_restarts,)
        Final loss of every restart.
    best : int
        Index of the kept restart.
    n_iter : numpy.ndarray, shape (n_restarts,)
        Iterations each restart ran: BFGS iterations, or Adam steps.
    n_moves : int
        Split-and-merge moves kept after the restarts (:mod:`probkm.inference.split_merge`;
        0 unless asked for); ``params``, ``loss`` and the best restart's entries of
        ``restart_losses`` and ``n_iter`` then describe the optimum they led to.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from probkm.core.models import spherical_gmm
    >>> from probkm.inference.map import fit_map
    >>> rng = np.random.default_rng(0)
    >>> x = jnp.asarray(np.vstack([rng.normal(-2.0, 0.5, (20, 2)), rng.normal(2.0, 0.5, (20, 2))]))
    >>> means = jnp.array([[[-1.0, -1.0], [1.0, 1.0]], [[0.0, -1.0], [0.0, 1.0]]])  # two restarts
    >>> init = {"weights": jnp.full((2, 2), 0.5), "means": means, "sigma": jnp.ones(2)}
    >>> result = fit_map(jax.random.key(0), x, spherical_gmm, init, num_steps=1, n_components=2)
    >>> result.params["means"].shape, result.losses.shape, result.restart_losses.shape, result.n_iter.shape
    ((2, 2), (2, 1), (2,), (2,))
    """

    params: dict[str, Array]
    loss: Array
    losses: Array
    restart_losses: Array
    best: int
    n_iter: Array
    n_moves: int = 0


class _SortedTraceELBO(Trace_ELBO):
    """Single-particle ``Trace_ELBO`` whose per-site terms are built and summed in sorted site order.

    NumPyro's ``Trace_ELBO`` forms the terms ``log p - log q`` while iterating over a Python
    ``set`` of site names, whose order follows the process's string-hash seed. That order
    changed both the float rounding of the loss (so MAP results differed between Python
    processes) and the traced graph (so JAX's persistent compilation cache, keyed by the
    graph, missed in every new process). Iterating in sorted order fixes both.
    """

    def loss_with_mutable_state(self, rng_key, param_map, model, guide, *args, **kwargs):
        model_seed, guide_seed = jax.random.split(rng_key)
        guide_log_probs, guide_trace = compute_log_probs(seed(guide, guide_seed), args, kwargs, param_map)
        replayed = replay(seed(model, model_seed), guide_trace)
        model_log_probs, model_trace = compute_log_probs(replayed, args, kwargs, param_map)
        check_model_guide_match(model_trace, guide_trace)
        loss = jnp.array(0.0)
        for name in sorted(set(model_log_probs) | set(guide_log_probs)):
            loss = loss - (model_log_probs.get(name, 0.0) - guide_log_probs.get(name, 0.0))
        return {"loss": loss, "mutable_state": None}


class _MinibatchesWithReplacement(Messenger):
    """Draw a subsampled plate's rows uniformly with replacement.

    NumPyro draws them without replacement by a partial Fisher-Yates shuffle of all ``N``
    row indices, on every step: at ``N = 1e7`` that is most of a minibatch step's time and
    an ``N``-sized array. For stochastic gradients with replacement is as good: each row is
    equally likely, and the plate's ``N / batch`` scaling keeps the likelihood unbiased.
    """

    def process_message(self, msg):
        if msg["type"] == "plate" and msg["value"] is None:
            size, subsample_size = msg["args"]
            if subsample_size < size:
                msg["value"] = jax.random.randint(numpyro.prng_key(), (subsample_size,), 0, size)


def _adam(learning_rate: float, num_steps: int, decay: bool):
    if decay:  # minibatch gradients are noisy: shrink the step 100-fold over the run
        return numpyro.optim.Adam(lambda step: learning_rate * 0.01 ** (step / num_steps))
    return numpyro.optim.Adam(learning_rate)


def optimize_restarts(rng_key, x, init_values, kwargs, *, model, optimizer, learning_rate, num_steps, coarse=None):
    """SVI from each restart's initial values, one restart after another; traceable inside a compiled fit.

    Parameters
    ----------
    rng_key : Array
        JAX PRNG key.
    x : Array, shape (n_obs, n_dim)
        Data.
    init_values : dict of str to Array
        Site name to initial values ``(n_restarts, ...)``.
    kwargs : dict
        The model's keyword arguments, static and traced together.
    model, optimizer, learning_rate, num_steps
        As in :func:`fit_map`.
    coarse : tuple of (Array, dict), optional
        ``(x_sub, kwargs_sub)``: rows of ``x`` (a random subsample) and the model's keyword
        arguments for them. BFGS then first solves on ``x_sub``; for probkm's mixture on
        complete data (:func:`probkm.inference.em.em_applies`) at most :data:`EM_STEPS` EM
        passes over ``x`` follow; BFGS then continues on ``x`` from there *and from the
        subsample's inverse-Hessian estimate*: both objectives are per-row log joints, so their
        curvatures agree to sampling error. At N = 1e5 this takes 2-10 EM passes and 3-10
        evaluations on all rows where a cold start took 25 to 100. Ignored by Adam.

    Returns
    -------
    params : dict of str to Array
        Site name to MAP values ``(n_restarts, ...)``; with a ``component_mask``, ``weights``
        are the mixture's (:func:`~probkm.core.distributions.active_weights`).
    final : Array, shape (n_restarts,)
        Negative log joint of each restart's result.
    losses : Array, shape (n_restarts, num_steps)
        Loss traces.
    n_iter : Array, shape (n_restarts,)
        BFGS iterations (on ``x``, plus those on the subsample with ``coarse``) or Adam steps.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from probkm.core.models import spherical_gmm
    >>> from probkm.inference.map import optimize_restarts
    >>> x = jnp.asarray(np.random.default_rng(0).normal(size=(30, 2)))
    >>> init = {"weights": jnp.ones((1, 1)), "means": jnp.zeros((1, 1, 2)), "sigma": jnp.ones(1)}
    >>> params, final, losses, n_iter = jax.jit(lambda x: optimize_restarts(
    ...     jax.random.key(0), x, init, {"n_components": 1}, model=spherical_gmm, optimizer="bfgs", learning_rate=0.05, num_steps=1))(x)
    >>> params["means"].shape, final.shape
    ((1, 1, 2), (1,))
    """
    # Optimise the log joint per data point: same maximiser, but gradients of order one, so
    # BFGS's first (identity-Hessian) step stays in the basin it starts in.
    mask = kwargs.get("component_mask")

    def per_row_loss(rows, rows_kwargs, unravel):
        # with row weights (sample_weight, padding) the data count as their total weight
        n_obs = rows.shape[0] if rows_kwargs.get("row_weights") is None else jnp.sum(rows_kwargs["row_weights"])
        objective = numpyro.handlers.scale(model, scale=1.0 / n_obs)

        def loss(flat):
            point = constrain_fn(model, (rows,), rows_kwargs, unravel(flat))
            return -log_density(objective, (rows,), rows_kwargs, point)[0]

        return loss, n_obs

    def bfgs(key, values):
        # beside SVI: AutoDelta's loss (the log joint in constrained space, no Jacobian) of
        # unconstrained coordinates, minimised by a BFGS that compiles the model once
        start, unravel = ravel_pytree(unconstrain_fn(model, (x,), kwargs, values))
        hess_inv, coarse_iter = None, 0
        if coarse is not None:
            first = minimize_bfgs(per_row_loss(*coarse, unravel)[0], start)
            start, hess_inv, coarse_iter = first.x, first.hess_inv, first.n_iter
            if em_applies(model, kwargs):  # EM's passes over all rows are cheaper than BFGS's
                point, em_iter = em_steps(x, constrain_fn(model, (x,), kwargs, unravel(start)), kwargs, max_steps=EM_STEPS)
                start, coarse_iter = ravel_pytree(unconstrain_fn(model, (x,), kwargs, point))[0], coarse_iter + em_iter
        loss, n_obs = per_row_loss(x, kwargs, unravel)
        result = minimize_bfgs(loss, start, hess_inv=hess_inv)
        params = constrain_fn(model, (x,), kwargs, unravel(result.x))
        if mask is not None and "weights" in params:
            params["weights"] = active_weights(params["weights"], mask)
        return params, result.fun * n_obs, jnp.full((num_steps,), result.fun * n_obs), result.n_iter + coarse_iter

    def adam(key, values):
        n_obs = x.shape[0] if kwargs.get("row_weights") is None else jnp.sum(kwargs["row_weights"])
        objective = numpyro.handlers.scale(_MinibatchesWithReplacement(model), scale=1.0 / n_obs)
        guide = AutoDelta(objective, init_loc_fn=init_to_value(values=values))
        decay = kwargs.get("subsample_size") is not None
        svi = SVI(objective, guide, _adam(learning_rate, num_steps, decay), _SortedTraceELBO())
        state = svi.init(key, x, **kwargs)

        def step(state, _):
            return svi.update(state, x, **kwargs)

        state, losses = jax.lax.scan(step, state, None, length=num_steps)
        params = guide.median(svi.get_params(state))
        if mask is not None and "weights" in params:
            params["weights"] = active_weights(params["weights"], mask)
        return params, svi.evaluate(state, x, **kwargs) * n_obs, losses * n_obs, state.optim_state[0]

    n_restarts = jax.tree_util.tree_leaves(init_values)[0].shape[0]
    keys = jax.random.split(rng_key, n_restarts)
    solve = bfgs if optimizer == "bfgs" else adam
    # lax.map, not vmap: a vmapped BFGS runs every restart until the slowest converges
    return jax.lax.map(lambda args: solve(*args), (keys, init_values))


def check_optimizer(optimizer: str, subsample_size: int | None = None) -> None:
    """Refuse an unknown optimiser, or minibatches with a full-batch one, before anything compiles.

    Parameters
    ----------
    optimizer : str
        ``"bfgs"`` or ``"adam"``.
    subsample_size : int, optional
        The minibatch size, if any.

    Raises
    ------
    ValueError
        As :func:`fit_map` does.

    Examples
    --------
    >>> from probkm.inference.map import check_optimizer
    >>> check_optimizer("bfgs")
    >>> check_optimizer("bfgs", subsample_size=100)
    Traceback (most recent call last):
    ...
    ValueError: minibatches (subsample_size=100) need optimizer='adam'; got optimizer='bfgs', which is full-batch only.
    """
    if optimizer not in OPTIMIZERS:
        raise InvalidValue(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}; got {optimizer!r}.")
    if subsample_size is not None and optimizer != "adam":
        raise ValueError(
            f"minibatches (subsample_size={subsample_size}) need optimizer='adam'; "
            f"got optimizer={optimizer!r}, which is full-batch only."
        )


@compiled(static_argnames=("model", "static_kwargs", "optimizer", "learning_rate", "num_steps"))
def _map_restarts(rng_key, x, init_values, traced_kwargs, *, model, static_kwargs, optimizer, learning_rate, num_steps):
    """:func:`optimize_restarts`, compiled."""
    kwargs = {**dict(static_kwargs), **traced_kwargs}
    return optimize_restarts(rng_key, x, init_values, kwargs, model=model, optimizer=optimizer, learning_rate=learning_rate, num_steps=num_steps)


def negative_log_joints(x: Array, values: dict[str, Array], kwargs: dict, model: Callable) -> Array:
    """``-log p(x, theta)`` at each point of ``values``; traceable inside a compiled fit.

    Parameters
    ----------
    x : Array, shape (n_obs, n_dim)
        Data.
    values : dict of str to Array
        Site name to values ``(n_points, ...)``.
    kwargs : dict
        The model's keyword arguments, static and traced together.
    model : callable
        A NumPyro model.

    Returns
    -------
    Array, shape (n_points,)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.models import spherical_gmm
    >>> from probkm.inference.map import negative_log_joints
    >>> values = {"weights": jnp.ones((2, 1)), "means": jnp.zeros((2, 1, 1)), "sigma": jnp.array([1.0, 2.0])}
    >>> negative_log_joints(jnp.zeros((4, 1)), values, {"n_components": 1}, spherical_gmm).shape
    (2,)
    """

    def one(point):
        log_joint, _ = log_density(model, (x,), kwargs, point)
        return -log_joint

    # lax.map, not vmap: one (N, K) likelihood intermediate at a time, not one per point
    return jax.lax.map(one, values)


@compiled(static_argnames=("model", "static_kwargs"))
def _negative_log_joint(x, values, traced_kwargs, *, model, static_kwargs):
    return negative_log_joints(x, values, {**dict(static_kwargs), **traced_kwargs}, model)


def negative_log_joint(x: Array, model: Callable, values: dict[str, Array], **model_kwargs) -> Array:
    """``-log p(x, theta)`` at each of several points.

    Parameters
    ----------
    x : Array, shape (n_obs, n_dim)
        Data.
    model : callable
        A NumPyro model called as ``model(x, **model_kwargs)``.
    values : dict of str to Array
        Site name to values with a leading point axis ``(n_points, ...)`` (constrained space).
    **model_kwargs
        The model's keyword arguments.

    Returns
    -------
    Array, shape (n_points,)

    Examples
    --------
    >>> import jax.numpy as jnp, numpy as np
    >>> from probkm.core.models import spherical_gmm
    >>> from probkm.inference.map import negative_log_joint
    >>> rng = np.random.default_rng(0)
    >>> x = jnp.asarray(np.vstack([rng.normal(-2.0, 0.5, (20, 2)), rng.normal(2.0, 0.5, (20, 2))]))
    >>> means = jnp.array([[[-2.0, -2.0], [2.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]]])  # the clusters, and not
    >>> values = {"weights": jnp.full((2, 2), 0.5), "means": means, "sigma": jnp.full(2, 0.5)}
    >>> nlj = negative_log_joint(x, spherical_gmm, values, n_components=2)
    >>> nlj.shape, bool(nlj[0] < nlj[1])
    ((2,), True)
    """
    static, traced = split_model_kwargs(model_kwargs)
    return _negative_log_joint(x, values, traced, model=model, static_kwargs=static)


def fit_map(
    rng_key: Array,
    x: Array,
    model: Callable,
    init_values: dict[str, Array],
    *,
    num_steps: int = 500,
    optimizer: str = "bfgs",
    learning_rate: float = 0.05,
    **model_kwargs,
) -> MapResult:
    """MAP estimate of ``model``'s latent sites by SVI with an ``AutoDelta`` guide.

    Parameters
    ----------
    rng_key : Array
        JAX PRNG key.
    x : Array, shape (n_obs, n_dim)
        Data.
    model : callable
        A NumPyro model called as ``model(x, **model_kwargs)``.
    init_values : dict of str to Array
        Site name to initial value, each with a leading restart axis ``(n_restarts, ...)``;
        every restart is optimised and the lowest loss is kept.
    num_steps : int, default 500
        Optimiser steps (for ``"bfgs"``, each step is a full BFGS solve, so 1 suffices).
    optimizer : {"bfgs", "adam"}, default "bfgs"
        ``"bfgs"`` (full-batch quasi-Newton, :func:`probkm.inference.bfgs.minimize_bfgs` on
        AutoDelta's objective) or ``"adam"`` (NumPyro's SVI).
    learning_rate : float, default 0.05
        Adam's step size, in the unconstrained units of the sites. With minibatches
        (``subsample_size`` in ``model_kwargs``) it decays 100-fold over the run.
    **model_kwargs
        The model's keyword arguments; see :func:`probkm.inference.model_kwargs.split_model_kwargs`
        for which are static.

    Returns
    -------
    MapResult

    Raises
    ------
    ValueError
        For an unknown ``optimizer``, or minibatches (``subsample_size``) with an optimizer
        other than ``"adam"``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from probkm.core.models import spherical_gmm
    >>> from probkm.inference.map import fit_map
    >>> rng = np.random.default_rng(0)
    >>> x = jnp.asarray(np.vstack([rng.normal(-2.0, 0.5, (20, 2)), rng.normal(2.0, 0.5, (20, 2))]))
    >>> means = jnp.array([[[-1.0, -1.0], [1.0, 1.0]], [[0.0, -1.0], [0.0, 1.0]]])  # two restarts
    >>> init = {"weights": jnp.full((2, 2), 0.5), "means": means, "sigma": jnp.ones(2)}
    >>> result = fit_map(jax.random.key(0), x, spherical_gmm, init, num_steps=1, n_components=2)
    >>> bool(np.allclose(np.sort(result.params["means"][:, 0]), [-2.0, 2.0], atol=0.5))
    True
    """
    static, traced = split_model_kwargs(model_kwargs)
    check_optimizer(optimizer, model_kwargs.get("subsample_size"))
    params, final, losses, n_iter = _map_restarts(
        rng_key, x, init_values, traced, model=model, static_kwargs=static,
        optimizer=optimizer, learning_rate=float(learning_rate), num_steps=int(num_steps),
    )
    final = np.asarray(final)
    best = int(np.nanargmin(np.where(np.isfinite(final), final, np.inf)))
    best_params = {k: v[best] for k, v in params.items()}
    return MapResult(best_params, final[best], losses, final, best, np.asarray(n_iter))
