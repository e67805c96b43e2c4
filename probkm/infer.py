"""Inference for probkm's models: MAP by SVI with an ``AutoDelta`` guide, and NUTS.

Both take any probkm model (or a user's model with the same sites) and plain keyword
arguments for it. Keyword arguments split into *static* ones (ints, strings, ``None``,
which fix shapes and control flow) and *traced* ones (arrays and floats, such as a
temperature, a fixed sigma or prior scales), so a temperature schedule, a sequence of
restarts or repeated fits of the same shape reuse one compiled function.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

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
from numpyro.infer.util import compute_log_probs, log_density
from numpyro.util import check_model_guide_match

if TYPE_CHECKING:
    from probkm.nuts import NutsResult

OPTIMIZERS = ("bfgs", "adam")


class MapResult(NamedTuple):
    """Result of :func:`fit_map`.

    :ivar params: dict of site name to MAP value (constrained), for the best restart.
    :ivar loss: scalar, negative log joint density at ``params`` (lower is better).
    :ivar losses: ``(n_restarts, num_steps)`` loss trace of every restart.
    :ivar restart_losses: ``(n_restarts,)`` final loss of every restart.
    :ivar best: index of the kept restart.
    """

    params: dict[str, Array]
    loss: Array
    losses: Array
    restart_losses: Array
    best: int


def split_model_kwargs(model_kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Array]]:
    """Split keyword arguments into a hashable static tuple and a dict of traced arrays.

    Floats and arrays become arrays of one fixed dtype per kind, so a Python float and a
    ``jnp`` scalar do not compile twice.
    """
    static, traced = [], {}
    for name, value in sorted(model_kwargs.items()):
        if value is None or isinstance(value, (str, bool, int, tuple)) and not isinstance(value, float):
            static.append((name, value))
        else:
            traced[name] = jnp.asarray(value, dtype=jnp.result_type(float))
    return tuple(static), traced


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


def _optimizer(name: str, learning_rate: float, num_steps: int = 1, decay: bool = False):
    if name == "adam":
        if decay:  # minibatch gradients are noisy: shrink the step 100-fold over the run
            return numpyro.optim.Adam(lambda step: learning_rate * 0.01 ** (step / num_steps))
        return numpyro.optim.Adam(learning_rate)
    if name == "bfgs":
        return numpyro.optim.Minimize(method="BFGS")
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {name!r}.")


@partial(jax.jit, static_argnames=("model", "static_kwargs", "optimizer", "learning_rate", "num_steps"))
def _map_restarts(rng_key, x, init_values, traced_kwargs, *, model, static_kwargs, optimizer, learning_rate, num_steps):
    """Run SVI from each restart's initial values in one vmapped, compiled function."""
    kwargs = {**dict(static_kwargs), **traced_kwargs}
    # Optimise the log joint per data point: same maximiser, but gradients of order one, so
    # BFGS's first (identity-Hessian) step stays in the basin it starts in.
    n_obs = x.shape[0]
    objective = numpyro.handlers.scale(_MinibatchesWithReplacement(model), scale=1.0 / n_obs)

    def one(key, values):
        guide = AutoDelta(objective, init_loc_fn=init_to_value(values=values))
        decay = kwargs.get("subsample_size") is not None
        svi = SVI(objective, guide, _optimizer(optimizer, learning_rate, num_steps, decay), _SortedTraceELBO())
        state = svi.init(key, x, **kwargs)

        def step(state, _):
            return svi.update(state, x, **kwargs)

        state, losses = jax.lax.scan(step, state, None, length=num_steps)
        params = guide.median(svi.get_params(state))
        return params, svi.evaluate(state, x, **kwargs) * n_obs, losses * n_obs

    n_restarts = jax.tree_util.tree_leaves(init_values)[0].shape[0]
    keys = jax.random.split(rng_key, n_restarts)
    # lax.map, not vmap: a vmapped BFGS runs every restart until the slowest converges
    return jax.lax.map(lambda args: one(*args), (keys, init_values))


