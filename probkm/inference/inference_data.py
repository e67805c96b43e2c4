"""Turning probkm's inference results into ``arviz.InferenceData``.

Groups (ArviZ's schema): ``posterior`` (relabelled draws), ``sample_stats``,
``log_likelihood`` (marginal pointwise log-likelihood of ``x``), ``log_prior`` (log prior
density of each latent site per draw, which ``az.psens`` needs and ``az.from_numpyro``
does not fill), ``prior`` and ``prior_predictive``, ``posterior_predictive`` and
``observed_data``. Dimensions: ``chain``, ``draw``, ``cluster``, ``feature``, ``obs``.

Everything is computed on standardised data (:mod:`probkm.core.scaling`), where float32 keeps its
digits, and reported in the units of ``X``: draws mapped back, log densities shifted by the
change of units' log-Jacobian.

A MAP fit is stored as a posterior with one chain and one draw (ArviZ 0.x needs both
dimensions); ``idata.attrs["inference"]`` says which it is.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax import Array
from numpyro import handlers
from numpyro.infer import Predictive
from numpyro.infer.util import log_likelihood as numpyro_log_likelihood

from probkm.core.likelihood import observed_mask
from probkm.core.models import data_prior_defaults, likelihood_is_density
from probkm.core.scaling import Scaling, as_jax

DIMS = {
    "means": ["cluster", "feature"],
    "weights": ["cluster"],
    "x": ["obs", "feature"],
}
LOG_LIKELIHOOD_DIMS = {"x": ["obs"]}
_STAT_NAMES = {"potential_energy": "lp", "num_steps": "n_steps", "accept_prob": "acceptance_rate"}


def simulation_kwargs(x: Array, model_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``model_kwargs`` completed with data-derived prior settings, so the model can run with ``x=None``.

    Parameters
    ----------
    x : Array, shape (n_obs, n_dim)
        The data the prior settings come from.
    model_kwargs : mapping
        The model's keyword arguments; settings given (not ``None``) are kept.

    Returns
    -------
    dict
        ``model_kwargs`` with ``loc_center``, ``loc_scale`` and ``sigma_scale`` filled in from
        :func:`probkm.core.models.data_prior_defaults`, and ``shape`` set to ``x``'s.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.inference.inference_data import simulation_kwargs
    >>> x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    >>> kwargs = simulation_kwargs(x, {"n_components": 2, "sigma_scale": 0.5})
    >>> sorted(kwargs)
    ['loc_center', 'loc_scale', 'n_components', 'shape', 'sigma_scale']
    >>> kwargs["shape"], kwargs["sigma_scale"], kwargs["loc_center"].tolist()
    ((4, 2), 0.5, [1.0, 1.0])
    """
    filled = {k: v for k, v in data_prior_defaults(x).items() if model_kwargs.get(k) is None}
    return {**model_kwargs, **filled, "shape": tuple(np.shape(x))}


