"""probkm's NumPyro models, as plain functions.

Three models share one set of priors and one likelihood module (:mod:`probkm.likelihood`):

* :func:`spherical_gmm` — the spherical Gaussian mixture with one shared ``sigma``;
* :func:`annealed_gmm` — the same mixture with its likelihood tempered at ``T``
  (``T = 1`` *is* :func:`spherical_gmm`), optionally with ``sigma`` or the weights fixed;
* :func:`kmeans_objective_model` — the k-means objective as a Gibbs likelihood, in which
  ``sigma`` appears only in the generative story.

Sites: ``weights`` ``(cluster,)``, ``means`` ``(cluster, feature)``, ``sigma`` ``()``,
and the observed ``x`` ``(obs, feature)``. Plates: ``cluster`` and ``obs``. Each model
simulates when ``x`` is ``None`` and ``shape=(n_obs, n_dim)`` is given.

Priors (DESIGN section 1): ``weights ~ Dirichlet(weight_concentration * 1_K)``;
``means_k ~ Normal(loc_center, loc_scale)`` per feature; ``sigma`` from ``sigma_prior``:

* ``"halfnormal"``: ``sigma ~ HalfNormal(sigma_scale)``;
* ``"lognormal"``: ``sigma ~ LogNormal(log(sigma_scale), 1)``;
* ``"invgamma"``: ``sigma^2 ~ InverseGamma(2, sigma_scale^2)`` (prior mean of ``sigma^2`` is
  ``sigma_scale^2``), expressed as a density on ``sigma``.

``loc_center``, ``loc_scale`` and ``sigma_scale`` default to the data's per-feature mean and
its pooled standard deviation (:func:`data_prior_defaults`): an isotropic prior, like the
model, so a feature with a tiny spread does not pin its means to the data's centre.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax import Array
from numpyro.distributions.transforms import PowerTransform

from probkm.distributions import KMeansGibbs, SphericalMixture
from probkm.scaling import Scaling

SIGMA_PRIORS = ("halfnormal", "lognormal", "invgamma")


def sigma_prior_distribution(name: str, scale: Any) -> dist.Distribution:
    """The prior distribution on ``sigma`` called ``name`` with scale ``scale`` (units of x)."""
    if name == "halfnormal":
        return dist.HalfNormal(scale)
    if name == "lognormal":
        return dist.LogNormal(jnp.log(scale), 1.0)
    if name == "invgamma":
        variance = dist.InverseGamma(2.0, jnp.square(scale))
        return dist.TransformedDistribution(variance, PowerTransform(0.5))
    raise ValueError(f"sigma_prior must be one of {SIGMA_PRIORS}; got {name!r}.")


def data_prior_defaults(x: Any) -> dict[str, Any]:
    """Data-derived prior settings: ``loc_center`` ``(n_dim,)`` the per-feature mean,
    ``loc_scale`` ``(n_dim,)`` and ``sigma_scale`` (scalar) both the data's pooled standard
    deviation ``sqrt(mean_d Var(x_d))``, the scale :class:`probkm.scaling.Scaling` standardises
    by (for data with no spread, their magnitude, or 1)."""
    scaling = Scaling.of(x)
    n_dim = np.shape(x)[1]
    return {"loc_center": scaling.center, "loc_scale": np.full(n_dim, scaling.scale), "sigma_scale": scaling.scale}


def _resolve_shape(x: Array | None, shape: tuple[int, int] | None) -> tuple[int, int]:
    if x is not None:
        return tuple(x.shape)
    if shape is None:
        raise ValueError("Pass either x (n_obs, n_dim) or shape=(n_obs, n_dim) to simulate.")
    return tuple(shape)


def _prior_settings(x, n_dim, loc_center, loc_scale, sigma_scale):
    """Fill unset prior settings from the data; simulation (x=None) must set them."""
    if any(v is None for v in (loc_center, loc_scale, sigma_scale)):
        if x is None:
            raise ValueError(
                "With x=None, pass loc_center, loc_scale and sigma_scale "
                "(for example from probkm.models.data_prior_defaults(x_train))."
            )
        pooled = jnp.sqrt(jnp.mean(jnp.var(x, axis=0)))
        pooled = jnp.where(pooled > 0, pooled, 1.0)
        loc_center = jnp.mean(x, axis=0) if loc_center is None else loc_center
        loc_scale = pooled if loc_scale is None else loc_scale
        sigma_scale = pooled if sigma_scale is None else sigma_scale
    return (
        jnp.broadcast_to(jnp.asarray(loc_center), (n_dim,)),
        jnp.broadcast_to(jnp.asarray(loc_scale), (n_dim,)),
        jnp.asarray(sigma_scale),
    )


def _sample_means(n_clusters: int, loc_center: Array, loc_scale: Array) -> Array:
    with numpyro.plate("cluster", n_clusters):
        prior = dist.Normal(loc_center, loc_scale).to_event(1)
        return numpyro.sample("means", prior)


def _sample_sigma(sigma_prior: str, sigma_scale: Array) -> Array:
    return numpyro.sample("sigma", sigma_prior_distribution(sigma_prior, sigma_scale))


def _observe(x: Array | None, n_obs: int, subsample_size: int | None, likelihood: dist.Distribution) -> None:
    """The observed site ``x`` in plate ``obs``, optionally on a random minibatch of rows."""
    with numpyro.plate("obs", n_obs, subsample_size=subsample_size) as rows:
        batch = x[rows] if x is not None and subsample_size is not None else x
        numpyro.sample("x", likelihood, obs=batch)


def annealed_gmm(
    x: Array | None = None,
    *,
    n_components: int,
    temperature: Array | float = 1.0,
    shape: tuple[int, int] | None = None,
    sigma: Array | float | None = None,
    weights: Array | str | None = None,
    weight_concentration: float = 1.0,
    loc_center: Array | None = None,
    loc_scale: Array | None = None,
    sigma_prior: str = "halfnormal",
    sigma_scale: Array | float | None = None,
    subsample_size: int | None = None,
) -> None:
    """Shared-sigma spherical mixture with its likelihood tempered at ``temperature``.

    ``l_T = sum_i T logsumexp_k[(log w_k - d_ik / (2 sigma^2)) / T] - (N D / 2) log(2 pi sigma^2)``.

    :param x: ``(n_obs, n_dim)`` observations, or ``None`` to simulate (then give ``shape``).
    :param n_components: number of clusters ``K`` (static).
    :param temperature: ``T > 0``; traced, so a schedule reuses one compiled function.
    :param sigma: if given, ``sigma`` is fixed at this value instead of sampled.
    :param weights: ``"equal"`` for ``1/K``, a ``(K,)`` array to fix them, ``None`` to sample.
    :param weight_concentration: Dirichlet concentration ``alpha`` (per component).
    :param loc_center, loc_scale: prior location and scale of the means, ``(n_dim,)`` or scalar.
    :param sigma_prior: one of ``"halfnormal"``, ``"lognormal"``, ``"invgamma"``.
    :param sigma_scale: scale of the ``sigma`` prior, in the units of ``x``.
    :param subsample_size: if given, each evaluation sees a random minibatch of this many
        rows, with the likelihood scaled by ``n_obs / subsample_size`` (for minibatch SVI).
    """
    n_obs, n_dim = _resolve_shape(x, shape)
    loc_center, loc_scale, sigma_scale = _prior_settings(x, n_dim, loc_center, loc_scale, sigma_scale)
    if weights is None:
        alpha = jnp.full((n_components,), weight_concentration)
        weights = numpyro.sample("weights", dist.Dirichlet(alpha))
    elif isinstance(weights, str):
        if weights != "equal":
            raise ValueError(f"weights must be None, 'equal' or an array; got {weights!r}.")
        weights = jnp.full((n_components,), 1.0 / n_components)
    means = _sample_means(n_components, loc_center, loc_scale)
    if sigma is None:
        sigma = _sample_sigma(sigma_prior, sigma_scale)
    _observe(x, n_obs, subsample_size, SphericalMixture(weights, means, sigma, temperature))


def spherical_gmm(
    x: Array | None = None,
    *,
    n_components: int,
    shape: tuple[int, int] | None = None,
    weight_concentration: float = 1.0,
    loc_center: Array | None = None,
    loc_scale: Array | None = None,
    sigma_prior: str = "halfnormal",
    sigma_scale: Array | float | None = None,
    subsample_size: int | None = None,
) -> None:
    """Spherical Gaussian mixture with one shared ``sigma``: :func:`annealed_gmm` at ``T = 1``.

    ``log p(X | w, mu, sigma) = sum_i logsumexp_k[log w_k - d_ik / (2 sigma^2)] - (N D / 2) log(2 pi sigma^2)``.
    Assignments are marginalised; recover them with
    :func:`probkm.likelihood.responsibilities`. Arguments as in :func:`annealed_gmm`.
    """
    annealed_gmm(
        x,
        n_components=n_components,
        temperature=1.0,
        shape=shape,
        weight_concentration=weight_concentration,
        loc_center=loc_center,
        loc_scale=loc_scale,
        sigma_prior=sigma_prior,
        sigma_scale=sigma_scale,
        subsample_size=subsample_size,
    )


def kmeans_objective_model(
    x: Array | None = None,
    *,
    n_components: int,
    tau: Array | float = 1.0,
    shape: tuple[int, int] | None = None,
    loc_center: Array | None = None,
    loc_scale: Array | None = None,
    sigma_prior: str = "halfnormal",
    sigma_scale: Array | float | None = None,
    subsample_size: int | None = None,
) -> None:
    """The k-means objective as a model: Gibbs likelihood ``exp(-J(mu) / tau)``.

    ``J(mu) = sum_i min_k ||x_i - mu_k||^2``. ``sigma`` has a prior and enters only the
    generative story (``x ~ N(mu_z, sigma^2 I)``, equal weights) used when simulating, so its
    posterior equals its prior: the k-means objective does not identify ``sigma``.

    :param tau: the fixed, user-given Gibbs temperature, in squared units of ``x``.
    Other arguments as in :func:`annealed_gmm`.
    """
    n_obs, n_dim = _resolve_shape(x, shape)
    loc_center, loc_scale, sigma_scale = _prior_settings(x, n_dim, loc_center, loc_scale, sigma_scale)
    means = _sample_means(n_components, loc_center, loc_scale)
    sigma = _sample_sigma(sigma_prior, sigma_scale)
    _observe(x, n_obs, subsample_size, KMeansGibbs(means, tau, sigma))


def likelihood_is_density(model: Any) -> bool:
    """Whether ``model``'s observed site is a density over ``x`` (the mixtures, tempered or not),
    rather than the scale-free Gibbs likelihood ``-J / tau`` of :func:`kmeans_objective_model`.

    It decides whether a change of units of ``x`` adds ``-D log scale`` to each point's
    log-likelihood (:meth:`probkm.scaling.Scaling.log_jacobians`).
    """
    return model is not kmeans_objective_model
