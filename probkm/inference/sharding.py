"""Data-parallel placement of the observations over a device mesh.

Every probkm likelihood is a sum over rows, so splitting the rows of ``x`` over devices and
letting XLA partition the jitted computation (GSPMD) gives the same result as one device,
up to the order of floating-point additions. Pass the returned array to
:func:`probkm.inference.map.fit_map` or :func:`probkm.inference.nuts.fit_nuts` in place of ``x``.

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
    """Sharding that splits axis 0 (``obs``) over ``devices`` and replicates the rest.

    Parameters
    ----------
    devices : sequence of jax.Device, optional
        The devices of the mesh; all of ``jax.devices()`` by default.

    Returns
    -------
    jax.sharding.NamedSharding
        Over a one-axis mesh named ``obs``.

    Examples
    --------
    >>> import jax
    >>> from probkm.inference.sharding import row_sharding
    >>> sharding = row_sharding(jax.devices()[:1])
    >>> sharding.mesh.axis_names, sharding.mesh.size, tuple(sharding.spec)
    (('obs',), 1, ('obs',))
    """
    devices = list(devices if devices is not None else jax.devices())
    mesh = Mesh(np.asarray(devices), ("obs",))
    return NamedSharding(mesh, PartitionSpec("obs"))


def shard_rows(x, devices: Sequence[jax.Device] | None = None) -> jax.Array:
    """Place ``x`` on ``devices`` with its rows split evenly between them.

    Parameters
    ----------
    x : array_like, shape (n_obs, n_dim)
        Data.
    devices : sequence of jax.Device, optional
        The devices; all of ``jax.devices()`` by default.

    Returns
    -------
    jax.Array, shape (n_obs, n_dim)
        ``x`` in JAX's default float dtype, sharded by :func:`row_sharding`.

    Raises
    ------
    ValueError
        If ``n_obs`` is not a multiple of the number of devices.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from probkm.inference.sharding import shard_rows
    >>> n_devices = len(jax.devices())
    >>> x = shard_rows(np.ones((4 * n_devices, 2)))
    >>> x.shape == (4 * n_devices, 2), len(x.addressable_shards) == n_devices
    (True, True)
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