def latent_log_prior(model: Callable, samples: Mapping[str, Array], x: Array, model_kwargs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Log prior density of each latent site at each draw.

    Parameters
    ----------
    model : callable
        A NumPyro model called as ``model(x, **model_kwargs)``.
    samples : mapping of str to Array
        Site name to draws with one leading sample axis ``(n_draws, ...)``.
    x : Array, shape (n_obs, n_dim)
        Data (the prior settings the model derives from it, if any, depend on it).
    model_kwargs : mapping
        The model's keyword arguments.

    Returns
    -------
    dict of str to numpy.ndarray
        Site name to ``(n_draws,)``, each summed over the site's plates and event dims.

    Examples
    --------
    ``Dirichlet(1, 1)``, the default prior on two weights, is uniform on the simplex:

    >>> import jax.numpy as jnp, numpy as np
    >>> from probkm.core.models import spherical_gmm
    >>> from probkm.inference.inference_data import latent_log_prior
    >>> draws = {"weights": jnp.full((3, 2), 0.5), "means": jnp.zeros((3, 2, 2)), "sigma": jnp.ones(3)}
    >>> log_prior = latent_log_prior(spherical_gmm, draws, jnp.eye(2), {"n_components": 2})
    >>> sorted((name, value.shape) for name, value in log_prior.items())
    [('means', (3,)), ('sigma', (3,)), ('weights', (3,))]
    >>> bool(np.allclose(log_prior["weights"], 0.0, atol=1e-5))
    True
    """

    def one(draw):
        seeded = handlers.seed(handlers.substitute(model, data=draw), jax.random.key(0))
        trace = handlers.trace(seeded).get_trace(x, **model_kwargs)
        return {
            name: jnp.sum(site["fn"].log_prob(site["value"]))
            for name, site in trace.items()
            if site["type"] == "sample" and not site["is_observed"] and name in draw
        }

    return {k: np.asarray(v) for k, v in jax.lax.map(one, dict(samples), batch_size=256).items()}


def _flatten(samples: Mapping[str, np.ndarray], n_lead: int) -> dict[str, np.ndarray]:
    return {k: np.reshape(v, (-1,) + np.shape(v)[n_lead:]) for k, v in samples.items()}


def _unflatten(values: Mapping[str, np.ndarray], lead: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {k: np.reshape(np.asarray(v), lead + np.shape(v)[1:]) for k, v in values.items()}


def build_inference_data(
    rng_key: Array,
    model: Callable,
    X: Any,
    posterior: Mapping[str, np.ndarray],
    *,
    model_kwargs: Mapping[str, Any],
    scaling: Scaling | None = None,
    sample_stats: Mapping[str, np.ndarray] | None = None,
    num_prior_samples: int = 500,
    posterior_predictive: bool = True,
    attrs: Mapping[str, Any] | None = None,
    constants: Mapping[str, np.ndarray] | None = None,
) -> az.InferenceData:
    """Assemble every group from posterior draws shaped ``(chain, draw, ...)``.

    Parameters
    ----------
    rng_key : Array
        Key for the prior, prior-predictive and posterior-predictive draws.
    model : callable
        The probkm model the draws came from.
    X : array_like, shape (n_obs, n_dim)
        Observed data, in its own units; NaN entries are missing (marginalised out in
        ``log_likelihood``, kept as NaN in ``observed_data``).
    posterior : mapping of str to numpy.ndarray
        Site name to ``(chain, draw, ...)`` draws in units of ``X``, already relabelled.
    model_kwargs : mapping
        The model's keyword arguments (other than ``x``) in units of ``X``.
    scaling : Scaling, optional
        The standardisation the computation runs in; ``Scaling.of(X)`` by default.
    sample_stats : mapping of str to numpy.ndarray, optional
        NumPyro ``extra_fields`` shaped ``(chain, draw)``; renamed to ArviZ's names.
    num_prior_samples : int, default 500
        Draws in the ``prior`` and ``prior_predictive`` groups.
    posterior_predictive : bool, default True
        Whether to simulate the ``posterior_predictive`` group (one replicate of ``x`` per draw).
    attrs : mapping, optional
        Attributes of the result, such as ``{"inference": "map"}``.
    constants : mapping, optional
        Known (fixed) parameters, site name to value in units of ``X``: the ``constant_data`` group.

    Returns
    -------
    arviz.InferenceData

    Examples
    --------
    A MAP point, stored as one chain of one draw:

    >>> import jax, numpy as np
    >>> from probkm.core.models import spherical_gmm
    >>> from probkm.inference.inference_data import build_inference_data
    >>> X = np.random.default_rng(0).normal(size=(20, 2))
    >>> means = np.array([[[[-1.0, 0.0], [1.0, 0.0]]]])
    >>> point = {"weights": np.full((1, 1, 2), 0.5), "means": means, "sigma": np.ones((1, 1))}
    >>> idata = build_inference_data(jax.random.key(0), spherical_gmm, X, point,
    ...                              model_kwargs={"n_components": 2}, num_prior_samples=10)
    >>> sorted(idata.groups())  # doctest: +NORMALIZE_WHITESPACE
    ['log_likelihood', 'log_prior', 'observed_data', 'posterior', 'posterior_predictive',
     'prior', 'prior_predictive']
    >>> idata.log_likelihood["x"].shape, idata.posterior["means"].dims
    ((1, 1, 20), ('chain', 'draw', 'cluster', 'feature'))
    """
    X = np.asarray(X, dtype=float)
    scaling = Scaling.of(X) if scaling is None else scaling
    x, kwargs = as_jax(scaling.forward(X)), scaling.model_kwargs(model_kwargs)
    n_obs, n_dim = X.shape
    n_clusters = int(model_kwargs["n_components"])
    jac = scaling.log_jacobians(n_dim, n_clusters, x_is_density=likelihood_is_density(model))
    key_prior, key_post = jax.random.split(rng_key)
    lead = tuple(np.shape(next(iter(posterior.values())))[:2])
    flat = _flatten(scaling.params_forward(posterior), 2)
    sim_kwargs = simulation_kwargs(x, kwargs)
    observed = observed_mask(X)
    jac_x = jac["x"]
    if observed is not None:  # missing entries: 0 in x, marginalised by the model; the Jacobian counts observed coordinates
        x, kwargs = as_jax(np.where(observed > 0, scaling.forward(X), 0.0)), {**kwargs, "observed": as_jax(observed)}
        jac_x = jac["x"] / n_dim * observed.sum(axis=1)
    log_lik = {k: np.asarray(v) + jac_x for k, v in numpyro_log_likelihood(model, flat, x, **kwargs).items()}
    log_prior = {k: v + jac.get(k, 0.0) for k, v in latent_log_prior(model, flat, x, kwargs).items()}
    prior = Predictive(model, num_samples=num_prior_samples)(key_prior, None, **sim_kwargs)
    prior = {k: np.asarray(v)[None] for k, v in prior.items() if k in posterior or k == "x"}
    groups: dict[str, Any] = {
        "posterior": dict(posterior),
        "prior": scaling.params_backward({k: v for k, v in prior.items() if k != "x"}),
        "prior_predictive": {"x": scaling.backward(prior["x"])},
        "observed_data": {"x": X},
    }
    if posterior_predictive:
        draws = Predictive(model, posterior_samples=flat, return_sites=["x"])(key_post, None, **sim_kwargs)
        groups["posterior_predictive"] = {"x": scaling.backward(_unflatten(draws, lead)["x"])}
    if sample_stats is not None:
        stats = {_STAT_NAMES.get(k, k): np.asarray(v) for k, v in sample_stats.items()}
        if "lp" in stats:
            stats["lp"] = -stats["lp"]
        if "n_steps" in stats:
            stats["tree_depth"] = np.log2(np.maximum(stats["n_steps"], 1)).astype(int) + 1
        groups["sample_stats"] = stats
    coords = {"cluster": np.arange(n_clusters), "feature": np.arange(n_dim), "obs": np.arange(n_obs)}
    idata = az.from_dict(**groups, coords=coords, dims=DIMS, attrs=dict(attrs or {}))
    if constants:  # known parameters: data of the model, not draws (scalars stay scalars)
        constant = {k: (DIMS.get(k, []), np.asarray(v)) for k, v in constants.items()}
        idata.add_groups(constant_data=xr.Dataset(constant, coords={k: v for k, v in coords.items() if k in ("cluster", "feature")}))
    idata.add_groups(
        log_likelihood=az.dict_to_dataset(_unflatten(log_lik, lead), coords=coords, dims=LOG_LIKELIHOOD_DIMS),
        log_prior=az.dict_to_dataset(_unflatten(log_prior, lead), coords=coords),
    )
    return idata
