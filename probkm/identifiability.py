"""The identifiability study: which of sigma, the means and the weights does each model identify?

On one data set, NUTS fits (a) the spherical GMM, (b) the annealed mixture at a few
temperatures ``T`` (weights, means and sigma all sampled) and (c) the k-means-objective
model (Gibbs likelihood ``exp(-J(mu) / tau)``), and each parameter gets the diagnostics of
:mod:`probkm.diagnostics` (contraction, power-scaling sensitivity and its verdict, R-hat,
ESS), plus three experiments aimed at sigma:

* **prior scale**: refit the GMM and the k-means model with sigma's prior scale multiplied
  by ``prior_scale_factor``; the ratio of posterior medians of sigma is near 1 when the data
  identifies sigma and near the factor when only the prior does;
* **sigma profile**: the equal-weight annealed maximum-likelihood centroids at ``T -> 0``,
  with sigma *fixed* at each value of a grid, by the tempered EM fixed point from the
  k-means solution (no prior on the means, whose pull would scale with sigma^2). Their
  largest change across the grid is the k-means objective's (non-)dependence on sigma;
* **plug-in**: ``sigma_hat = sqrt(J / (N D))`` beside the GMM's posterior of sigma.

Priors (documented defaults): ``means_k ~ Normal(mean of X, s)`` per feature with ``s`` the pooled sd,
``weights ~ Dirichlet(1)``, and ``sigma ~ HalfNormal(s)`` with ``s`` the data's pooled
standard deviation (:func:`probkm.models.data_prior_defaults`), so the study means the same
on data in any units. Pass ``sigma_scale`` to fix ``s`` in the units of ``X``.

Labels: every chain starts at the GMM's MAP point and every draw is relabelled by Hungarian
matching to the k-means centroids (the ``T -> 0`` MAP), so ``means[k]`` is one cluster in
every model. The k-means model gets ``kmeans_num_samples`` draws per chain: it is cheap to
sample, and its likelihood sensitivity of sigma is a true zero whose Monte Carlo estimate
falls only like ``0.9 / sqrt(draws)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import yaml

from probkm._base import as_jax
from probkm._checks import check_enough_samples, check_numeric_2d, seed_from
from probkm.cluster import AnnealedKMeans
from probkm.config import ConfigError
from probkm.diagnostics import SigmaProfile, model_summary, sigma_profile
from probkm.inference_data import build_inference_data
from probkm.likelihood import sample_mixture
from probkm.mixture import SphericalGMM
from probkm.models import SIGMA_PRIORS, annealed_gmm, data_prior_defaults, kmeans_objective_model, spherical_gmm
from probkm.posterior import sample_posterior
from probkm.relabel import relabel_samples

# name -> (kind, check, what is allowed); shared by run_identifiability and the YAML loader
_POS_INT, _NONNEG_INT = (lambda v: v >= 1, "an int >= 1"), (lambda v: v >= 0, "an int >= 0")
_POS = (lambda v: 0 < v < np.inf, "a number > 0")


def _each(low: float, high: float, min_len: int):
    return lambda v: len(v) >= min_len and all(low < t <= high for t in v)


SETTINGS = {
    "n_components": ("int",) + _POS_INT,
    "temperatures": ("floats", _each(0.0, 1.0, 1), "a non-empty list of numbers in (0, 1]"),
    "tau": ("float",) + _POS,
    "prior_scale_factor": ("float",) + _POS,
    "sigma_prior": ("str", lambda v: v in SIGMA_PRIORS, f"one of {', '.join(SIGMA_PRIORS)}"),
    "sigma_scale": ("float?", _POS[0], "null or a number > 0"),
    "num_warmup": ("int",) + _NONNEG_INT,
    "num_samples": ("int",) + _POS_INT,
    "num_chains": ("int",) + _POS_INT,
    "kmeans_num_samples": ("int",) + _POS_INT,
    "num_prior_samples": ("int", lambda v: v >= 2, "an int >= 2"),
    "sigma_grid": ("floats", _each(0.0, np.finfo(float).max, 2), "a list of at least 2 finite numbers > 0"),
    "t_min": ("float", lambda v: 0 < v < 0.5, "a number in (0, 0.5)"),
    "profile_t_mins": ("floats", _each(0.0, np.finfo(float).max, 1), "a non-empty list of finite numbers > 0"),
    "random_state": ("int",) + _NONNEG_INT,
}
_KIND_TYPES = {"int": "an int", "float": "a number", "float?": "a number or null", "floats": "a list of numbers", "str": "a string"}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def check_setting(name: str, value: Any) -> Any:
    """Validate one study setting; return it normalised (lists become tuples of floats).

    :raises TypeError: wrong type; :raises ValueError: right type, value not allowed.
    Both messages name the setting, what is allowed and what was given.
    """
    kind, ok, allowed = SETTINGS[name]
    typed = {
        "int": isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)),
        "float": _is_number(value),
        "float?": value is None or _is_number(value),
        "floats": isinstance(value, (list, tuple)) and all(_is_number(v) for v in value),
        "str": isinstance(value, str),
    }[kind]
    if not typed:
        raise TypeError(f"{name} must be {_KIND_TYPES[kind]} ({allowed}); got {value!r} of type {type(value).__name__}.")
    if kind == "floats":
        value = tuple(float(v) for v in value)
    elif kind in ("float", "float?") and value is not None:
        value = float(value)
    if value is not None and not ok(value):
        raise ValueError(f"{name} must be {allowed}; got {value!r}.")
    return int(value) if kind == "int" else value


class IdentifiabilityResult(NamedTuple):
    """Result of :func:`run_identifiability`.

    :ivar summary: JSON-able dict (what ``identifiability.json`` holds).
    :ivar idata: model label (``"gmm"``, ``"annealed T=<T>"``, ``"kmeans"``) to its relabelled
        :class:`arviz.InferenceData` (groups posterior, sample_stats, log_likelihood,
        log_prior, prior, prior_predictive, observed_data).
    :ivar X: ``(n_obs, n_dim)`` the data.
    :ivar kmeans: the fitted :class:`probkm.AnnealedKMeans` (centroids, annealing path).
    :ivar profile: the :class:`SigmaProfile`.
    """

    summary: dict[str, Any]
    idata: dict[str, az.InferenceData]
    X: np.ndarray
    kmeans: AnnealedKMeans
    profile: SigmaProfile


def make_default_data(rng_key: jax.Array, *, n_obs: int = 450, n_components: int = 3, sigma: float = 1.0, separation: float = 8.0) -> np.ndarray:
    """``(n_obs, 2)`` points from an equal-weight shared-sigma mixture of ``n_components``
    2-D clusters whose centres sit on a regular polygon, ``separation`` apart (units of x)."""
    angle = 2 * np.pi * np.arange(n_components) / n_components
    radius = 0.0 if n_components == 1 else separation / (2 * np.sin(np.pi / n_components))
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    weights = jnp.full((n_components,), 1.0 / n_components)
    x, _ = sample_mixture(rng_key, weights, as_jax(centres), sigma, (n_obs,))
    return np.asarray(x, dtype=float)


def run_identifiability(
    X: Any = None,
    *,
    n_components: int = 3,
    temperatures: tuple[float, ...] = (0.5, 0.1, 0.01),
    tau: float = 1.0,
    prior_scale_factor: float = 10.0,
    sigma_prior: str = "halfnormal",
    sigma_scale: float | None = None,
    num_warmup: int = 500,
    num_samples: int = 1000,
    num_chains: int = 2,
    kmeans_num_samples: int = 40000,
    num_prior_samples: int = 4000,
    sigma_grid: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0),
    t_min: float = 1e-3,
    profile_t_mins: tuple[float, ...] = (1e-1, 1e-2, 1e-3),
    random_state: int = 0,
    progress: Callable[[str], None] | None = None,
) -> IdentifiabilityResult:
    """Run the identifiability study on ``X``: NUTS fits, diagnostics and the sigma experiments.

    Takes about 75 s on 2 CPU cores with the defaults (450 points). Memory: the k-means
    model's ``log_likelihood`` group holds ``num_chains x kmeans_num_samples x n_obs`` floats.

    :param X: ``(n_obs, n_dim)`` data, or ``None`` for ``n_components`` separated 2-D clusters
        with sigma = 1 (:func:`make_default_data`, drawn from ``random_state``).
    :param n_components: clusters ``K`` in every model.
    :param temperatures: annealed-model temperatures, each in ``(0, 1]``.
    :param tau: the k-means model's Gibbs temperature, squared units of x.
    :param prior_scale_factor: multiplier of sigma's prior scale in the prior-scale experiment.
    :param sigma_prior, sigma_scale: sigma's prior; ``sigma_scale=None`` is the data's pooled sd.
    :param num_warmup, num_samples, num_chains: NUTS settings (per chain) for every fit but the
        k-means model's main fit, which draws ``kmeans_num_samples`` per chain.
    :param num_prior_samples: draws of the ``prior`` group (the contraction's denominator);
        memory grows as ``num_prior_samples x n_obs x n_dim`` (prior predictive).
    :param sigma_grid: the profile's fixed sigmas, as multiples of the plug-in sigma.
    :param t_min: lowest temperature of the :class:`AnnealedKMeans` schedule.
    :param profile_t_mins: temperatures of the sigma profile; the smallest gives
        ``sigma_profile_max_centroid_shift``.
    :param random_state: seed of every key (data, fits, prior draws).
    :param progress: called with a one-line message before each fit.
    """
    settings = {k: check_setting(k, v) for k, v in locals().items() if k in SETTINGS}
    say = progress or (lambda message: None)
    key_data, key_fit = jax.random.split(jax.random.key(seed_from(random_state)))
    source = "default" if X is None else "user"
    X = make_default_data(key_data, n_components=n_components) if X is None else check_numeric_2d(X)
    check_enough_samples(X.shape[0], n_components, param="n_components")
    n_obs, n_dim = X.shape
    defaults = data_prior_defaults(X)
    scale = float(defaults["sigma_scale"] if sigma_scale is None else sigma_scale)
    priors = {"loc_center": defaults["loc_center"], "loc_scale": defaults["loc_scale"], "sigma_prior": sigma_prior}
    nuts = {"num_warmup": num_warmup, "num_samples": num_samples, "num_chains": num_chains}

    say(f"k-means by deterministic annealing (K={n_components}, t_min={t_min:g})")
    km = AnnealedKMeans(n_components, t_min=t_min, random_state=random_state).fit(X)
    reference = km.cluster_centers_
    say("MAP of the spherical GMM (the chains' starting point)")
    gmm_map = SphericalGMM(n_components, sigma_prior=sigma_prior, sigma_scale=scale, t_min=t_min, random_state=random_state).fit(X).map_
    start = {k: jnp.asarray(v, jnp.result_type(float)) for k, v in relabel_samples(gmm_map, reference).items()}
    kmeans_start = {"means": as_jax(reference), "sigma": jnp.asarray(km.sigma_, jnp.result_type(float))}

    fits = [("gmm", spherical_gmm, {}, start, num_samples)]
    fits += [(f"annealed T={t:g}", annealed_gmm, {"temperature": t}, start, num_samples) for t in settings["temperatures"]]
    fits += [("kmeans", kmeans_objective_model, {"tau": tau}, kmeans_start, kmeans_num_samples)]
    keys = jax.random.split(key_fit, 2 * len(fits) + 2)
    idata, models, medians = {}, {"annealed": {}}, {}
    for i, (label, model, extra, init, draws) in enumerate(fits):
        say(f"NUTS: {label} ({num_chains} chains x ({num_warmup} + {draws}) draws)")
        kwargs = {"n_components": n_components, **priors, "sigma_scale": scale, **extra}
        samples, stats = sample_posterior(keys[2 * i], X, model, init_values=init, reference=reference, **{**nuts, "num_samples": draws}, **kwargs)
        idata[label] = build_inference_data(
            keys[2 * i + 1], model, X, samples, model_kwargs=kwargs, sample_stats=stats,
            num_prior_samples=num_prior_samples, posterior_predictive=False, attrs={"model": model.__name__, **{k: float(v) for k, v in extra.items()}},
        )
        diagnostics = model_summary(idata[label], [v for v in ("sigma", "means", "weights") if v in samples])
        if label.startswith("annealed"):
            models["annealed"][f"{extra['temperature']:g}"] = diagnostics
        else:
            models[label] = diagnostics
            medians[label] = [float(np.median(samples["sigma"]))]

    for j, (label, model, extra, init) in enumerate([("gmm", spherical_gmm, {}, start), ("kmeans", kmeans_objective_model, {"tau": tau}, kmeans_start)]):
        say(f"NUTS: {label} with sigma's prior scale x {prior_scale_factor:g}")
        kwargs = {"n_components": n_components, **priors, "sigma_scale": scale * prior_scale_factor, **extra}
        samples = sample_posterior(keys[-2 + j], X, model, init_values=init, reference=reference, **nuts, **kwargs).samples
        medians[label].append(float(np.median(samples["sigma"])))

    say("sigma profile of the T -> 0 centroids")
    profile = sigma_profile(X, reference, km.sigma_ * np.asarray(settings["sigma_grid"]), settings["profile_t_mins"])
    lowest = int(np.argmin(profile.t_mins))
    gmm_sigma = idata["gmm"].posterior["sigma"].values.ravel()
    summary = {
        "models": models,
        "prior_scale_ratio": {k: v[1] / v[0] for k, v in medians.items()},
        "prior_scale_medians": {k: {"base": v[0], "widened": v[1]} for k, v in medians.items()},
        "sigma_profile_max_centroid_shift": float(profile.max_shift[lowest]),
        "sigma_profile": {
            "sigma_values": profile.sigma_values.tolist(), "t_mins": profile.t_mins.tolist(),
            "max_centroid_shift": profile.max_shift.tolist(),
            "relative_shift": (profile.max_shift / float(defaults["sigma_scale"])).tolist(),
        },
        "data_scale": float(defaults["sigma_scale"]),
        "plugin_sigma": float(km.sigma_),
        "gmm_sigma_posterior_median": float(np.median(gmm_sigma)),
        "gmm_sigma_posterior_interval_94": [float(q) for q in np.quantile(gmm_sigma, [0.03, 0.97])],
        "sigma_prior": {"name": sigma_prior, "scale": scale, "scale_widened": scale * prior_scale_factor},
        "kmeans": {
            "centers": reference.tolist(), "inertia": float(km.inertia_),
            "first_critical_temperature": float(km.first_critical_temperature_),
            "critical_temperatures": km.critical_temperatures_.tolist(),
        },
        "data": {"source": source, "n_obs": int(n_obs), "n_dim": int(n_dim)},
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
    }
    return IdentifiabilityResult(summary, idata, X, km, profile)


def write_identifiability(result: IdentifiabilityResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``identifiability.json``, ``report.md`` and the PNG figures into ``out_dir``.

    Every file is written atomically (a temporary file in ``out_dir``, then ``os.replace``).

    :return: file role to path: ``"json"``, ``"report"`` and one entry per figure
        (``sigma_prior_posterior``, ``sigma_mean_pairs``, ``sensitivity``, ``annealing_path``).
    """
    from probkm.identifiability_plots import write_outputs  # matplotlib is only needed here

    return write_outputs(result, out_dir)


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_identifiability_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML file of :func:`run_identifiability` keyword arguments plus ``output``.

    :return: the validated keyword arguments (lists as tuples), plus ``output`` (a folder
        name) when the file gives one, so a caller can apply its own default.
    :raises probkm.config.ConfigError: unreadable file, invalid YAML, unknown key or bad
        value; the message names the file, the key, what was given and what is allowed.
    """
    where = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise ConfigError(f"{where}: cannot read the config file ({err.strerror}).") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: not valid YAML ({err}).") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the file must be a mapping of setting names to values; got {raw!r}.")
    allowed = sorted(SETTINGS) + ["output"]
    config: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r} (given {value!r}); allowed keys: {', '.join(allowed)}.")
        if key == "output":
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}: output must be a non-empty string (a folder); got {value!r}.")
            config[key] = value
            continue
        try:
            config[key] = check_setting(key, value)
        except (TypeError, ValueError) as err:
            hint = " (YAML reads 1e-3 as text: write 1.0e-3 or 0.001)" if "type str" in str(err) and _parses_as_float(value) else ""
            raise ConfigError(f"{where}: {err}{hint}") from None
    return config


__all__ = [
    "IdentifiabilityResult",
    "SETTINGS",
    "check_setting",
    "load_identifiability_config",
    "make_default_data",
    "run_identifiability",
    "write_identifiability",
]
