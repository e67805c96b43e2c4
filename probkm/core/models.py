"""probkm's NumPyro models, as plain functions.

Three models share one set of priors and one likelihood module (:mod:`probkm.core.likelihood`):

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

Missing values: pass ``observed`` ``(n_obs, n_dim)``, nonzero where an entry of ``x`` is observed
(``~numpy.isnan(x)``, or :func:`probkm.core.likelihood.observed_mask`). A row's missing
coordinates are marginalised out exactly (:func:`probkm.core.likelihood.annealed_log_likelihood`);
the entries of ``x`` they cover may be NaN.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax import Array
from numpyro.distributions.transforms import PowerTransform

from probkm._checks import InvalidValue
from probkm.core.distributions import KMeansGibbs, MaskedDirichlet, SphericalMixture, active_weights
from probkm.core.scaling import Scaling, location_and_scale

SIGMA_PRIORS = ("halfnormal", "lognormal", "invgamma")


def sigma_prior_distribution(name: str, scale: Any) -> dist.Distribution:
    """The prior distribution on ``sigma`` called ``name``.

    Parameters
    ----------
    name : {"halfnormal", "lognormal", "invgamma"}
        The prior's name (see the module's docstring for each density).
    scale : Array or float
        Its scale, in the units of ``x``.

    Returns
    -------
    numpyro.distributions.Distribution
        A distribution over positive ``sigma``.

    Raises
    ------
    ValueError
        For any other ``name`` (a :class:`probkm._checks.InvalidValue`).

    Examples
    --------
    >>> from probkm.core.models import sigma_prior_distribution
    >>> prior = sigma_prior_distribution("halfnormal", 2.0)
    >>> type(prior).__name__, float(prior.scale)
    ('HalfNormal', 2.0)
    >>> sigma_prior_distribution("gamma", 1.0)
    Traceback (most recent call last):
    ...
    probkm._checks.InvalidValue: sigma_prior must be one of 'halfnormal', 'lognormal', 'invgamma'; got 'gamma'.
    """
    if name == "halfnormal":
        return dist.HalfNormal(scale)
    if name == "lognormal":
        return dist.LogNormal(jnp.log(scale), 1.0)
    if name == "invgamma":
        variance = dist.InverseGamma(2.0, jnp.square(scale))
        return dist.TransformedDistribution(variance, PowerTransform(0.5))
    raise InvalidValue(f"sigma_prior must be one of {', '.join(map(repr, SIGMA_PRIORS))}; got {name!r}.")


def data_prior_defaults(x: Any) -> dict[str, Any]:
    """Data-derived prior settings: the data's per-feature mean and pooled standard deviation.

    Parameters
    ----------
    x : array_like, shape (n_obs, n_dim)
        Data.

    Returns
    -------
    dict
        ``loc_center`` ``(n_dim,)``, the per-feature mean; ``loc_scale`` ``(n_dim,)`` and
        ``sigma_scale`` (scalar), both the data's pooled standard deviation
        ``sqrt(mean_d Var(x_d))``, the scale :class:`probkm.core.scaling.Scaling`
        standardises by (for data with no spread, their magnitude, or 1).

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.core.models import data_prior_defaults
    >>> defaults = data_prior_defaults(np.array([[0.0, 10.0], [4.0, 10.0], [0.0, 14.0], [4.0, 14.0]]))
    >>> defaults["loc_center"].tolist(), defaults["loc_scale"].tolist(), defaults["sigma_scale"]
    ([2.0, 12.0], [2.0, 2.0], 2.0)
    """
    scaling = Scaling.of(x)
    n_dim = np.shape(x)[1]
    return {"loc_center": scaling.center, "loc_scale": np.full(n_dim, scaling.scale), "sigma_scale": scaling.scale}


def _resolve_shape(x: Array | None, shape: tuple[int, int] | None) -> tuple[int, int]:
    if x is not None:
        return tuple(x.shape)
    if shape is None:
        raise ValueError("Pass either x (n_obs, n_dim) or shape=(n_obs, n_dim) to simulate.")
    return tuple(shape)


def prior_settings(x, n_dim, loc_center, loc_scale, sigma_scale, row_weights=None, observed=None):
    """The prior settings a model uses: ``loc_center (D,)``, ``loc_scale (D,)`` and ``sigma_scale ()``.

    Unset ones (``None``) come from the data (weighted by ``row_weights``, over the ``observed``
    entries); simulation (``x=None``) must set them.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.models import prior_settings
    >>> center, scale, sigma_scale = prior_settings(jnp.array([[0.0, 0.0], [2.0, 4.0]]), 2, None, 3.0, 1.0)
    >>> center.tolist(), scale.tolist(), float(sigma_scale)
    ([1.0, 2.0], [3.0, 3.0], 1.0)
    """
    if any(v is None for v in (loc_center, loc_scale, sigma_scale)):
        if x is None:
            raise ValueError(
                "With x=None, pass loc_center, loc_scale and sigma_scale "
                "(for example from probkm.core.models.data_prior_defaults(x_train))."
            )
        center, pooled = location_and_scale(x, jnp, row_weights, observed)
        loc_center = center if loc_center is None else loc_center
        loc_scale = pooled if loc_scale is None else loc_scale
        sigma_scale = pooled if sigma_scale is None else sigma_scale
    return (
        jnp.broadcast_to(jnp.asarray(loc_center), (n_dim,)),
        jnp.broadcast_to(jnp.asarray(loc_scale), (n_dim,)),
        jnp.asarray(sigma_scale),
    )


def _sample_means(n_clusters: int, loc_center: Array, loc_scale: Array, component_mask: Array | None = None) -> Array:
    with numpyro.plate("cluster", n_clusters):
        prior = dist.Normal(loc_center, loc_scale).to_event(1)
        if component_mask is None:
            return numpyro.sample("means", prior)
        # a masked component's mean has no prior term (and, of weight 0, no likelihood term)
        with numpyro.handlers.mask(mask=jnp.asarray(component_mask) > 0):
            return numpyro.sample("means", prior)


def _mixture_weights(n_components: int, weights: Array | str | None, weight_concentration: float, component_mask: Array | None) -> Array:
    """The weights site (a Dirichlet prior) or the given weights, 0 on masked components."""
    if isinstance(weights, str):
        if weights != "equal":
            raise ValueError(f"weights must be None, 'equal' or an array; got {weights!r}.")
        return active_weights(jnp.ones(n_components), jnp.ones(n_components) if component_mask is None else component_mask)
    if weights is None:
        alpha = jnp.full((n_components,), weight_concentration)
        prior = dist.Dirichlet(alpha) if component_mask is None else MaskedDirichlet(alpha, component_mask)
        weights = numpyro.sample("weights", prior)
    return weights if component_mask is None else active_weights(jnp.asarray(weights), component_mask)


def _sample_sigma(sigma_prior: str, sigma_scale: Array) -> Array:
    return numpyro.sample("sigma", sigma_prior_distribution(sigma_prior, sigma_scale))


def _observe(
    x: Array | None, n_obs: int, subsample_size: int | None, likelihood, row_weights: Array | None, observed: Array | None = None
) -> None:
    """The observed site ``x`` in plate ``obs``, optionally on a random minibatch of rows.

    ``likelihood(row_weights, observed)`` builds the site's distribution for the rows it sees.
    """
    with numpyro.plate("obs", n_obs, subsample_size=subsample_size) as rows:
        minibatch = x is not None and subsample_size is not None

        def seen(a):
            return None if a is None or x is None else (a[rows] if minibatch else a)

        batch = x[rows] if minibatch else x
        numpyro.sample("x", likelihood(seen(row_weights), seen(observed)), obs=batch)


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
    row_weights: Array | None = None,
    component_mask: Array | None = None,
    observed: Array | None = None,
    means: Array | None = None,
) -> None:
    """Shared-sigma spherical mixture with its likelihood tempered at ``temperature``.

    ``l_T = sum_i T logsumexp_k[(log w_k - d_ik / (2 sigma^2)) / T] - (N D / 2) log(2 pi sigma^2)``.

    Parameters
    ----------
    x : Array, shape (n_obs, n_dim), optional
        Observations, or ``None`` to simulate (then give ``shape``).
    n_components : int
        Number of clusters ``K`` (static).
    temperature : Array or float, default 1.0
        ``T > 0``; traced, so a schedule reuses one compiled function.
    shape : tuple of int, optional
        ``(n_obs, n_dim)`` of the simulated data when ``x`` is ``None``.
    sigma : Array or float, optional
        If given, ``sigma`` is fixed at this value instead of sampled.
    weights : {"equal"} or Array of shape (K,), optional
        ``"equal"`` for ``1/K``, a ``(K,)`` array to fix them, ``None`` to sample.
    weight_concentration : float, default 1.0
        Dirichlet concentration ``alpha`` (per component).
    loc_center, loc_scale : Array, shape (n_dim,) or scalar, optional
        Prior location and scale of the means; from the data by default
        (:func:`data_prior_defaults`).
    sigma_prior : {"halfnormal", "lognormal", "invgamma"}, default "halfnormal"
        The prior on ``sigma``.
    sigma_scale : Array or float, optional
        Scale of the ``sigma`` prior, in the units of ``x``.
    subsample_size : int, optional
        If given, each evaluation sees a random minibatch of this many rows, with the
        likelihood scaled by ``n_obs / subsample_size`` (for minibatch SVI).
    row_weights : Array, shape (n_obs,), optional
        Non-negative weight of each row: row ``i`` counts ``row_weights[i]`` times in the
        likelihood (``sample_weight``; 0 drops a row, such as the padding that lets one
        compiled program serve data of many sizes). Data-derived prior settings are weighted too.
    component_mask : Array, shape (n_components,), optional
        Nonzero for the components in use. A masked component has weight 0, and neither its
        mean nor its weight carries a prior term (:class:`~probkm.core.distributions.MaskedDirichlet`):
        the model is then the mixture of the kept components, and one compiled program
        serves every number of components up to ``n_components``. The ``weights`` site then
        holds weights over all components; the mixture's are
        :func:`~probkm.core.distributions.active_weights` of them.
    observed : Array, shape (n_obs, n_dim), optional
        Nonzero where an entry of ``x`` is observed; the others (NaN allowed) are marginalised
        out, and data-derived prior settings use the observed entries only.
    means : Array, shape (n_components, n_dim), optional
        If given, the means are fixed at these values (a design) instead of sampled.

    Raises
    ------
    ValueError
        If ``x`` and ``shape`` are both ``None``, if a prior setting is missing when
        simulating, or for a ``weights`` string other than ``"equal"``.

    Examples
    --------
    >>> import jax
    >>> from numpyro import handlers
    >>> from probkm.core.models import annealed_gmm
    >>> x = jax.random.normal(jax.random.key(0), (20, 2))
    >>> model = handlers.seed(annealed_gmm, 0)
    >>> trace = handlers.trace(model).get_trace(x, n_components=3, temperature=0.5, weights="equal")
    >>> [(name, site["value"].shape) for name, site in trace.items() if site["type"] == "sample"]
    [('means', (3, 2)), ('sigma', ()), ('x', (20, 2))]
    """
    n_obs, n_dim = _resolve_shape(x, shape)
    loc_center, loc_scale, sigma_scale = prior_settings(x, n_dim, loc_center, loc_scale, sigma_scale, row_weights, observed)
    weights = _mixture_weights(n_components, weights, weight_concentration, component_mask)
    means = _sample_means(n_components, loc_center, loc_scale, component_mask) if means is None else jnp.asarray(means)
    if sigma is None:
        sigma = _sample_sigma(sigma_prior, sigma_scale)

    def likelihood(rows, seen):
        return SphericalMixture(weights, means, sigma, temperature, row_weights=rows, observed=seen)

    _observe(x, n_obs, subsample_size, likelihood, row_weights, observed)


def spherical_gmm(
    x: Array | None = None,
    *,
    n_components: int,
    shape: tuple[int, int] | None = None,
    sigma: Array | float | None = None,
    weights: Array | str | None = None,
    weight_concentration: float = 1.0,
    loc_center: Array | None = None,
    loc_scale: Array | None = None,
    sigma_prior: str = "halfnormal",
    sigma_scale: Array | float | None = None,
    subsample_size: int | None = None,
    row_weights: Array | None = None,
    component_mask: Array | None = None,
    observed: Array | None = None,
    means: Array | None = None,
) -> None:
    """Spherical Gaussian mixture with one shared ``sigma``: :func:`annealed_gmm` at ``T = 1``.

    ``log p(X | w, mu, sigma) = sum_i logsumexp_k[log w_k - d_ik / (2 sigma^2)] - (N D / 2) log(2 pi sigma^2)``.
    Assignments are marginalised; recover them with
    :func:`probkm.core.likelihood.responsibilities`.

    Parameters
    ----------
    x : Array, shape (n_obs, n_dim), optional
        Observations, or ``None`` to simulate (then give ``shape``).
    n_components : int
        Number of clusters ``K`` (static).
    shape, sigma, weights, weight_concentration, loc_center, loc_scale, sigma_prior, sigma_scale, subsample_size, row_weights, component_mask, observed, means
        As in :func:`annealed_gmm`: a known ``sigma``, ``weights="equal"`` or known ``means`` fixes them;
        ``observed`` marginalises missing entries out.

    Examples
    --------
    Simulate from the prior, with prior settings taken from data:

    >>> import jax, numpy as np
    >>> from numpyro.infer import Predictive
    >>> from probkm.core.models import data_prior_defaults, spherical_gmm
    >>> X = np.random.default_rng(0).normal(size=(30, 2))
    >>> kwargs = dict(n_components=3, shape=X.shape, **data_prior_defaults(X))
    >>> draws = Predictive(spherical_gmm, num_samples=4)(jax.random.key(0), None, **kwargs)
    >>> sorted((name, value.shape) for name, value in draws.items())
    [('means', (4, 3, 2)), ('sigma', (4,)), ('weights', (4, 3)), ('x', (4, 30, 2))]
    """
    annealed_gmm(
        x,
        n_components=n_components,
        temperature=1.0,
        shape=shape,
        sigma=sigma,
        weights=weights,
        weight_concentration=weight_concentration,
        loc_center=loc_center,
        loc_scale=loc_scale,
        sigma_prior=sigma_prior,
        sigma_scale=sigma_scale,
        subsample_size=subsample_size,
        row_weights=row_weights,
        component_mask=component_mask,
        observed=observed,
        means=means,
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
    row_weights: Array | None = None,
    observed: Array | None = None,
) -> None:
    """The k-means objective as a model: Gibbs likelihood ``exp(-J(mu) / tau)``.

    ``J(mu) = sum_i min_k ||x_i - mu_k||^2``. ``sigma`` has a prior and enters only the
    generative story (``x ~ N(mu_z, sigma^2 I)``, equal weights) used when simulating, so its
    posterior equals its prior: the k-means objective does not identify ``sigma``.

    Parameters
    ----------
    x : Array, shape (n_obs, n_dim), optional
        Observations, or ``None`` to simulate (then give ``shape``).
    n_components : int
        Number of clusters ``K`` (static).
    tau : Array or float, default 1.0
        The fixed, user-given Gibbs temperature, in squared units of ``x``.
    shape, loc_center, loc_scale, sigma_prior, sigma_scale, subsample_size, row_weights, observed
        As in :func:`annealed_gmm`; with ``observed``, ``J`` sums partial distances over observed coordinates.

    Examples
    --------
    Each point's log-likelihood is ``-min_k ||x_i - mu_k||^2 / tau``:

    >>> import jax.numpy as jnp
    >>> from numpyro.infer.util import log_likelihood
    >>> from probkm.core.models import kmeans_objective_model
    >>> x = jnp.array([[0.0, 0.0], [1.0, 0.0], [4.0, 0.0], [5.0, 0.0]])
    >>> draw = {"means": jnp.array([[[0.5, 0.0], [4.5, 0.0]]]), "sigma": jnp.ones(1)}  # one draw
    >>> log_likelihood(kmeans_objective_model, draw, x, n_components=2, tau=0.5)["x"].tolist()
    [[-0.5, -0.5, -0.5, -0.5]]
    """
    n_obs, n_dim = _resolve_shape(x, shape)
    loc_center, loc_scale, sigma_scale = prior_settings(x, n_dim, loc_center, loc_scale, sigma_scale, row_weights, observed)
    means = _sample_means(n_components, loc_center, loc_scale)
    sigma = _sample_sigma(sigma_prior, sigma_scale)

    def likelihood(rows, seen):
        return KMeansGibbs(means, tau, sigma, row_weights=rows, observed=seen)

    _observe(x, n_obs, subsample_size, likelihood, row_weights, observed)


def likelihood_is_density(model: Any) -> bool:
    """Whether ``model``'s observed site is a density over ``x``.

    The mixtures, tempered or not, are; the scale-free Gibbs likelihood ``-J / tau`` of
    :func:`kmeans_objective_model` is not. It decides whether a change of units of ``x`` adds
    ``-D log scale`` to each point's log-likelihood
    (:meth:`probkm.core.scaling.Scaling.log_jacobians`).

    Parameters
    ----------
    model : callable
        A NumPyro model.

    Returns
    -------
    bool

    Examples
    --------
    >>> from probkm.core.models import annealed_gmm, kmeans_objective_model, likelihood_is_density
    >>> likelihood_is_density(annealed_gmm), likelihood_is_density(kmeans_objective_model)
    (True, False)
    """
    return model is not kmeans_objective_model
