"""Static and traced model keyword arguments, so compiled inference is reused across calls."""

from __future__ import annotations

import numbers
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import Array

from probkm.core.scaling import as_jax


def split_model_kwargs(model_kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Array]]:
    """Split keyword arguments into a hashable static tuple and a dict of traced arrays.

    Floats and arrays become arrays of one fixed dtype per kind, so a Python float and a
    ``jnp`` scalar do not compile twice.

    Parameters
    ----------
    model_kwargs : dict
        A model's keyword arguments.

    Returns
    -------
    static : tuple of (str, object) pairs
        Sorted by name: bools, ints (which set shapes), strings, tuples and ``None``.
    traced : dict of str to Array
        Everything else, as arrays of JAX's default float dtype.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.inference.model_kwargs import split_model_kwargs
    >>> static, traced = split_model_kwargs({"n_components": 3, "temperature": 0.5, "weights": None})
    >>> static, list(traced), traced["temperature"].dtype == jnp.result_type(float)
    ((('n_components', 3), ('weights', None)), ['temperature'], True)
    """
    static, traced = [], {}
    for name, value in sorted(model_kwargs.items()):
        if isinstance(value, (bool, np.bool_)):
            static.append((name, bool(value)))
        elif isinstance(value, numbers.Integral):
            # np.int64(3) as n_components sets a shape: static, as a plain int
            static.append((name, int(value)))
        elif value is None or isinstance(value, (str, tuple)):
            static.append((name, value))
        else:
            traced[name] = as_jax(value)  # converted on the host: no program to compile
    return tuple(static), traced
