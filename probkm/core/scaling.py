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

import jax
import jax.numpy as jnp
import numpy as np

from probkm._checks import InvalidValue

# sites whose values carry the units of x, and how each maps to standardised units
_LOCATION_SITES = ("means",)  # (x - center) / scale
_SCALE_SITES = ("sigma",)  # x / scale
# model keyword arguments in units of x
_LOCATION_KWARGS = ("loc_center", "means")  # prior centre, fixed means
_SCALE_KWARGS = ("loc_scale", "sigma_scale", "sigma")
_SQUARED_SCALE_KWARGS = ("tau",)  # the k-means Gibbs temperature, in squared units of x


def location_and_scale(x: Any, xp: Any = np, row_weights: Any = None, observed: Any = None) -> tuple[Any, Any]:
    """The per-feature mean ``(D,)`` of ``x`` ``(N, D)`` and its pooled scale, in the array module ``xp``.

    With ``row_weights`` ``(N,)``, row ``i`` counts ``row_weights[i]`` times. The pooled scale is ``sqrt(mean_d Var(x_d))``; data with no spread beyond the rounding of
    their offset (``1e-14`` of their magnitude) take the magnitude instead, and data that are
    all zero take 1. The one definition of "the data's scale": :meth:`Scaling.of` calls it with
    NumPy in float64, the models' data-derived priors with ``jax.numpy`` under tracing.

    Missing values: with ``observed`` ``(N, D)`` (nonzero where an entry is observed), each
    feature's mean and variance are over the rows that observe it, and the other entries of
    ``x`` are ignored (they may be NaN). With NumPy and no ``observed``, the NaN entries of
    ``x`` are the missing ones.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.core.scaling import location_and_scale
    >>> center, scale = location_and_scale(np.array([[0.0, 1.0], [2.0, 3.0]]))
    >>> center.tolist(), float(scale)
    ([1.0, 2.0], 1.0)
    """
    if observed is None and xp is np and np.isnan(x).any():
        observed = ~np.isnan(x)
    if observed is not None:
        mask = xp.asarray(observed) > 0
        x = xp.where(mask, x, 0.0)
        rows = xp.ones(x.shape[0], x.dtype) if row_weights is None else row_weights
        share = rows[:, None] * mask
        total = xp.maximum(xp.sum(share, axis=0), 1e-300)
        center = xp.sum(share * x, axis=0) / total
        pooled = xp.sqrt(xp.mean(xp.sum(share * (x - center) ** 2, axis=0) / total))
    elif row_weights is None:
        center = xp.mean(x, axis=0)
        pooled = xp.sqrt(xp.mean(xp.var(x, axis=0)))
    else:  # each row counted row_weights[i] times
        share = row_weights / xp.sum(row_weights)
        center = share @ x
        pooled = xp.sqrt(xp.mean(share @ (x - center) ** 2))
    magnitude = xp.max(xp.abs(center))
    fallback = xp.where(magnitude > 0, magnitude, 1.0)
    return center, xp.where((pooled > 1e-14 * magnitude) & (pooled > 0), pooled, fallback)


