"""Standardisation: every inference path computes on ``(X - center) / scale`` and reports in units of X.

The expanded squared distance ``|x|^2 - 2 x.mu + |mu|^2`` cancels catastrophically in float32
when the data sit far from the origin (coordinates in metres, timestamps, prices), and step
sizes tuned for one scale fail at another. So probkm fits on data centred per feature and
divided by one *pooled* scale (one number, which keeps the clusters spherical) and maps the
results back. Every prior of the models is a location-scale family, so a prior stated in
units of X becomes an exact prior in standardised units (:meth:`Scaling.model_kwargs`), and
the log densities differ by known constants (:meth:`Scaling.log_jacobians`).
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import jax.numpy as jnp
import numpy as np

# sites whose values carry the units of x, and how each maps to standardised units
_LOCATION_SITES = ("means",)  # (x - center) / scale
_SCALE_SITES = ("sigma",)  # x / scale
# model keyword arguments in units of x
_LOCATION_KWARGS = ("loc_center",)
_SCALE_KWARGS = ("loc_scale", "sigma_scale", "sigma")
_SQUARED_SCALE_KWARGS = ("tau",)  # the k-means Gibbs temperature, in squared units of x


class Scaling(NamedTuple):
    """``x_std = (x - center) / scale``; ``center (D,)``, ``scale`` a positive float, both in units of X."""

    center: np.ndarray
    scale: float

    @classmethod
    def of(cls, X: np.ndarray) -> "Scaling":
        """The per-feature mean and the pooled standard deviation ``sqrt(mean_d Var(X_d))`` of ``X`` ``(N, D)``.

        Data with no spread beyond the float64 rounding of their offset take their magnitude as the scale.
        """
        X = np.asarray(X, dtype=float)
        with np.errstate(over="ignore", invalid="ignore"):
            center = X.mean(axis=0)
            pooled = float(np.sqrt(np.mean(X.var(axis=0))))
        if not (np.all(np.isfinite(center)) and np.isfinite(pooled)):
            raise ValueError(
                f"X is too large to compute with: its values reach {np.abs(X).max():.3g}, and their "
                "variance overflows float64. Divide X by a constant first."
            )
        magnitude = float(np.abs(center).max())
        if pooled > 1e-14 * magnitude and pooled > 0:
            return cls(center, pooled)
        return cls(center, magnitude if magnitude > 0 else 1.0)

    def forward(self, X: Any) -> np.ndarray:
        """``(X - center) / scale`` in float64."""
        return (np.asarray(X, dtype=float) - self.center) / self.scale

    def backward(self, Z: Any) -> np.ndarray:
        """Standardised points or means back in the units of X, float64."""
        return np.asarray(Z, dtype=float) * self.scale + self.center

    def params_forward(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Site values (``means``, ``sigma``, ``weights``; any leading draw axes) in standardised units."""
        out = {}
        for name, value in params.items():
            value = np.asarray(value, dtype=float)
            if name in _LOCATION_SITES:
                value = (value - self.center) / self.scale
            elif name in _SCALE_SITES:
                value = value / self.scale
            out[name] = value
        return out

    def params_backward(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Standardised site values back in the units of X (the inverse of :meth:`params_forward`)."""
        out = {}
        for name, value in params.items():
            value = np.asarray(value, dtype=float)
            if name in _LOCATION_SITES:
                value = value * self.scale + self.center
            elif name in _SCALE_SITES:
                value = value * self.scale
            out[name] = value
        return out

    def model_kwargs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """A model's keyword arguments in standardised units: the same priors, exactly.

        ``loc_center`` shifts and scales, ``loc_scale``, ``sigma_scale`` and a fixed ``sigma``
        scale, ``tau`` scales by ``scale^2``; the rest (``n_components``, ``temperature``,
        ``weights``, the prior's name) has no units. ``None`` stays ``None``.
        """
        out = dict(kwargs)
        for name, value in kwargs.items():
            if value is None or isinstance(value, str):
                continue
            if name in _LOCATION_KWARGS:
                out[name] = (np.asarray(value, dtype=float) - self.center) / self.scale
            elif name in _SCALE_KWARGS:
                out[name] = np.asarray(value, dtype=float) / self.scale
            elif name in _SQUARED_SCALE_KWARGS:
                out[name] = np.asarray(value, dtype=float) / self.scale**2
        return out

    def log_jacobians(self, n_dim: int, n_components: int, *, x_is_density: bool = True) -> dict[str, float]:
        """What to add to each standardised log density to express it in units of X.

        :param x_is_density: whether the observed site is a density over ``x`` (the mixture,
            tempered or not, whose normaliser carries ``sigma``), so that each point's
            log-likelihood gains ``-D log scale``; the k-means Gibbs likelihood
            ``-J / tau`` is scale-free once ``tau`` is carried over, and gains nothing.
        :return: ``{"x": per point, "means": per draw (all K D coordinates), "sigma": per draw,
            "weights": 0}``.
        """
        log_s = float(np.log(self.scale))
        return {
            "x": -n_dim * log_s if x_is_density else 0.0,
            "means": -n_components * n_dim * log_s,
            "sigma": -log_s,
            "weights": 0.0,
        }

    def draws(self, draws):
        """A ``Draws`` named tuple ``(weights, means, sigma)`` in units of X as JAX arrays in
        standardised units; sigma is floored at 1e-12 so that predictions stay finite after a collapse."""
        std = self.params_forward({"weights": draws.weights, "means": draws.means, "sigma": draws.sigma})
        std["sigma"] = np.maximum(std["sigma"], 1e-12)
        return type(draws)(*(as_jax(std[k]) for k in ("weights", "means", "sigma")))


def as_jax(X: Any):
    """Data as a JAX array of JAX's default float dtype (float32 unless x64 is enabled)."""
    return jnp.asarray(X, dtype=jnp.result_type(float))
