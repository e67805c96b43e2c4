"""Input validation shared by the estimators: every message names the argument, what was
expected, what was received and, where there is one, the fix."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ``>= minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r} of type {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value}.")
    return int(value)


def check_positive_float(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    """Return ``value`` as a finite float > 0 (or ``None`` when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive float; got {value!r} of type {type(value).__name__}.")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite float > 0; got {value}.")
    return float(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")
    return value


def _first_bad(mask: np.ndarray) -> tuple[int, int]:
    row, col = np.argwhere(mask)[0]
    return int(row), int(col)


def check_numeric_2d(X: Any, *, name: str = "X") -> np.ndarray:
    """Return ``X`` as a finite 2-D float64 array with at least one row and one column.

    Raises ``TypeError`` for non-numeric data (strings, objects that are not numbers) and
    sparse matrices; ``ValueError`` for the wrong number of dimensions, empty arrays,
    complex values and NaN or infinity (naming the first bad row and column).
    """
    if X is None:
        raise TypeError(f"{name} must be an array of shape (n_samples, n_features); got None.")
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        raise TypeError(f"{name} is a sparse matrix; probkm needs dense data: pass {name}.toarray().")
    arr = np.asarray(X)
    if arr.dtype.kind in "USV":
        raise TypeError(f"{name} must be numeric; got dtype {arr.dtype} (text or bytes). Convert it to numbers first.")
    if np.iscomplexobj(arr):
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}; pass its real part.")
    if arr.ndim != 2:
        hint = f" Reshape your data: {name}.reshape(-1, 1) for one feature or {name}.reshape(1, -1) for one sample." if arr.ndim == 1 else ""
        raise ValueError(
            f"Expected 2D array: {name} must have shape (n_samples, n_features); got {arr.ndim}-D shape {arr.shape}.{hint}"
        )
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            for (row, col), value in np.ndenumerate(arr):
                try:
                    float(value)
                except OverflowError:
                    raise ValueError(
                        f"{name} holds a number too large for float64 at row {row}, column {col}; rescale {name}."
                    ) from None
                except (TypeError, ValueError) as err:
                    raise TypeError(
                        f"{name} must be numeric; the value {value!r} at row {row}, column {col} is not a number ({err})."
                    ) from None
            raise
    arr = np.asarray(arr, dtype=np.float64)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        what = "sample(s)" if arr.shape[0] == 0 else "feature(s)"
        raise ValueError(
            f"{name} is empty: found 0 {what} (shape={arr.shape}) while a minimum of 1 is required."
        )
    finite = np.isfinite(arr)
    if not finite.all():
        row, col = _first_bad(~finite)
        what = "NaN" if np.isnan(arr[row, col]) else "infinity"
        raise ValueError(
            f"Input {name} contains {what} at row {row}, column {col} "
            f"(first of {int((~finite).sum())} non-finite values); remove or impute those rows."
        )
    return arr


def check_enough_samples(n_samples: int, n_clusters: int, *, param: str) -> None:
    """Raise if there are fewer samples than clusters."""
    if n_samples < n_clusters:
        raise ValueError(
            f"Expected n_samples >= {param} but got {param}={n_clusters}, n_samples={n_samples}. "
            f"Lower {param} or pass more data."
        )


def check_n_features(n_features: int, expected: int, *, estimator: str) -> None:
    """Raise if ``X`` has a different number of columns from the data seen in ``fit``."""
    if n_features != expected:
        raise ValueError(
            f"X has {n_features} features, but {estimator} is expecting {expected} features as input."
        )


def seed_from(random_state: Any) -> int:
    """An int seed for ``jax.random.key`` from an int, ``None`` or a NumPy random state."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(random_state, (bool, np.bool_)):
        raise TypeError(f"random_state must be an int, None or a numpy RandomState/Generator; got {random_state!r}.")
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int; got {random_state}.")
        return int(random_state) % (2**31 - 1)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    raise TypeError(f"random_state must be an int, None or a numpy RandomState/Generator; got {type(random_state).__name__}.")
