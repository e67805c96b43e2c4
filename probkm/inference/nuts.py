"""Compiled NUTS: NumPyro's NUTS kernel and warmup adaptation, kept in one jitted function.

NumPyro's ``MCMC.run`` traces and compiles its sampler again on every call (seconds, most of
a call at a thousand points), even with the same ``MCMC`` object and data. :func:`fit_nuts`
runs the same kernel, ``numpyro.infer.hmc.hmc(algo="NUTS")`` with NumPyro's defaults
(windowed step-size adaptation to ``target_accept_prob``, diagonal mass matrix, tree depth
10), from a module-level ``jax.jit``:

* static (part of the compiled function's identity): the model, the static model keyword
  arguments (ints, strings, ``None``, tuples; see :func:`probkm.inference.model_kwargs.split_model_kwargs`),
  ``num_warmup``, ``num_samples``, ``num_chains``, ``chain_method``, ``target_accept_prob``,
  ``progress_bar``;
* traced: the PRNG key, the data, the other model keyword arguments (arrays and floats such
  as a temperature or prior scales), the initial values and the run id of the progress bars.

So repeated calls with new data of the same shape, a new key or new float arguments reuse
the compiled code; JAX's jit cache is the only state kept (besides the bars of a run in
progress, :mod:`probkm.inference.progress`). Each chain is one ``lax.scan``
over warmup and sampling; chains run one after another (``lax.map``), in lockstep
(``vmap``) or one per device (``shard_map``). Keys are used as ``MCMC`` uses them, so a run
starts with the same draws as ``MCMC(NUTS(model), ...)`` with the same key; NUTS trajectories
are chaotic, so float rounding, which differs between compiled programs, separates the two
after some steps (each remains a valid run).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from numpyro.infer.hmc import hmc
from numpyro.infer.initialization import init_to_median, init_to_value
from numpyro.infer.util import initialize_model

from probkm._checks import Boolean, check, check_choice
from probkm.core.programs import compiled
from probkm.inference.model_kwargs import split_model_kwargs
from probkm.inference.progress import chain_bars, count_divergences, report_progress

CHAIN_METHODS = ("sequential", "vectorized", "parallel")
# MCMC's order: its default field "diverging" first, then the requested extra fields
EXTRA_FIELDS = ("diverging", "potential_energy", "energy", "num_steps", "accept_prob")


def _chain_mesh(num_chains: int) -> Mesh:
    """The first ``num_chains`` local devices, one chain each."""
    return Mesh(np.asarray(jax.local_devices()[:num_chains]), ("chain",))


def _merge_chains(tree: dict[str, Array]) -> dict[str, Array]:
    return {k: jnp.reshape(v, (v.shape[0] * v.shape[1],) + v.shape[2:]) for k, v in tree.items()}


class NutsResult(NamedTuple):
    """Post-warmup draws of :func:`fit_nuts`, read like NumPyro's ``MCMC``.

    Attributes
    ----------
    samples : dict of str to Array
        Site name to ``(num_chains, num_samples, *site_shape)`` constrained draws,
        deterministic sites included.
    extra_fields : dict of str to Array
        ``(num_chains, num_samples)`` per draw: ``diverging`` (bool), ``potential_energy`` and
        ``energy`` (the negative log joint density, without and with the kinetic energy, in
        nats), ``num_steps`` (leapfrog steps) and ``accept_prob`` (the trajectory's mean
        acceptance probability).
    num_warmup, num_samples, num_chains : int
        The settings of the run.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from probkm.core.models import spherical_gmm
    >>> from probkm.inference.nuts import fit_nuts
    >>> rng = np.random.default_rng(0)
    >>> x = jnp.asarray(np.vstack([rng.normal(-2.0, 0.5, (20, 2)), rng.normal(2.0, 0.5, (20, 2))]))
    >>> start = {"weights": jnp.full(2, 0.5), "means": jnp.array([[-2.0, -2.0], [2.0, 2.0]]), "sigma": 0.5}
    >>> result = fit_nuts(jax.random.key(0), x, spherical_gmm, num_warmup=50, num_samples=50, num_chains=1,
    ...                   init_values=start, n_components=2)
    >>> result.get_samples()["means"].shape, result.get_samples(group_by_chain=True)["means"].shape
    ((50, 2, 2), (1, 50, 2, 2))
    >>> sorted(result.get_extra_fields())
    ['accept_prob', 'diverging', 'energy', 'num_steps', 'potential_energy']
    """

    samples: dict[str, Array]
    extra_fields: dict[str, Array]
    num_warmup: int
    num_samples: int
    num_chains: int

    def get_samples(self, group_by_chain: bool = False) -> dict[str, Array]:
        """Draws by site, as ``MCMC.get_samples``.

        Parameters
        ----------
        group_by_chain : bool, default False
            Whether to keep the chain axis.

        Returns
        -------
        dict of str to Array
            ``(num_chains, num_samples, ...)`` if ``group_by_chain``, else chains concatenated
            into ``(num_chains * num_samples, ...)``.
        """
        return self.samples if group_by_chain else _merge_chains(self.samples)

    def get_extra_fields(self, group_by_chain: bool = False) -> dict[str, Array]:
        """Sampler statistics per draw, as ``MCMC.get_extra_fields``.

        Parameters
        ----------
        group_by_chain : bool, default False
            Whether to keep the chain axis.

        Returns
        -------
        dict of str to Array
            Shaped as in :meth:`get_samples`.
        """
        return self.extra_fields if group_by_chain else _merge_chains(self.extra_fields)


@compiled(
    static_argnames=("model", "static_kwargs", "num_warmup", "num_samples", "num_chains", "chain_method", "target_accept_prob", "progress_bar"),
)
def _nuts_chains(rng_key, x, traced_kwargs, init_values, run_id, *, model, static_kwargs, num_warmup, num_samples, num_chains, chain_method,
                 target_accept_prob, progress_bar):
    """Every chain's draws: ``(samples, extra_fields, valid_start)``, each with a leading chain axis.

    ``valid_start`` says whether the log density and its gradient were finite at the start.
    With ``progress_bar``, each chain reports its progress to the bars of run ``run_id``
    (:mod:`probkm.inference.progress`); without, the program holds no host callback.
    """
    static = dict(static_kwargs)

    def bound_model(x, **traced):
        return model(x, **static, **traced)

    def one_chain(key, chain, x, traced_kwargs, init_values):
        init_strategy = init_to_median if init_values is None else init_to_value(values=init_values)
        # as HMC.init: one key for the initial point, one for the kernel
        key, key_init = jax.random.split(key)
        info = initialize_model(key_init, bound_model, model_args=(x,), model_kwargs=traced_kwargs,
                                init_strategy=init_strategy, dynamic_args=True)
        init_kernel, sample_kernel = hmc(potential_fn_gen=info.potential_fn, algo="NUTS")
        state = init_kernel(
            info.param_info, num_warmup, target_accept_prob=target_accept_prob,
            # a list, as NUTS(model) passes it: one diagonal block over all sites, so the
            # momenta (and every draw) match MCMC's for the same key
            dense_mass=[], trajectory_length=None,
            model_args=(x,), model_kwargs=traced_kwargs, rng_key=key,
        )

        def step(state, _):
            state = sample_kernel(state, model_args=(x,), model_kwargs=traced_kwargs)
            return state, (state.z, {name: getattr(state, name) for name in EXTRA_FIELDS})

        def step_reporting(carry, i):
            state, divergences = carry
            state, out = step(state, None)
            divergences = count_divergences(divergences, i, state.diverging, num_warmup)
            report_progress(run_id, chain, i, divergences, num_warmup=num_warmup, total=total)
            return (state, divergences), out

        # one scan over warmup and sampling keeps one copy of the kernel in the compiled
        # code; warmup draws are kept and dropped after (they are the size of the latents)
        total = num_warmup + num_samples
        if progress_bar:
            _, (zs, fields) = jax.lax.scan(step_reporting, (state, jnp.int32(0)), jnp.arange(total, dtype=jnp.int32))
        else:
            _, (zs, fields) = jax.lax.scan(step, state, None, length=total)
        zs, fields = jax.tree_util.tree_map(lambda a: a[num_warmup:], (zs, fields))
        samples = jax.vmap(info.postprocess_fn(x, **traced_kwargs))(zs)
        # initialize_model checks the initial point only outside jit: report it instead
        start = (info.param_info.potential_energy, info.param_info.z_grad)
        valid_start = jnp.all(jnp.array([jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(start)]))
        return samples, fields, valid_start

    def chains(keys, chain_ids, x, traced_kwargs, init_values):
        return jax.lax.map(lambda kc: one_chain(*kc, x, traced_kwargs, init_values), (keys, chain_ids))

    # as MCMC.run: one chain uses the key itself, several use one split key each
    keys = rng_key[None] if num_chains == 1 else jax.random.split(rng_key, num_chains)
    chain_ids = jnp.arange(num_chains, dtype=jnp.int32)
    if chain_method == "vectorized":
        return jax.vmap(one_chain, in_axes=(0, 0, None, None, None))(keys, chain_ids, x, traced_kwargs, init_values)
    if chain_method == "parallel" and num_chains > 1:
        # one chain per device: each gets one key and its index (blocks of shape (1,)) and all the data
        # check_vma=False: with the check, a custom VJP in a model (probkm's likelihood has
        # one) fails, its gradient for the replicated data being typed as varying per chain
        replicated, by_chain = PartitionSpec(), PartitionSpec("chain")
        chains = jax.shard_map(
            chains, mesh=_chain_mesh(num_chains), in_specs=(by_chain, by_chain, replicated, replicated, replicated),
            out_specs=by_chain, check_vma=False,
        )
    return chains(keys, chain_ids, x, traced_kwargs, init_values)


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
    """NUTS on ``model(x, **model_kwargs)``, compiled once per model, settings and shapes.

    ``num_chains`` chains of ``num_warmup`` adaptation steps then ``num_samples`` kept draws.

    Parameters
    ----------
    rng_key : Array
        JAX PRNG key; the same key gives the same draws.
    x : Array, shape (n_obs, n_dim)
        Data (may be sharded over devices, see :mod:`probkm.inference.sharding`).
    model : callable
        A NumPyro model called as ``model(x, **model_kwargs)``; passed to ``jax.jit`` as a
        static argument, so pass the same function object to reuse the compiled code.
    num_warmup : int, default 500
        Adaptation steps per chain.
    num_samples : int, default 1000
        Kept draws per chain.
    num_chains : int, default 2
        Number of chains.
    chain_method : {"sequential", "vectorized", "parallel"}, default "sequential"
        ``"sequential"`` (one after another), ``"vectorized"`` (in lockstep; the same keys as
        sequential, so the same draws until float rounding separates them) or ``"parallel"``
        (one chain per local device; with fewer devices than chains it warns and runs
        sequentially, as ``MCMC`` does).
    init_values : dict of str to Array, optional
        Site name to a constrained value (no chain axis): every chain starts there. ``None``
        (or empty): each chain starts at the median of 15 prior draws, with its own key.
    target_accept_prob : float, default 0.8
        The acceptance probability the step size adapts to.
    progress_bar : bool, default False
        Show one tqdm bar per chain (on stderr, or a notebook widget) with its phase (warmup,
        sampling) and the divergences of that phase so far, updated from inside the compiled
        run about 100 times per chain (:mod:`probkm.inference.progress`). Each setting is its
        own compiled program; with ``False`` it holds no host callback.
    **model_kwargs
        The model's keyword arguments; see :func:`probkm.inference.model_kwargs.split_model_kwargs`
        for which are static.

    Returns
    -------
    NutsResult

    Raises
    ------
    ValueError
        For an unknown ``chain_method``, or ``"parallel"`` chains on ``x`` sharded over
        several processes (:mod:`probkm.inference.sharding`).
    RuntimeError
        If the log density or its gradient is not finite at a chain's initial point.

    Warns
    -----
    UserWarning
        For ``chain_method="parallel"`` with fewer local devices than chains.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from probkm.core.models import spherical_gmm
    >>> from probkm.inference.nuts import fit_nuts
    >>> rng = np.random.default_rng(0)
    >>> x = jnp.asarray(np.vstack([rng.normal(-2.0, 0.5, (20, 2)), rng.normal(2.0, 0.5, (20, 2))]))
    >>> start = {"weights": jnp.full(2, 0.5), "means": jnp.array([[-2.0, -2.0], [2.0, 2.0]]), "sigma": 0.5}
    >>> result = fit_nuts(jax.random.key(0), x, spherical_gmm, num_warmup=50, num_samples=50, num_chains=1,
    ...                   init_values=start, n_components=2)
    >>> sigma = np.asarray(result.samples["sigma"])
    >>> sigma.shape, bool(abs(sigma.mean() - 0.5) < 0.15)
    ((1, 50), True)
    """
    check_choice("chain_method", chain_method, CHAIN_METHODS)
    if chain_method == "parallel" and jax.local_device_count() < num_chains:
        warnings.warn(
            f"There are not enough devices to run parallel chains: expected {num_chains} but got "
            f"{jax.local_device_count()}. Chains will be drawn sequentially. On a CPU host, set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={num_chains} before JAX starts.",
            UserWarning, stacklevel=2,
        )
        chain_method = "sequential"
    if chain_method == "parallel" and num_chains > 1:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            raise ValueError(
                "chain_method='parallel' runs the chains on this process's devices, which do not hold "
                "all of x (it is sharded over several processes); use 'sequential' or 'vectorized'."
            )
        # every chain needs every row: copy x to each chain's device now, as x may be sharded
        # over other devices (all of them, say), which one jitted computation cannot mix
        x = jax.device_put(x, NamedSharding(_chain_mesh(num_chains), PartitionSpec()))
    static, traced = split_model_kwargs(model_kwargs)
    if init_values:
        # one dtype per kind, so a Python float and a jnp scalar do not compile twice
        init_values = {k: jnp.asarray(v, dtype=jnp.result_type(float)) for k, v in init_values.items()}
    else:
        init_values = None
    num_warmup, num_samples, num_chains = int(num_warmup), int(num_samples), int(num_chains)
    progress_bar = check("progress_bar", progress_bar, Boolean())
    with chain_bars(num_chains, num_warmup, num_samples, enabled=progress_bar) as run_id:
        # the run id is traced: a new run with new bars reuses the compiled program
        samples, fields, valid_start = jax.block_until_ready(_nuts_chains(
            rng_key, x, traced, init_values, jnp.int32(run_id), model=model, static_kwargs=static,
            num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
            chain_method=chain_method, target_accept_prob=float(target_accept_prob), progress_bar=progress_bar,
        ))
    valid_start = np.asarray(valid_start)
    if not valid_start.all():
        raise RuntimeError(
            f"NUTS could not start: the log density or its gradient is not finite at the initial "
            f"point of chain(s) {np.flatnonzero(~valid_start).tolist()}; check init_values and the model."
        )
    return NutsResult(samples, fields, num_warmup, num_samples, num_chains)
