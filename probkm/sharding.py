"""Data-parallel placement of the observations over a device mesh.

Every probkm likelihood is a sum over rows, so splitting the rows of ``x`` over devices and
letting XLA partition the jitted computation (GSPMD) gives the same result as one device,
up to the order of floating-point additions. Pass the returned array to
:func:`probkm.infer.fit_map` or :func:`probkm.infer.fit_nuts` in place of ``x``.

On several GPUs of one host, ``jax.devices()`` lists them all. On several hosts, call
``jax.distributed.initialize()`` on each host first; ``jax.devices()`` then spans every host
and the same mesh works (each host must hold its own rows: build the global array with
``jax.make_array_from_process_local_data(row_sharding(), local_rows)``).
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def row_sharding(devices: Sequence[jax.Device] | None = None) -> NamedSharding:
    """Sharding that splits axis 0 (``obs``) over ``devices`` (default: all) and replicates the rest."""
    devices = list(devices if devices is not None else jax.devices())
    mesh = Mesh(np.asarray(devices), ("obs",))
    return NamedSharding(mesh, PartitionSpec("obs"))


def shard_rows(x, devices: Sequence[jax.Device] | None = None) -> jax.Array:
    """Place ``x (n_obs, n_dim)`` on ``devices`` with its rows split evenly between them.

    :raises ValueError: if ``n_obs`` is not a multiple of the number of devices.
    """
    sharding = row_sharding(devices)
    n_devices = sharding.mesh.size
    n_obs = np.shape(x)[0]
    if n_obs % n_devices:
        raise ValueError(
            f"x has {n_obs} rows, which do not split evenly over {n_devices} devices; "
            f"drop {n_obs % n_devices} rows or use a divisible subset."
        )
    return jax.device_put(np.asarray(x, dtype=np.dtype(jax.numpy.result_type(float))), sharding)