class Scaling(NamedTuple):
    """The standardisation ``x_std = (x - center) / scale``.

    Attributes
    ----------
    center : numpy.ndarray, shape (D,)
        Per-feature centre, in units of X.
    scale : float
        One positive, pooled scale, in units of X.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.core.scaling import Scaling
    >>> X = np.array([[0.0, 10.0], [4.0, 10.0], [0.0, 14.0], [4.0, 14.0]])
    >>> scaling = Scaling.of(X)
    >>> scaling.center.tolist(), scaling.scale, scaling.forward(X)[0].tolist()
    ([2.0, 12.0], 2.0, [-1.0, -1.0])
    >>> bool(np.allclose(scaling.backward(scaling.forward(X)), X))
    True
    """

    center: np.ndarray
    scale: float

    @classmethod
    def of(cls, X: np.ndarray, sample_weight: np.ndarray | None = None) -> "Scaling":
        """The per-feature mean and the pooled standard deviation ``sqrt(mean_d Var(X_d))`` of ``X``.

        Data with no spread beyond the float64 rounding of their offset take their magnitude as the scale.
        NaN entries are missing: each feature's mean and variance are over the rows that observe it.

        Parameters
        ----------
        X : array_like, shape (N, D)
            Data.

        Returns
        -------
        Scaling

        Raises
        ------
        ValueError
            If ``X`` is so large that its variance overflows float64.

        Examples
        --------
        >>> import numpy as np
        >>> from probkm.core.scaling import Scaling
        >>> Scaling.of(np.full((3, 2), 1e6)).scale  # no spread: the magnitude
        1000000.0
        """
        X = np.asarray(X, dtype=float)
        with np.errstate(over="ignore", invalid="ignore"):
            center, scale = location_and_scale(X, np, None if sample_weight is None else np.asarray(sample_weight, dtype=float))
        if not (np.all(np.isfinite(center)) and np.isfinite(scale)):
            raise InvalidValue(
                f"X is too large to compute with: its values reach {np.nanmax(np.abs(X)):.3g}, and their "
                "variance overflows float64. Divide X by a constant first."
            )
        return cls(center, float(scale))

    def forward(self, X: Any) -> np.ndarray:
        """``(X - center) / scale`` in float64.

        Parameters
        ----------
        X : array_like, shape (..., D)
            Points or means in units of X.

        Returns
        -------
        numpy.ndarray
        """
        return (np.asarray(X, dtype=float) - self.center) / self.scale

    def backward(self, Z: Any) -> np.ndarray:
        """Standardised points or means back in the units of X, float64.

        Parameters
        ----------
        Z : array_like, shape (..., D)
            Standardised points or means.

        Returns
        -------
        numpy.ndarray
        """
        return np.asarray(Z, dtype=float) * self.scale + self.center

    def params_forward(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Site values in standardised units.

        Parameters
        ----------
        params : mapping
            Site name to values (``means``, ``sigma``, ``weights``; any leading draw axes)
            in units of X. Other sites pass through unchanged.

        Returns
        -------
        dict of str to numpy.ndarray
            Float64 values.

        Examples
        --------
        >>> import numpy as np
        >>> from probkm.core.scaling import Scaling
        >>> scaling = Scaling(np.array([1.0, 1.0]), 2.0)
        >>> std = scaling.params_forward({"means": [[3.0, 5.0]], "sigma": 4.0, "weights": [1.0]})
        >>> std["means"].tolist(), float(std["sigma"]), std["weights"].tolist()
        ([[1.0, 2.0]], 2.0, [1.0])
        """
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
        """Standardised site values back in the units of X (the inverse of :meth:`params_forward`).

        Parameters
        ----------
        params : mapping
            Site name to standardised values.

        Returns
        -------
        dict of str to numpy.ndarray
            Float64 values.
        """
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

        ``loc_center`` and fixed ``means`` shift and scale, ``loc_scale``, ``sigma_scale`` and a fixed ``sigma``
        scale, ``tau`` scales by ``scale^2``; the rest (``n_components``, ``temperature``,
        ``weights``, the prior's name) has no units. ``None`` stays ``None``.

        Parameters
        ----------
        kwargs : mapping
            The model's keyword arguments in units of X.

        Returns
        -------
        dict

        Examples
        --------
        >>> import numpy as np
        >>> from probkm.core.scaling import Scaling
        >>> scaling = Scaling(np.array([1.0, 1.0]), 2.0)
        >>> std = scaling.model_kwargs({"n_components": 3, "sigma_scale": 4.0, "tau": 8.0})
        >>> std["n_components"], float(std["sigma_scale"]), float(std["tau"])
        (3, 2.0, 2.0)
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

        Parameters
        ----------
        n_dim : int
            ``D``, the data's dimension: each point's ``x`` term is per observed coordinate, so
            for a row with missing entries multiply ``jac["x"] / D`` by its observed count.
        n_components : int
            ``K``, the number of clusters.
        x_is_density : bool, default True
            Whether the observed site is a density over ``x`` (the mixture, tempered or not,
            whose normaliser carries ``sigma``), so that each point's log-likelihood gains
            ``-D log scale``; the k-means Gibbs likelihood ``-J / tau`` is scale-free once
            ``tau`` is carried over, and gains nothing.

        Returns
        -------
        dict of str to float
            ``{"x": per point, "means": per draw (all K D coordinates), "sigma": per draw,
            "weights": 0}``.

        Examples
        --------
        >>> import numpy as np
        >>> from probkm.core.scaling import Scaling
        >>> Scaling(np.zeros(2), float(np.e)).log_jacobians(n_dim=2, n_components=3)
        {'x': -2.0, 'means': -6.0, 'sigma': -1.0, 'weights': 0.0}
        """
        log_s = float(np.log(self.scale))
        return {
            "x": -n_dim * log_s if x_is_density else 0.0,
            "means": -n_components * n_dim * log_s,
            "sigma": -log_s,
            "weights": 0.0,
        }

    def draws(self, draws):
        """Parameter draws in units of X as JAX arrays in standardised units.

        Sigma is floored at 1e-12 so that predictions stay finite after a collapse.

        Parameters
        ----------
        draws : Draws
            A named tuple ``(weights, means, sigma)`` in units of X, such as
            :class:`probkm.inference.predictive.Draws`.

        Returns
        -------
        Draws
            Of the same type, standardised.
        """
        std = self.params_forward({"weights": draws.weights, "means": draws.means, "sigma": draws.sigma})
        std["sigma"] = np.maximum(std["sigma"], 1e-12)
        return type(draws)(*(as_jax(std[k]) for k in ("weights", "means", "sigma")))


def as_jax(X: Any):
    """Data as a JAX array of JAX's default float dtype (float32 unless x64 is enabled).

    Parameters
    ----------
    X : array_like

    Returns
    -------
    jax.Array

    Examples
    --------
    >>> import jax.numpy as jnp, numpy as np
    >>> from probkm.core.scaling import as_jax
    >>> x = as_jax(np.arange(3))
    >>> x.tolist(), x.dtype == jnp.result_type(float)
    ([0.0, 1.0, 2.0], True)
    """
    dtype = jnp.result_type(float)
    if isinstance(X, jax.Array):
        return X.astype(dtype)
    # converted on the host and copied as it is: a conversion on the device (and jnp.asarray's
    # own staging) compiles a small program per shape, 10-15 ms each in a new process
    return jax.device_put(np.asarray(X, dtype=dtype))
