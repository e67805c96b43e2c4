"""NumPyro distributions of probkm's models.

The two for the observed site ``x`` are thin wrappers: the arithmetic lives in
:mod:`probkm.core.likelihood`. They exist so that the observed site carries the *marginal*
pointwise log-likelihood (assignments summed out), which ArviZ turns into the
``log_likelihood`` group for LOO and ``psens``, and so that ``Predictive`` can simulate from
the same site when ``x`` is ``None``.

:class:`MaskedDirichlet` is the weights' prior when some components are switched off, so
that one compiled program serves every number of components up to a bucket's size
(:mod:`probkm.core.shapes`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import gammaln
from numpyro.distributions import Dirichlet, Distribution, constraints

from probkm.core.likelihood import annealed_log_likelihood, kmeans_objective_pointwise, sample_mixture


def _centred(value: Array, locs: Array) -> tuple[Array, Array]:
    """``(x, locs)`` shifted by the mean of ``locs``.

    Distances are unchanged, but in float32 the expanded form ``|x|^2 - 2 x.mu + |mu|^2`` no
    longer cancels for data far from the origin (at an offset of 1e6 it loses every digit).
    The shift carries no gradient: the distances do not depend on it.
    """
    shift = jax.lax.stop_gradient(jnp.mean(locs, axis=0))
    flat = jnp.reshape(value, (-1, value.shape[-1]))
    return flat - shift, locs - shift


def _unbatched(name: str, value: Array, event_ndim: int) -> Array:
    value = jnp.asarray(value)
    if value.ndim != event_ndim:
        raise ValueError(
            f"{name} must have {event_ndim} dimension(s) (no batch dimensions); got shape "
            f"{value.shape}. Batch over parameter draws with jax.vmap or numpyro Predictive."
        )
    return value


def active_weights(weights: Array, component_mask: Array) -> Array:
    """Mixture weights with the masked components set to 0 and the rest renormalised.

    Parameters
    ----------
    weights : Array, shape (..., n_clusters)
        Positive weights over all components.
    component_mask : Array, shape (n_clusters,)
        Nonzero (or ``True``) for the components in use.

    Returns
    -------
    Array, shape (..., n_clusters)
        On the simplex, 0 on the masked components.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.distributions import active_weights
    >>> active_weights(jnp.array([0.2, 0.2, 0.6]), jnp.array([1.0, 1.0, 0.0])).tolist()
    [0.5, 0.5, 0.0]
    """
    kept = jnp.where(jnp.asarray(component_mask) > 0, weights, 0.0)
    return kept / jnp.sum(kept, axis=-1, keepdims=True)


class MaskedDirichlet(Distribution):
    """``Dirichlet(concentration)`` over the components a mask keeps, on a simplex over all of them.

    A value ``w`` of the full simplex stands for ``active_weights(w, component_mask)``; its
    density is the Dirichlet density of that renormalised vector over the kept components
    alone. The weight left on masked components is free (it carries no density), and the
    model uses only the renormalised vector: so a mixture of ``K_max`` components with
    ``K_max - K`` masked has the same maximum a posteriori and the same log joint there as a
    mixture of ``K``, and one compiled program serves every ``K <= K_max``.

    Parameters
    ----------
    concentration : Array, shape (n_clusters,)
        Positive concentrations; those of masked components are ignored.
    component_mask : Array, shape (n_clusters,)
        Nonzero (or ``True``) for the components in use.
    validate_args : bool, optional
        NumPyro's argument validation.

    Examples
    --------
    The density equals the Dirichlet density of the kept components, renormalised:

    >>> import jax.numpy as jnp
    >>> from numpyro.distributions import Dirichlet
    >>> from probkm.core.distributions import MaskedDirichlet
    >>> prior = MaskedDirichlet(jnp.array([2.0, 3.0, 1.0]), jnp.array([1.0, 1.0, 0.0]))
    >>> w = jnp.array([0.2, 0.6, 0.2])
    >>> bool(jnp.isclose(prior.log_prob(w), Dirichlet(jnp.array([2.0, 3.0])).log_prob(jnp.array([0.25, 0.75]))))
    True
    """

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    pytree_data_fields = ("concentration", "component_mask")

    def __init__(self, concentration, component_mask, *, validate_args=None):
        self.concentration = _unbatched("concentration", concentration, 1)
        self.component_mask = jnp.asarray(component_mask) > 0
        super().__init__((), self.concentration.shape, validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        # masked components get a negligible concentration, then exactly 0
        kept = jnp.where(self.component_mask, self.concentration, 1.0)
        draw = Dirichlet(kept).sample(key, sample_shape)
        return active_weights(draw, self.component_mask)

    def log_prob(self, value):
        mask = self.component_mask
        alpha = jnp.where(mask, self.concentration, 0.0)
        renormalised = active_weights(value, mask)
        log_w = jnp.log(jnp.where(mask, renormalised, 1.0))
        normaliser = gammaln(jnp.sum(alpha)) - jnp.sum(jnp.where(mask, gammaln(self.concentration), 0.0))
        return normaliser + jnp.sum(jnp.where(mask, (alpha - 1.0) * log_w, 0.0), axis=-1)


class SphericalMixture(Distribution):
    """Shared-sigma spherical Gaussian mixture, tempered at ``temperature``.

    ``log_prob`` is the annealed pointwise log-likelihood of DESIGN section 1 (the exact
    mixture log-density at ``temperature = 1``, an unnormalised tempered likelihood below
    it). ``sample`` always follows the generative story ``z ~ Cat(w)``,
    ``x ~ N(mu_z, sigma^2 I)``: temperature shapes inference, not the data-generating
    process.

    Parameters
    ----------
    weights : Array, shape (n_clusters,)
        Mixture weights on the simplex.
    locs : Array, shape (n_clusters, n_dim)
        Component means.
    sigma : Array, shape ()
        Shared standard deviation, in the units of ``x``.
    temperature : Array, shape (), default 1.0
        ``T > 0``.
    row_weights : Array, shape (n_obs,), optional
        Weight of each row of the value scored.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry of the value scored is observed: ``log_prob`` marginalises the
        others out (they may be NaN). ``sample`` always draws complete points.
    validate_args : bool, optional
        NumPyro's argument validation.

    Raises
    ------
    ValueError
        If a parameter has batch dimensions (batch over draws with ``jax.vmap`` or NumPyro's
        ``Predictive`` instead).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from probkm.core.distributions import SphericalMixture
    >>> from probkm.core.likelihood import mixture_log_likelihood
    >>> w, locs = jnp.array([0.5, 0.5]), jnp.array([[0.0, 0.0], [4.0, 0.0]])
    >>> mixture = SphericalMixture(w, locs, 1.0)
    >>> x = mixture.sample(jax.random.key(0), (5,))
    >>> x.shape, bool(jnp.allclose(mixture.log_prob(x), mixture_log_likelihood(x, w, locs, 1.0)))
    ((5, 2), True)
    """

    arg_constraints = {
        "weights": constraints.simplex,
        "locs": constraints.real_matrix,
        "sigma": constraints.positive,
        "temperature": constraints.positive,
    }
    support = constraints.real_vector
    pytree_data_fields = ("weights", "locs", "sigma", "temperature", "row_weights", "observed")

    def __init__(self, weights, locs, sigma, temperature=1.0, *, row_weights=None, observed=None, validate_args=None):
        self.weights = _unbatched("weights", weights, 1)
        self.locs = _unbatched("locs", locs, 2)
        self.sigma = _unbatched("sigma", sigma, 0)
        self.temperature = _unbatched("temperature", temperature, 0)
        self.row_weights = None if row_weights is None else _unbatched("row_weights", row_weights, 1)
        self.observed = None if observed is None else _unbatched("observed", observed, 2)
        super().__init__((), self.locs.shape[-1:], validate_args=validate_args)

    def sample_with_intermediates(self, key, sample_shape=()):
        x, z = sample_mixture(key, self.weights, self.locs, self.sigma, sample_shape)
        return x, [z]

    def sample(self, key, sample_shape=()):
        return self.sample_with_intermediates(key, sample_shape)[0]

    def log_prob(self, value):
        flat, locs = _centred(value, self.locs)
        # rows (N, D) take their weights inside the likelihood, where the gradient's fast path sees them
        rows = self.row_weights if value.ndim == 2 else None
        observed = None if self.observed is None else jnp.broadcast_to(self.observed, value.shape).reshape(flat.shape)
        log_lik = annealed_log_likelihood(flat, self.weights, locs, self.sigma, self.temperature, rows, observed)
        log_lik = jnp.reshape(log_lik, value.shape[:-1])
        return log_lik if self.row_weights is None or rows is not None else log_lik * self.row_weights


class KMeansGibbs(Distribution):
    """The k-means objective as a Gibbs likelihood: ``log p(x_i) = -min_k ||x_i - mu_k||^2 / tau``.

    ``sigma`` does not enter ``log_prob`` at all; it appears only in ``sample``, which draws
    from the generative story with equal weights, ``x ~ N(mu_z, sigma^2 I)``. A posterior
    under this likelihood therefore leaves sigma at its prior (DESIGN section 1).

    Parameters
    ----------
    locs : Array, shape (n_clusters, n_dim)
        Centroids.
    tau : Array, shape ()
        ``tau > 0``, the Gibbs temperature, in squared units of ``x``.
    sigma : Array, shape ()
        Spread used only when generating data.
    row_weights : Array, shape (n_obs,), optional
        Weight of each row of the value scored.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry is observed: distances over those coordinates only.
    validate_args : bool, optional
        NumPyro's argument validation.

    Raises
    ------
    ValueError
        If a parameter has batch dimensions.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from probkm.core.distributions import KMeansGibbs
    >>> gibbs = KMeansGibbs(jnp.array([[0.0, 0.0], [4.0, 0.0]]), tau=2.0, sigma=1.0)
    >>> gibbs.log_prob(jnp.array([[1.0, 0.0], [4.0, 2.0]])).tolist()  # -min_k d_ik / tau
    [-0.5, -2.0]
    >>> gibbs.sample(jax.random.key(0), (3,)).shape
    (3, 2)
    """

    arg_constraints = {
        "locs": constraints.real_matrix,
        "tau": constraints.positive,
        "sigma": constraints.positive,
    }
    support = constraints.real_vector
    pytree_data_fields = ("locs", "tau", "sigma", "row_weights", "observed")

    def __init__(self, locs, tau, sigma, *, row_weights=None, observed=None, validate_args=None):
        self.locs = _unbatched("locs", locs, 2)
        self.tau = _unbatched("tau", tau, 0)
        self.sigma = _unbatched("sigma", sigma, 0)
        self.row_weights = None if row_weights is None else _unbatched("row_weights", row_weights, 1)
        self.observed = None if observed is None else _unbatched("observed", observed, 2)
        super().__init__((), self.locs.shape[-1:], validate_args=validate_args)

    def sample_with_intermediates(self, key, sample_shape=()):
        n_clusters = self.locs.shape[0]
        weights = jnp.full((n_clusters,), 1.0 / n_clusters, dtype=self.locs.dtype)
        x, z = sample_mixture(key, weights, self.locs, self.sigma, sample_shape)
        return x, [z]

    def sample(self, key, sample_shape=()):
        return self.sample_with_intermediates(key, sample_shape)[0]

    def log_prob(self, value):
        flat, locs = _centred(value, self.locs)
        observed = None if self.observed is None else jnp.broadcast_to(self.observed, value.shape).reshape(flat.shape)
        log_lik = jnp.reshape(-kmeans_objective_pointwise(flat, locs, observed) / self.tau, value.shape[:-1])
        return log_lik if self.row_weights is None else log_lik * self.row_weights
