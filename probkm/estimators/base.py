"""What both estimators share: validation of ``X`` against the fitted state, the keys, and
standardisation (the estimators fit on data centred per feature and divided by one pooled
scale, which keeps clusters spherical and makes step sizes scale-free)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from probkm._checks import Constraint, check_all, check_n_features, check_numeric_2d, seed_from
from probkm.core.likelihood import observed_mask
from probkm.core.scaling import as_jax
from probkm.core.programs import trim_programs
from probkm.core.shapes import MAX_PADDED_ROWS, pad_rows
from probkm.estimators.persistence import save


class ProbKMBase(BaseEstimator):
    """Validation and randomness shared by :class:`SphericalGMM` and :class:`AnnealedKMeans`.

    Each estimator declares its parameters' constraints once, in ``_parameter_constraints``
    (as scikit-learn does); ``fit`` checks them all with :func:`probkm._checks.check` and then
    the combinations ``_check_combinations`` forbids.

    Examples
    --------
    >>> from probkm import AnnealedKMeans, SphericalGMM
    >>> from probkm.estimators.base import ProbKMBase
    >>> issubclass(SphericalGMM, ProbKMBase), issubclass(AnnealedKMeans, ProbKMBase)
    (True, True)
    >>> SphericalGMM(n_components=0).fit([[0.0], [1.0]])
    Traceback (most recent call last):
    ...
    probkm._checks.InvalidValue: n_components must be an int >= 1; got 0.
    """

    _parameter_constraints: dict[str, Constraint] = {}

    def _check_params(self) -> None:
        """Check the parameters; every fit starts here, so it also keeps the compiled programs
        within their budget (:func:`probkm.core.programs.trim_programs`) before compiling more."""
        check_all(self.get_params(deep=False), self._parameter_constraints)
        self._check_combinations()
        trim_programs()

    def _check_combinations(self) -> None:
        """Raise for parameter values that are allowed alone but not together."""

    def _validate(self, X: Any, *, reset: bool) -> np.ndarray:
        """``X`` as float64; NaN entries are missing values (a fit needs every row and column to
        have an observed value, a prediction every row), infinity is an error."""
        if not reset:
            check_is_fitted(self)
        arr = check_numeric_2d(X, allow_nan=True, observed_columns=reset)
        if not reset:
            check_n_features(arr.shape[1], self.n_features_in_, estimator=type(self).__name__)
        validate_data(self, X if hasattr(X, "columns") else arr, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan")
        return arr

    def _padded(self, X: np.ndarray, sample_weight: np.ndarray | None = None) -> tuple[jax.Array, jax.Array | None]:
        """``X`` in the fit's standardised units with its rows padded to a bucket
        (:mod:`probkm.core.shapes`), and the row weights (``sample_weight`` or ones, 0 on padding),
        as JAX arrays: data of any size reuse the programs compiled for its bucket. Data too
        large to pad and without ``sample_weight`` get ``None``: every row counts once, and the
        unweighted programs skip the weights' arithmetic. Missing entries are 0 here; their mask
        is :meth:`_observed`."""
        x, rows = pad_rows(np.nan_to_num(self.scaling_.forward(X), nan=0.0, copy=False), sample_weight)
        if sample_weight is None and x.shape[0] == X.shape[0] and X.shape[0] >= MAX_PADDED_ROWS:
            return as_jax(x), None
        return as_jax(x), as_jax(rows)

    @staticmethod
    def _observed(X: np.ndarray, n_rows: int) -> jax.Array | None:
        """The mask of observed entries of ``X``, padded (observed) to ``n_rows`` rows, or ``None``
        when nothing is missing: complete data run the complete-data programs."""
        mask = observed_mask(X)
        if mask is None:
            return None
        return as_jax(np.concatenate([mask, np.ones((n_rows - mask.shape[0], mask.shape[1]))]))

    @staticmethod
    def _row_weights(rows: jax.Array | None, n_rows: int) -> np.ndarray:
        """The row weights as float64 NumPy, ones when ``rows`` is ``None``."""
        return np.ones(n_rows) if rows is None else np.asarray(rows, dtype=float)

    def _key(self, random_state: Any = None) -> jax.Array:
        """A key from ``random_state`` or, when that is ``None``, from the estimator's."""
        source = self.random_state if random_state is None else random_state
        return jax.random.key(seed_from(source))

    def _seeds(self, n: int) -> list[int]:
        """``n`` independent seeds in ``[0, 2**31)`` from the estimator's ``random_state``.

        Derived on the host (NumPy's ``SeedSequence``), not by splitting a JAX key: each eager
        JAX operation is one more program for a new process to compile (a split, a fold-in and
        a draw cost a first fit 0.3 s).
        """
        words = np.random.SeedSequence(seed_from(self.random_state)).generate_state(n)
        return [int(w >> 1) for w in words]

    def save(self, path: Any, *, overwrite: bool = False):
        """Save the fitted estimator to the folder ``path`` (see :mod:`probkm.estimators.persistence`).

        Parameters
        ----------
        path : str or os.PathLike
            The folder to write; it must not exist unless ``overwrite``.
        overwrite : bool
            Replace an existing folder.

        Returns
        -------
        pathlib.Path
            The folder written.

        Raises
        ------
        FileExistsError
            ``path`` exists and ``overwrite`` is false.
        InvalidType
            A constructor parameter is not JSON-serialisable (e.g. a NumPy random state).

        See Also
        --------
        probkm.load : Read the folder back.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from probkm import AnnealedKMeans
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> km = AnnealedKMeans(2, n_temperatures=10, random_state=0).fit(X)
        >>> folder = km.save(os.path.join(tempfile.mkdtemp(), "km"))
        >>> sorted(os.listdir(folder))
        ['arrays.npz', 'estimator.json']
        """
        return save(self, path, overwrite=overwrite)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        tags.input_tags.allow_nan = True  # NaN entries are missing values, marginalised out
        return tags
