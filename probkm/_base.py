"""What both estimators share: validation of ``X`` against the fitted state, the keys, and
standardisation (the estimators fit on data centred per feature and divided by one pooled
scale, which keeps clusters spherical and makes step sizes scale-free)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from probkm._checks import check_n_features, check_numeric_2d, seed_from
from probkm.scaling import Scaling as Scaling
from probkm.scaling import as_jax as as_jax


class ProbKMBase(BaseEstimator):
    """Validation and randomness shared by :class:`SphericalGMM` and :class:`AnnealedKMeans`."""

    def _validate(self, X: Any, *, reset: bool) -> np.ndarray:
        if not reset:
            check_is_fitted(self)
        arr = check_numeric_2d(X)
        if not reset:
            check_n_features(arr.shape[1], self.n_features_in_, estimator=type(self).__name__)
        validate_data(self, X if hasattr(X, "columns") else arr, reset=reset, dtype=np.float64, ensure_all_finite=True)
        return arr

    def _key(self, random_state: Any = None) -> jax.Array:
        """A key from ``random_state`` or, when that is ``None``, from the estimator's."""
        source = self.random_state if random_state is None else random_state
        return jax.random.key(seed_from(source))

    def save(self, path: Any, *, overwrite: bool = False):
        """Save the fitted estimator to the folder ``path`` (see :mod:`probkm.persistence`)."""
        from probkm.persistence import save

        return save(self, path, overwrite=overwrite)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags
