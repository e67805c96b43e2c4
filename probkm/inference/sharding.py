"""Data-parallel placement of the observations over a device mesh.

Every probkm likelihood is a sum over rows, so splitting the rows of ``x`` over devices and
letting XLA partition the jitted computation (GSPMD) gives the same result as one device,
up to the order of floating-point additions. Pass the returned array to
:func:`probkm.inference.map.fit_map` or :func:`probkm.inference.nuts.fit_nuts` in place of ``x``.

On several GPUs of one host, ``jax.devices()`` lists them all and :func:`shard_rows` splits
``x`` over them.

On several hosts (or several processes of one host), every process runs the same program:
it joins ``jax.distributed``, holds only its own rows, and the global array is built from
each process's block (process 0's rows first, the order of ``jax.devices()``). Every
process needs the same number of rows (a multiple of its local device count), so pad the
blocks with rows of weight 0 and pass the weights, built the same way, as ``row_weights``::

    import jax
    from probkm.core.models import spherical_gmm
    from probkm.core.shapes import pad_rows
    from probkm.inference.map import fit_map
    from probkm.inference.sharding import row_sharding

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU hosts only
    jax.distributed.initialize(coordinator_address="host0:1234", num_processes=n_hosts, process_id=i)
    local_x, local_w = pad_rows(my_rows, n_rows=rows_per_host)  # the same rows_per_host everywhere
    x = jax.make_array_from_process_local_data(row_sharding(), local_x.astype("float32"))
    w = jax.make_array_from_process_local_data(row_sharding(), local_w.astype("float32"))
    result = fit_map(jax.random.key(0), x, spherical_gmm, init_values, n_components=3, row_weights=w)

Every process must make the same calls with the same keys and starting values; each then
holds the same (replicated) results. ``fit_nuts`` is called the same way, with
``chain_method="sequential"`` or ``"vectorized"`` (``"parallel"`` runs the chains on one
process's devices, which do not hold all the rows). Left unset, the priors' data-derived
settings are reductions over the global array. ``tests/test_distributed.py`` runs this with
two processes on one host and checks the MAP and NUTS draws against one process.
"""

from __future__ import annotations

from collections.abc import Sequence

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
