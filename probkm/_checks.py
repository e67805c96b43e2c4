"""Validation, one way: every parameter, setting and input is checked against a declared
constraint by :func:`check`, and every message reads ``"{name} must be {allowed}; got {value!r}."``
(naming what was given, what is allowed and, where there is one, the fix).

The errors are :class:`InvalidValue` (a ``ValueError``) and :class:`InvalidType` (a
``TypeError``), both :class:`InputError`: the command line reports those as the user's
mistake and lets anything else, a bug, surface with its traceback.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


class InputError(Exception):
    """Raised for input that probkm refuses: bad parameters, settings, files or data.

    The command line reports an ``InputError`` as the user's mistake, in one line; any other
    exception is a bug and keeps its traceback.

    See Also
    --------
    InvalidValue, InvalidType

    Examples
    --------
    >>> from probkm._checks import InputError, InvalidType, InvalidValue
    >>> issubclass(InvalidValue, InputError), issubclass(InvalidType, InputError)
    (True, True)
    """


class InvalidValue(InputError, ValueError):
    """The value has the right type but is not allowed.

    A ``ValueError``, so ``except ValueError`` catches it as scikit-learn users expect.

    Examples
    --------
    >>> from probkm._checks import InvalidValue, check_positive_int
    >>> try:
    ...     check_positive_int("n_samples", 0)
    ... except ValueError as err:
    ...     print(type(err).__name__, err)
    InvalidValue n_samples must be an int >= 1; got 0.
    """


class InvalidType(InputError, TypeError):
    """The value has the wrong type.

    A ``TypeError``, so ``except TypeError`` catches it.

    Examples
    --------
    >>> from probkm._checks import Integer, check
    >>> check("n_init", "3", Integer(0))
    Traceback (most recent call last):
    ...
    probkm._checks.InvalidType: n_init must be an int >= 0; got '3' of type str.
    """


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


class Constraint:
    """What a value must be. ``allowed`` is the phrase messages use ("an int >= 1").

    Subclasses override :meth:`has_type` (a wrong type raises :class:`InvalidType`),
    :meth:`holds` (a disallowed value raises :class:`InvalidValue`) and :meth:`normalise`;
    :func:`check` calls them in that order. The base class allows anything.

    Attributes
    ----------
    allowed : str
        What the constraint allows, as the error messages phrase it.

    See Also
    --------
    check : Apply a constraint to a value.

    Examples
    --------
    >>> from probkm._checks import Constraint, Integer
    >>> Constraint().allowed, Constraint().holds(object())
    ('anything', True)
    >>> Integer(1).allowed, Integer(1).has_type(2.0), Integer(1).holds(0)
    ('an int >= 1', False, False)
    """

    allowed: str = "anything"

    def has_type(self, value: Any) -> bool:
        """Whether ``value`` has a type this constraint accepts.

        Parameters
        ----------
        value : object

        Returns
        -------
        bool
        """
        return True

    def holds(self, value: Any) -> bool:
        """Whether ``value`` (of an accepted type) is allowed.

        Parameters
        ----------
        value : object
            A value for which :meth:`has_type` is true.

        Returns
        -------
        bool
        """
        return True

    def normalise(self, value: Any) -> Any:
        """``value`` in its canonical type (``int``, ``float``, a tuple).

        Parameters
        ----------
        value : object
            An allowed value.

        Returns
        -------
        object
        """
        return value


@dataclass(frozen=True)
class Integer(Constraint):
    """An int (not a bool) ``>= low`` (and ``<= high``); NumPy ints become Python ints.

    Parameters
    ----------
    low, high : int or None
        Inclusive bounds; ``None`` leaves that side open.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm._checks import Integer, check
    >>> Integer(1, 10).allowed
    'an int in [1, 10]'
    >>> check("n_init", np.int64(3), Integer(0))
    3
    """

    low: int | None = None
    high: int | None = None

    @property
    def allowed(self) -> str:
        if self.high is None:
            return "an int" if self.low is None else f"an int >= {self.low}"
        return f"an int <= {self.high}" if self.low is None else f"an int in [{self.low}, {self.high}]"

    def has_type(self, value):
        return _is_int(value)

    def holds(self, value):
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def normalise(self, value):
        return int(value)


@dataclass(frozen=True)
class Real(Constraint):
    """A finite number between ``low`` and ``high``, each bound open or closed; ints are accepted.

    Parameters
    ----------
    low, high : float or None
        Bounds; ``None`` leaves that side unbounded.
    closed : {"neither", "left", "right", "both"}
        Which bounds are included.
    why : str
        Said after the range, in parentheses, when both bounds are given.

    Examples
    --------
    >>> from probkm._checks import Real, check
    >>> Real(0.0, 1.0, closed="right").allowed
    'a number in (0, 1]'
    >>> check("learning_rate", 1, Real(0.0)), Real(0.0).holds(float("inf"))
    (1.0, False)
    """

    low: float | None = None
    high: float | None = None
    closed: str = "neither"  # which bounds are included: "neither", "left", "right" or "both"
    why: str = ""  # said after the range, in parentheses

    @property
    def allowed(self) -> str:
        left, right = self.closed in ("left", "both"), self.closed in ("right", "both")
        if self.low is not None and self.high is not None:
            why = f" ({self.why})" if self.why else ""
            return f"a number in {'[' if left else '('}{self.low:g}, {self.high:g}{']' if right else ')'}{why}"
        if self.low is not None:
            return f"a finite number {'>=' if left else '>'} {self.low:g}"
        if self.high is not None:
            return f"a finite number {'<=' if right else '<'} {self.high:g}"
        return "a finite number"

    def has_type(self, value):
        return _is_number(value)

    def holds(self, value):
        left, right = self.closed in ("left", "both"), self.closed in ("right", "both")
        value = float(value)
        if not math.isfinite(value):
            return False
        above = self.low is None or (value >= self.low if left else value > self.low)
        below = self.high is None or (value <= self.high if right else value < self.high)
        return above and below

    def normalise(self, value):
        return float(value)


@dataclass(frozen=True)
class Options(Constraint):
    """One of a few strings.

    Parameters
    ----------
    choices : tuple of str

    Examples
    --------
    >>> from probkm._checks import Options, check
    >>> check("inference", "mcmc", Options(("map", "mcmc")))
    'mcmc'
    >>> Options(("map", "mcmc")).allowed
    "one of 'map', 'mcmc'"
    """

    choices: tuple[str, ...]

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(map(repr, self.choices))

    def holds(self, value):
        return isinstance(value, str) and value in self.choices


@dataclass(frozen=True)
class Boolean(Constraint):
    """``True`` or ``False``.

    Examples
    --------
    >>> from probkm._checks import Boolean
    >>> Boolean().has_type(True), Boolean().has_type(1)
    (True, False)
    """

    allowed = "true or false"

    def has_type(self, value):
        return isinstance(value, (bool, np.bool_))

    def normalise(self, value):
        return bool(value)


@dataclass(frozen=True)
class Text(Constraint):
    """A non-empty string.

    Parameters
    ----------
    what : str
        What the string names, said in the messages (e.g. ``"a folder"``).

    Examples
    --------
    >>> from probkm._checks import Text
    >>> Text("a folder").allowed, Text().holds("")
    ('a non-empty string (a folder)', False)
    """

    what: str = ""

    @property
    def allowed(self) -> str:
        return "a non-empty string" + (f" ({self.what})" if self.what else "")

    def has_type(self, value):
        return isinstance(value, str)

    def holds(self, value):
        return bool(value)


@dataclass(frozen=True)
class ColumnKey(Constraint):
    """A column of a table: its name (a non-empty string) or its 0-based index (an int >= 0).

    Examples
    --------
    >>> from probkm._checks import ColumnKey, ListOf, check
    >>> check("data.columns", ["waiting", 0], ListOf(ColumnKey()))
    ('waiting', 0)
    >>> ColumnKey().holds(-1)
    False
    """

    allowed: str = "a column name (string) or 0-based index (int >= 0)"

    def has_type(self, value):
        return isinstance(value, str) or _is_int(value)

    def holds(self, value):
        return bool(value) if isinstance(value, str) else value >= 0

    def normalise(self, value):
        return value if isinstance(value, str) else int(value)


@dataclass(frozen=True)
class ListOf(Constraint):
    """A list (or tuple) of at least ``min_len`` items, each meeting ``item``; becomes a tuple.

    Parameters
    ----------
    item : Constraint
        The constraint every item must meet.
    min_len : int
        Fewest items allowed.

    Examples
    --------
    >>> from probkm._checks import ListOf, Real, check
    >>> check("sigma_grid", [1, 2.5], ListOf(Real(0.0), min_len=2))
    (1.0, 2.5)
    >>> ListOf(Real(0.0)).allowed
    'a non-empty list of finite numbers > 0'
    """

    item: Constraint
    min_len: int = 1

    @property
    def allowed(self) -> str:
        words = self.item.allowed.removeprefix("an ").removeprefix("a ").split(" ")
        nouns = [i for i, w in enumerate(words) if w in ("number", "int", "string")]
        if nouns:
            words[nouns[0]] += "s"
        size = "a non-empty list of" if self.min_len == 1 else f"a list of at least {self.min_len}"
        return f"{size} {' '.join(words)}"

    def has_type(self, value):
        return isinstance(value, (list, tuple)) and all(self.item.has_type(v) for v in value)

    def holds(self, value):
        return len(value) >= self.min_len and all(self.item.holds(v) for v in value)

    def normalise(self, value):
        return tuple(self.item.normalise(v) for v in value)


@dataclass(frozen=True)
class Optional(Constraint):
    """``None``, or what ``inner`` allows.

    Parameters
    ----------
    inner : Constraint
        The constraint a value other than ``None`` must meet.

    Examples
    --------
    >>> from probkm._checks import Integer, Optional, check
    >>> Optional(Integer(1)).allowed
    'None or an int >= 1'
    >>> check("batch_size", None, Optional(Integer(1))) is None
    True
    """

    inner: Constraint

    @property
    def allowed(self) -> str:
        return f"None or {self.inner.allowed}"

    def has_type(self, value):
        return value is None or self.inner.has_type(value)

    def holds(self, value):
        return value is None or self.inner.holds(value)

    def normalise(self, value):
        return None if value is None else self.inner.normalise(value)


@dataclass(frozen=True)
class Either(Constraint):
    """What ``first`` or ``second`` allows (the first that takes the value's type normalises it).

    Parameters
    ----------
    first, second : Constraint

    Examples
    --------
    >>> from probkm._checks import Boolean, Either, Options, check
    >>> Either(Options(("auto",)), Boolean()).allowed
    "one of 'auto', or true or false"
    >>> check("ward_start", "auto", Either(Options(("auto",)), Boolean())), check("ward_start", False, Either(Options(("auto",)), Boolean()))
    ('auto', False)
    """

    first: Constraint
    second: Constraint

    @property
    def allowed(self) -> str:
        return f"{self.first.allowed}, or {self.second.allowed}"

    def _taking(self, value):
        return self.first if self.first.has_type(value) and self.first.holds(value) else self.second

    def has_type(self, value):
        return self.first.has_type(value) or self.second.has_type(value)

    def holds(self, value):
        return (self.first.has_type(value) and self.first.holds(value)) or (self.second.has_type(value) and self.second.holds(value))

    def normalise(self, value):
        return self._taking(value).normalise(value)


def check(name: str, value: Any, constraint: Constraint, *, where: str = "") -> Any:
    """Return ``value`` normalised if ``constraint`` allows it, else raise naming ``name``.

    Parameters
    ----------
    name : str
        The parameter or setting, as the user wrote it.
    value : object
        What was given.
    constraint : Constraint
        What ``value`` must be.
    where : str
        A prefix for the message, such as ``"configs/run.yaml: "``.

    Returns
    -------
    object
        ``value`` in its canonical type (:meth:`Constraint.normalise`).

    Raises
    ------
    InvalidType
        ``value`` has a type ``constraint`` does not accept.
    InvalidValue
        ``value`` has the right type but is not allowed.

    Examples
    --------
    >>> check("n_init", 3, Integer(0))
    3
    >>> check("t_min", 0, Real(0.0, 0.5))
    Traceback (most recent call last):
    ...
    probkm._checks.InvalidValue: t_min must be a number in (0, 0.5); got 0.
    """
    if not constraint.has_type(value):
        raise InvalidType(f"{where}{name} must be {constraint.allowed}; got {value!r} of type {type(value).__name__}.")
    if not constraint.holds(value):
        raise InvalidValue(f"{where}{name} must be {constraint.allowed}; got {value!r}.")
    return constraint.normalise(value)


def check_all(values: dict[str, Any], constraints: dict[str, Constraint], *, where: str = "") -> dict[str, Any]:
    """:func:`check` each of ``values`` that ``constraints`` names; return them normalised.

    Parameters
    ----------
    values : dict
        Name to value; names without a constraint pass through unchanged.
    constraints : dict of str to Constraint
    where : str
        A prefix for every message.

    Returns
    -------
    dict
        ``values`` with the checked ones normalised, in the same order.

    Raises
    ------
    InvalidType, InvalidValue
        For the first value its constraint refuses.

    Examples
    --------
    >>> from probkm._checks import Integer, check_all
    >>> check_all({"n_init": 3, "note": "x"}, {"n_init": Integer(0)})
    {'n_init': 3, 'note': 'x'}
    """
    return {name: check(name, value, constraints[name], where=where) if name in constraints else value for name, value in values.items()}


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum`` (:func:`check` with :class:`Integer`).

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : object
    minimum : int

    Returns
    -------
    int

    Raises
    ------
    InvalidType, InvalidValue

    Examples
    --------
    >>> from probkm._checks import check_positive_int
    >>> check_positive_int("n_bins", 4, minimum=2)
    4
    """
    return check(name, value, Integer(minimum))


def check_positive_float(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    """``value`` as a finite float ``> 0`` (or ``None`` when allowed).

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : object
    allow_none : bool
        Accept ``None`` (and return it).

    Returns
    -------
    float or None

    Raises
    ------
    InvalidType, InvalidValue

    Examples
    --------
    >>> from probkm._checks import check_positive_float
    >>> check_positive_float("sigma", 2), check_positive_float("sigma", None, allow_none=True)
    (2.0, None)
    """
    return check(name, value, Optional(Real(0.0)) if allow_none else Real(0.0))


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : object
    choices : sequence of str

    Returns
    -------
    str

    Raises
    ------
    InvalidValue
        ``value`` is not one of ``choices``.

    Examples
    --------
    >>> from probkm._checks import check_choice
    >>> check_choice("sigma", "prior", ("plugin", "prior", "posterior"))
    'prior'
    """
    return check(name, value, Options(tuple(choices)))


def _first_bad(mask: np.ndarray) -> tuple[int, int]:
    row, col = np.argwhere(mask)[0]
    return int(row), int(col)


def check_numeric_2d(X: Any, *, name: str = "X", allow_nan: bool = False, observed_columns: bool = False) -> np.ndarray:
    """Return ``X`` as a finite 2-D float64 array with at least one row and one column.

    Parameters
    ----------
    X : array_like, shape (n_samples, n_features)
    name : str
        What the messages call ``X``.
    allow_nan : bool, default False
        Accept NaN entries as missing values (infinity stays an error), provided every row
        has at least one observed value.
    observed_columns : bool, default False
        With ``allow_nan``, also require every column to have an observed value (as a fit does).

    Returns
    -------
    ndarray of float64, shape (n_samples, n_features)

    Raises
    ------
    InvalidType
        A ``TypeError``: non-numeric data (strings, objects that are not numbers), ``None``
        or a sparse matrix.
    InvalidValue
        A ``ValueError``: the wrong number of dimensions, an empty array, complex values,
        numbers too large for float64, or NaN or infinity (naming the first bad row and column);
        with ``allow_nan``, infinity, or a row (or column) with no observed value, named.

    Examples
    --------
    >>> from probkm._checks import check_numeric_2d
    >>> check_numeric_2d([[1, 2], [3, 4]]).dtype
    dtype('float64')
    >>> check_numeric_2d([[1.0, float("nan")]])
    Traceback (most recent call last):
    ...
    probkm._checks.InvalidValue: Input X contains NaN at row 0, column 1 (first of 1 non-finite values); remove or impute those rows.
    >>> check_numeric_2d([[1.0, float("nan")], [float("nan"), float("nan")]], allow_nan=True)
    Traceback (most recent call last):
    ...
    probkm._checks.InvalidValue: X has no observed value in row 1 (every entry is NaN; first of 1 such rows); drop that row.
    """
    if X is None:
        raise InvalidType(f"{name} must be an array of shape (n_samples, n_features); got None.")
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        raise InvalidType(f"{name} is a sparse matrix; probkm needs dense data: pass {name}.toarray().")
    arr = np.asarray(X)
    if arr.dtype.kind in "USV":
        raise InvalidType(f"{name} must be numeric; got dtype {arr.dtype} (text or bytes). Convert it to numbers first.")
    if np.iscomplexobj(arr):
        raise InvalidValue(f"Complex data not supported: {name} has dtype {arr.dtype}; pass its real part.")
    if arr.ndim != 2:
        hint = f" Reshape your data: {name}.reshape(-1, 1) for one feature or {name}.reshape(1, -1) for one sample." if arr.ndim == 1 else ""
        raise InvalidValue(
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
                    raise InvalidValue(
                        f"{name} holds a number too large for float64 at row {row}, column {col}; rescale {name}."
                    ) from None
                except (TypeError, ValueError) as err:
                    raise InvalidType(
                        f"{name} must be numeric; the value {value!r} at row {row}, column {col} is not a number ({err})."
                    ) from None
            raise
    arr = np.asarray(arr, dtype=np.float64)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        what = "sample(s)" if arr.shape[0] == 0 else "feature(s)"
        raise InvalidValue(
            f"{name} is empty: found 0 {what} (shape={arr.shape}) while a minimum of 1 is required."
        )
    if allow_nan:
        _check_observed(arr, name, observed_columns)
    finite = np.isfinite(arr) | (np.isnan(arr) if allow_nan else False)
    if not finite.all():
        row, col = _first_bad(~finite)
        what = "NaN" if np.isnan(arr[row, col]) else "infinity"
        raise InvalidValue(
            f"Input {name} contains {what} at row {row}, column {col} "
            f"(first of {int((~finite).sum())} non-finite values); remove or impute those rows."
        )
    return arr


def _check_observed(arr: np.ndarray, name: str, columns: bool) -> None:
    """Raise for a row (or, with ``columns``, a column) of ``arr`` with no observed (non-NaN) value."""
    missing = np.isnan(arr)
    empty_rows = np.flatnonzero(missing.all(axis=1))
    if empty_rows.size:
        raise InvalidValue(
            f"{name} has no observed value in row {int(empty_rows[0])} (every entry is NaN; first of "
            f"{empty_rows.size} such rows); drop that row."
        )
    empty_columns = np.flatnonzero(missing.all(axis=0)) if columns else ()
    if len(empty_columns):
        raise InvalidValue(
            f"{name} has no observed value in column {int(empty_columns[0])} (every entry is NaN; first of "
            f"{len(empty_columns)} such columns); drop that column."
        )


def check_enough_samples(n_samples: int, n_clusters: int, *, param: str) -> None:
    """Raise if there are fewer samples than clusters.

    Parameters
    ----------
    n_samples : int
    n_clusters : int
    param : str
        The parameter that set ``n_clusters`` (``"n_components"`` or ``"n_clusters"``).

    Raises
    ------
    InvalidValue
        ``n_samples < n_clusters``.

    Examples
    --------
    >>> from probkm._checks import check_enough_samples
    >>> check_enough_samples(5, 3, param="n_clusters")  # nothing to say
    >>> check_enough_samples(2, 3, param="n_clusters")
    Traceback (most recent call last):
    ...
    probkm._checks.InvalidValue: Expected n_samples >= n_clusters but got n_clusters=3, n_samples=2. Lower n_clusters or pass more data.
    """
    if n_samples < n_clusters:
        raise InvalidValue(
            f"Expected n_samples >= {param} but got {param}={n_clusters}, n_samples={n_samples}. "
            f"Lower {param} or pass more data."
        )


def check_n_features(n_features: int, expected: int, *, estimator: str) -> None:
    """Raise if ``X`` has a different number of columns from the data seen in ``fit``.

    Parameters
    ----------
    n_features : int
        Columns of the ``X`` given.
    expected : int
        ``n_features_in_`` of the fitted estimator.
    estimator : str
        The estimator's class name, for the message.

    Raises
    ------
    InvalidValue
        ``n_features != expected``.

    Examples
    --------
    >>> from probkm._checks import check_n_features
    >>> check_n_features(3, 2, estimator="SphericalGMM")
    Traceback (most recent call last):
    ...
    probkm._checks.InvalidValue: X has 3 features, but SphericalGMM is expecting 2 features as input.
    """
    if n_features != expected:
        raise InvalidValue(
            f"X has {n_features} features, but {estimator} is expecting {expected} features as input."
        )


def seed_from(random_state: Any) -> int:
    """An int seed for ``jax.random.key`` from an int, ``None`` or a NumPy random state.

    Parameters
    ----------
    random_state : int, None, numpy.random.RandomState or numpy.random.Generator
        An int is taken modulo ``2**31 - 1``; ``None`` draws a fresh seed; a NumPy random
        state gives its next integer (and advances).

    Returns
    -------
    int
        In ``[0, 2**31 - 1)``.

    Raises
    ------
    InvalidType
        A bool or any other type.
    InvalidValue
        A negative int.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm._checks import seed_from
    >>> seed_from(7), seed_from(2**31)
    (7, 1)
    >>> isinstance(seed_from(np.random.default_rng(0)), int)
    True
    """
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(random_state, (bool, np.bool_)):
        raise InvalidType(f"random_state must be an int, None or a numpy RandomState/Generator; got {random_state!r}.")
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise InvalidValue(f"random_state must be a non-negative int; got {random_state}.")
        return int(random_state) % (2**31 - 1)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    raise InvalidType(f"random_state must be an int, None or a numpy RandomState/Generator; got {type(random_state).__name__}.")


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """``sample_weight`` as a float64 array ``(n_samples,)`` of finite weights ``>= 0`` (``None`` stays ``None``).

    scikit-learn's semantics: an integer weight counts its row that many times, and a weight
    of 0 drops the row. At least one weight must be positive.

    Examples
    --------
    >>> check_sample_weight([1, 0, 2], 3).tolist()
    [1.0, 0.0, 2.0]
    >>> check_sample_weight([1.0, -1.0], 2)
    Traceback (most recent call last):
    ...
    probkm._checks.InvalidValue: sample_weight must be finite and >= 0; got -1.0 at row 1.
    """
    if sample_weight is None:
        return None
    if np.isscalar(sample_weight):
        sample_weight = np.full(n_samples, sample_weight)
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidType(f"sample_weight must be an array of {n_samples} numbers; got {type(sample_weight).__name__}.") from None
    if weights.shape != (n_samples,):
        raise InvalidValue(f"sample_weight must have shape ({n_samples},), one weight per row of X; got shape {weights.shape}.")
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidValue(f"sample_weight must be finite and >= 0; got {float(weights[row])!r} at row {row}.")
    if not weights.sum() > 0:
        raise InvalidValue("sample_weight must have at least one positive weight; got all zeros.")
    return weights
