"""What both estimators share: validation of ``X`` against the fitted state, the keys, and
standardisation (the estimators fit on data centred per feature and divided by one pooled
scale, which keeps clusters spherical and makes step sizes scale-free)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from probkm._checks import check_n_features, check_numeric_2d, seed_from


class Scaling(NamedTuple):
    """``x_std = (x - center) / scale``; ``center (D,)``, ``scale`` a positive float."""

    center: np.ndarray
    scale: float

    @classmethod
    def of(cls, X: np.ndarray) -> "Scaling":
        with np.errstate(over="ignore", invalid="ignore"):
            center = X.mean(axis=0)
            pooled = float(np.sqrt(np.mean(X.var(axis=0))))
        if not (np.all(np.isfinite(center)) and np.isfinite(pooled)):
            raise ValueError(
                f"X is too large to compute with: its values reach {np.abs(X).max():.3g}, and their "
                "variance overflows float64. Divide X by a constant first."
            )
        # no spread beyond float64 rounding of the offset: use the data's magnitude instead
        magnitude = float(np.abs(center).max())
        if pooled > 1e-14 * magnitude and pooled > 0:
            return cls(center, pooled)
        return cls(center, magnitude if magnitude > 0 else 1.0)

    def draws(self, draws):
        """Parameter draws (float64, units of X) as JAX arrays in standardised units; sigma is
        floored at 1e-12 so that predictions stay finite after a collapse."""
        from probkm.predictive import Draws

        means = (np.asarray(draws.means, dtype=float) - self.center) / self.scale
        sigma = np.maximum(np.asarray(draws.sigma, dtype=float) / self.scale, 1e-12)
        return Draws(as_jax(draws.weights), as_jax(means), as_jax(sigma))

    def forward(self, X: np.ndarray) -> np.ndarray:
        """``(X - center) / scale`` in float64."""
        return (X - self.center) / self.scale

    def backward(self, Z: np.ndarray) -> np.ndarray:
        """Standardised points or means back in the units of X."""
        return np.asarray(Z, dtype=float) * self.scale + self.center


def as_jax(X: np.ndarray) -> jax.Array:
    """Data as a JAX array of JAX's default float dtype (float32 unless x64 is enabled)."""
    return jnp.asarray(X, dtype=jnp.result_type(float))


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
