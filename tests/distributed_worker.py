"""One process of a run over ``jax.distributed``: ``python distributed_worker.py N_PROCESSES PROCESS_ID PORT OUT``.

Every process holds only its own block of rows, padded to the same length with rows of
weight 0, builds the global row-sharded data and row weights from them (the recipe of
:mod:`probkm.inference.sharding`), and runs the MAP and a short NUTS on them; process 0
writes the results to ``OUT`` (``.npz``). With ``N_PROCESSES`` 1 it is the plain run on one
device that the others are compared with: all rows, no padding, no row weights, no
``jax.distributed``. ``tests/test_distributed.py`` starts the processes; the dtype is JAX's
default (``JAX_ENABLE_X64`` in the environment).
"""

from __future__ import annotations

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np

# 399 rows: two processes hold 200 each (100 on each of two devices), the last one padding
N_OBS, N_COMPONENTS, N_DIM = 399, 3, 2
LOCAL_DEVICES = 2
NUM_WARMUP, NUM_SAMPLES = 50, 50


def data() -> np.ndarray:
    """The same ``(N_OBS, N_DIM)`` rows in every process: three clusters, sigma 1."""
    rng = np.random.default_rng(7)
    centers = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    return centers[rng.integers(N_COMPONENTS, size=N_OBS)] + rng.normal(size=(N_OBS, N_DIM))


def fit(x: jax.Array, **model_kwargs) -> dict[str, np.ndarray]:
    """MAP by BFGS from a fixed start, then NUTS from the MAP, on ``x`` however it is placed.

    The model takes its priors from ``x`` (weighted by ``row_weights`` if given), a reduction
    over every row.
    """
    from probkm.core.models import spherical_gmm
    from probkm.inference.map import fit_map
    from probkm.inference.nuts import fit_nuts

    start = {
        "means": jnp.array([[[1.0, 1.0], [5.0, 1.0], [1.0, 5.0]]]),
        "weights": jnp.full((1, N_COMPONENTS), 1.0 / N_COMPONENTS),
        "sigma": jnp.ones(1),
    }
    kwargs = dict(n_components=N_COMPONENTS, **model_kwargs)
    point = fit_map(jax.random.key(0), x, spherical_gmm, start, num_steps=1, **kwargs)
    draws = fit_nuts(
        jax.random.key(1), x, spherical_gmm, num_warmup=NUM_WARMUP, num_samples=NUM_SAMPLES, num_chains=1,
        init_values=point.params, **kwargs,
    )
    out = {f"map_{name}": np.asarray(value) for name, value in point.params.items()}
    out["map_loss"] = np.asarray(point.loss)
    out |= {f"nuts_{name}": np.asarray(value) for name, value in draws.samples.items()}
    out |= {f"nuts_{name}": np.asarray(value) for name, value in draws.extra_fields.items()}
    return out


def check_parallel_chains_refused(x: jax.Array) -> None:
    """``chain_method="parallel"`` would run on this process's devices, which lack the other's rows."""
    from probkm.core.models import spherical_gmm
    from probkm.inference.nuts import fit_nuts

    try:
        fit_nuts(jax.random.key(0), x, spherical_gmm, num_chains=LOCAL_DEVICES, chain_method="parallel", n_components=N_COMPONENTS)
    except ValueError as error:
        assert "sharded over several processes" in str(error), error
    else:
        raise AssertionError("parallel chains on data sharded over processes were not refused")


def main(n_processes: int, process_id: int, port: int, out: str) -> None:
    from jax.sharding import NamedSharding, PartitionSpec

    from probkm.core.shapes import pad_rows
    from probkm.inference.sharding import row_sharding

    dtype = jnp.result_type(float)
    if n_processes == 1:
        results = fit(jnp.asarray(data(), dtype=dtype, device=jax.devices()[0]))
    else:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.config.update("jax_num_cpu_devices", LOCAL_DEVICES)
        jax.distributed.initialize(
            coordinator_address=f"localhost:{port}", num_processes=n_processes, process_id=process_id,
            initialization_timeout=120,
        )
        assert jax.process_count() == n_processes and jax.device_count() == n_processes * LOCAL_DEVICES
        # this process's block of rows (blocks in process order, the mesh's order), padded
        rows = math.ceil(N_OBS / n_processes)
        local, weights = pad_rows(data()[process_id * rows:(process_id + 1) * rows], n_rows=rows)
        sharding = row_sharding()
        x = jax.make_array_from_process_local_data(sharding, local.astype(dtype))
        row_weights = jax.make_array_from_process_local_data(sharding, weights.astype(dtype))
        assert x.shape == (rows * n_processes, N_DIM) and not x.is_fully_addressable
        # the global array is the data set in order: gather it into every process and look
        gathered = jax.jit(lambda a: a, out_shardings=NamedSharding(sharding.mesh, PartitionSpec()))(x)
        np.testing.assert_array_equal(np.asarray(gathered)[:N_OBS], data().astype(dtype))
        results = fit(x, row_weights=row_weights)
        check_parallel_chains_refused(x)
    if process_id == 0:
        np.savez(out, **results)
    if n_processes > 1:
        jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