@partial(jax.jit, static_argnames=("model", "static_kwargs"))
def _negative_log_joint(x, values, traced_kwargs, *, model, static_kwargs):
    kwargs = {**dict(static_kwargs), **traced_kwargs}

    def one(point):
        log_joint, _ = log_density(model, (x,), kwargs, point)
        return -log_joint

    # lax.map, not vmap: one (N, K) likelihood intermediate at a time, not one per point
    return jax.lax.map(one, values)


def negative_log_joint(x: Array, model: Callable, values: dict[str, Array], **model_kwargs) -> Array:
    """``-log p(x, theta)`` at each of several points, shape ``(n_points,)``.

    :param values: site name to values with a leading point axis (constrained space).
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

    :param rng_key: JAX PRNG key.
    :param x: ``(n_obs, n_dim)`` data.
    :param model: a NumPyro model called as ``model(x, **model_kwargs)``.
    :param init_values: site name to initial value, each with a leading restart axis
        ``(n_restarts, ...)``; every restart is optimised and the lowest loss is kept.
    :param num_steps: optimiser steps (for ``"bfgs"``, each step is a full BFGS solve, so 1 suffices).
    :param optimizer: ``"bfgs"`` (NumPyro's full-batch ``Minimize``, quasi-Newton) or ``"adam"``.
    :param learning_rate: Adam's step size, in the unconstrained units of the sites. With
        minibatches (``subsample_size`` in ``model_kwargs``) it decays 100-fold over the run.
    """
    static, traced = split_model_kwargs(model_kwargs)
    _optimizer(optimizer, learning_rate)  # validate before compiling
    if model_kwargs.get("subsample_size") is not None and optimizer != "adam":
        raise ValueError(
            f"minibatches (subsample_size={model_kwargs['subsample_size']}) need optimizer='adam'; "
            f"got optimizer={optimizer!r}, which is full-batch only."
        )
    params, final, losses = _map_restarts(
        rng_key, x, init_values, traced, model=model, static_kwargs=static,
        optimizer=optimizer, learning_rate=float(learning_rate), num_steps=int(num_steps),
    )
    final = np.asarray(final)
    best = int(np.nanargmin(np.where(np.isfinite(final), final, np.inf)))
    best_params = {k: v[best] for k, v in params.items()}
    return MapResult(best_params, final[best], losses, final, best)


def fit_nuts(
    rng_key: Array,
    x: Array,
    model: Callable,
    *,
    num_warmup: int = 500,
    num_samples: int = 1000,
    num_chains: int = 2,
    chain_method: str = "sequential",
    init_values: dict[str, Array] | None = None,
    target_accept_prob: float = 0.8,
    progress_bar: bool = False,
    **model_kwargs,
) -> NutsResult:
    """Run NUTS on ``model(x, **model_kwargs)``; the draws read like NumPyro's ``MCMC``.

    NumPyro's NUTS kernel and warmup adaptation, compiled once per model, static settings
    and shapes (:mod:`probkm.nuts`), so a second call with new data, key or float arguments
    (temperature, prior scales) does not compile again. The result's
    ``get_samples(group_by_chain=True)`` gives ``(num_chains, num_samples, ...)`` constrained
    draws, and ``get_extra_fields`` the potential energy, energy, step counts, acceptance
    probabilities and divergences, which become ArviZ's ``sample_stats``. With
    ``init_values`` every chain starts at that point (for instance the MAP), so all chains
    explore the same labelling of the mixture; relabel draws before summarising anyway
    (:func:`probkm.relabel.relabel_samples`). Without, each chain starts at the median of
    prior draws.

    :param chain_method: ``"sequential"``, ``"vectorized"`` or ``"parallel"`` (one chain
        per device; on a CPU host, set ``XLA_FLAGS=--xla_force_host_platform_device_count``
        before JAX starts; with too few devices it warns and runs sequentially).
    :param progress_bar: ignored: the whole run is one compiled call, with no progress to report.
    """
    from probkm.nuts import run_nuts  # probkm.nuts imports this module

    del progress_bar
    return run_nuts(
        rng_key, x, model, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
        chain_method=chain_method, init_values=init_values, target_accept_prob=target_accept_prob,
        **model_kwargs,
    )
