"""The identifiability study: which of sigma, the means and the weights does each model identify?

On one data set, NUTS fits (a) the spherical GMM, (b) the annealed mixture at a few
temperatures ``T`` (weights, means and sigma all sampled) and (c) the k-means-objective
model (Gibbs likelihood ``exp(-J(mu) / tau)``), and each parameter gets the diagnostics of
:mod:`probkm.studies.diagnostics` (contraction, power-scaling sensitivity and its verdict, R-hat,
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
standard deviation (:func:`probkm.core.models.data_prior_defaults`), so the study means the same
on data in any units. Pass ``sigma_scale`` to fix ``s`` in the units of ``X``.

Labels: every chain starts at the GMM's MAP point and every draw is relabelled by Hungarian
matching to the k-means centroids (the ``T -> 0`` MAP), so ``means[k]`` is one cluster in
every model. The k-means model gets ``kmeans_num_samples`` draws per chain: it is cheap to
sample, and its likelihood sensitivity of sigma is a true zero whose Monte Carlo estimate
falls only like ``0.9 / sqrt(draws)``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import arviz as az
import jax
import numpy as np

from probkm._checks import (
    Boolean, Integer, ListOf, Optional, Options, Real, check, check_all, check_enough_samples, check_numeric_2d, seed_from,
)
from probkm.estimators.annealed_kmeans import AnnealedKMeans
from probkm.studies.diagnostics import SigmaProfile, model_summary, sigma_profile
from probkm.inference.inference_data import build_inference_data
from probkm.datasets import synthetic_mixture
from probkm.estimators.spherical_gmm import SphericalGMM
from probkm.core.models import SIGMA_PRIORS, annealed_gmm, data_prior_defaults, kmeans_objective_model, spherical_gmm
from probkm.inference.posterior import sample_posterior
from probkm.inference.progress import show_progress
from probkm.inference.relabel import relabel_samples

# every setting's constraint, declared once: run_identifiability and the YAML loader
# (probkm.cli.config.load_identifiability_config) both check against it
SETTINGS = {
    "n_components": Integer(1),
    "temperatures": ListOf(Real(0.0, 1.0, closed="right")),
    "tau": Real(0.0),
    "prior_scale_factor": Real(0.0),
    "sigma_prior": Options(SIGMA_PRIORS),
    "sigma_scale": Optional(Real(0.0)),
    "num_warmup": Integer(0),
    "num_samples": Integer(1),
    "num_chains": Integer(1),
    "kmeans_num_samples": Integer(1),
    "num_prior_samples": Integer(2),
    "sigma_grid": ListOf(Real(0.0), min_len=2),
    "t_min": Real(0.0, 0.5),
    "profile_t_mins": ListOf(Real(0.0)),
    "random_state": Integer(0),
}


class IdentifiabilityResult(NamedTuple):
    """Result of :func:`run_identifiability`.

    Attributes
    ----------
    summary : dict
        JSON-able (what ``identifiability.json`` holds).
    idata : dict of str to arviz.InferenceData
        Model label (``"gmm"``, ``"annealed T=<T>"``, ``"kmeans"``) to its relabelled
        :class:`arviz.InferenceData` (groups posterior, sample_stats, log_likelihood,
        log_prior, prior, prior_predictive, observed_data).
    X : ndarray, shape (n_obs, n_dim)
        The data.
    kmeans : probkm.AnnealedKMeans
        The fitted k-means (centroids, annealing path).
    profile : probkm.studies.diagnostics.SigmaProfile
        The sigma profile of the ``T -> 0`` centroids.

    Examples
    --------
    >>> from probkm.studies.identifiability import IdentifiabilityResult
    >>> IdentifiabilityResult._fields
    ('summary', 'idata', 'X', 'kmeans', 'profile')
    """

    summary: dict[str, Any]
    idata: dict[str, az.InferenceData]
    X: np.ndarray
    kmeans: AnnealedKMeans
    profile: SigmaProfile


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
    progress_bar: bool | None = None,
) -> IdentifiabilityResult:
    """Run the identifiability study on ``X``: NUTS fits, diagnostics and the sigma experiments.

    Takes about 75 s on 2 CPU cores with the defaults (450 points). Memory: the k-means
    model's ``log_likelihood`` group holds ``num_chains x kmeans_num_samples x n_obs`` floats.

    Parameters
    ----------
    X : array_like, shape (n_obs, n_dim), or None
        The data, or ``None`` for ``n_components`` separated 2-D clusters with sigma = 1
        (:func:`probkm.datasets.synthetic_mixture` with ``layout="polygon"``, drawn from ``random_state``).
    n_components : int
        Clusters ``K`` in every model.
    temperatures : tuple of float
        Annealed-model temperatures, each in ``(0, 1]``.
    tau : float
        The k-means model's Gibbs temperature, squared units of x.
    prior_scale_factor : float
        Multiplier of sigma's prior scale in the prior-scale experiment.
    sigma_prior : {"halfnormal", "lognormal", "invgamma"}
        Sigma's prior.
    sigma_scale : float or None
        Scale of sigma's prior, units of x; ``None`` is the data's pooled sd.
    num_warmup, num_samples, num_chains : int
        NUTS settings (per chain) for every fit but the k-means model's main fit, which
        draws ``kmeans_num_samples`` per chain. R-hat needs ``num_chains >= 2``.
    kmeans_num_samples : int
        Draws per chain of the k-means model's main fit.
    num_prior_samples : int
        Draws of the ``prior`` group (the contraction's denominator); memory grows as
        ``num_prior_samples x n_obs x n_dim`` (prior predictive).
    sigma_grid : tuple of float
        The profile's fixed sigmas, as multiples of the plug-in sigma.
    t_min : float
        Lowest temperature of the :class:`~probkm.AnnealedKMeans` schedule.
    profile_t_mins : tuple of float
        Temperatures of the sigma profile; the smallest gives
        ``sigma_profile_max_centroid_shift``.
    random_state : int
        Seed of every key (data, fits, prior draws).
    progress : callable or None
        Called with a one-line message before each fit, numbered among the study's NUTS fits.
    progress_bar : bool or None, default None
        One progress bar per chain of each NUTS fit (:func:`probkm.inference.nuts.fit_nuts`);
        ``None`` shows them where someone watches (:func:`probkm.inference.progress.show_progress`).

    Returns
    -------
    IdentifiabilityResult

    Raises
    ------
    InvalidValue, InvalidType
        A setting outside its constraint in :data:`SETTINGS`, or fewer points than
        ``n_components``.

    See Also
    --------
    probkm.studies.identifiability_report.write_identifiability : Writes the result's files.

    Examples
    --------
    The defaults take over a minute (not run here):

    >>> from probkm.studies.identifiability import run_identifiability
    >>> result = run_identifiability(random_state=0)  # doctest: +SKIP
    >>> sorted(result.idata)  # doctest: +SKIP
    ['annealed T=0.01', 'annealed T=0.1', 'annealed T=0.5', 'gmm', 'kmeans']
    >>> result.X.shape, sorted(result.summary["models"]["gmm"])  # doctest: +SKIP
    ((450, 2), ['divergences', 'means', 'sigma', 'weights'])
    """
    settings = check_all({k: v for k, v in locals().items() if k in SETTINGS}, SETTINGS)
    progress_bar = show_progress(check("progress_bar", progress_bar, Optional(Boolean())))  # how it runs, not what: not a setting
    say = progress or (lambda message: None)
    seed = seed_from(random_state)
    key_fit = jax.random.split(jax.random.key(seed))[1]
    source = "default" if X is None else "user"
    if X is None:
        X = synthetic_mixture(450, n_components, 2, sigma=1.0, separation=8.0, layout="polygon", seed=seed).X
    else:
        X = check_numeric_2d(X)
    check_enough_samples(X.shape[0], n_components, param="n_components")
    defaults = data_prior_defaults(X)
    scale = float(defaults["sigma_scale"] if sigma_scale is None else sigma_scale)
    priors = {"loc_center": defaults["loc_center"], "loc_scale": defaults["loc_scale"], "sigma_prior": sigma_prior}
    study = _Study(X, settings, priors, scale, say, progress_bar)

    say(f"k-means by deterministic annealing (K={n_components}, t_min={t_min:g})")
    km = AnnealedKMeans(n_components, t_min=t_min, random_state=random_state).fit(X)
    say("MAP of the spherical GMM (the chains' starting point)")
    gmm_map = SphericalGMM(n_components, sigma_prior=sigma_prior, sigma_scale=scale, t_min=t_min, random_state=random_state).fit(X).map_
    starts = {"gmm": relabel_samples(gmm_map, km.cluster_centers_), "kmeans": {"means": km.cluster_centers_, "sigma": km.sigma_}}
    key_main, key_wide = jax.random.split(key_fit)
    idata, models, medians = study.main_fits(key_main, starts, km.cluster_centers_)
    for label, median in study.prior_scale_fits(key_wide, starts, km.cluster_centers_).items():
        medians[label].append(median)

    say("sigma profile of the T -> 0 centroids")
    profile = sigma_profile(X, km.cluster_centers_, km.sigma_ * np.asarray(settings["sigma_grid"]), settings["profile_t_mins"])
    summary = _summary(study, models, medians, profile, km, idata["gmm"], source)
    return IdentifiabilityResult(summary, idata, X, km, profile)


class _Study(NamedTuple):
    """What every NUTS fit of the study shares: the data, the settings, the priors and sigma's prior scale."""

    X: np.ndarray
    settings: dict[str, Any]
    priors: dict[str, Any]
    scale: float
    say: Callable[[str], None]
    progress_bar: bool

    @property
    def n_fits(self) -> int:
        """NUTS fits of the study: the main ones and the two with sigma's prior widened."""
        return len(self.fits()) + 2

    def fits(self) -> list[tuple[str, Callable, dict[str, float], str, int]]:
        """``(label, model, extra kwargs, start, draws per chain)`` of each main fit."""
        s = self.settings
        fits = [("gmm", spherical_gmm, {}, "gmm", s["num_samples"])]
        fits += [(f"annealed T={t:g}", annealed_gmm, {"temperature": t}, "gmm", s["num_samples"]) for t in s["temperatures"]]
        return fits + [("kmeans", kmeans_objective_model, {"tau": s["tau"]}, "kmeans", s["kmeans_num_samples"])]

    def sample(self, key, model, start, reference, *, sigma_scale, num_samples, **extra):
        """Relabelled NUTS draws of ``model`` from ``start``, and the model's keyword arguments."""
        kwargs = {"n_components": self.settings["n_components"], **self.priors, "sigma_scale": sigma_scale, **extra}
        nuts = {k: self.settings[k] for k in ("num_warmup", "num_chains")}
        posterior = sample_posterior(key, self.X, model, init_values=start, reference=reference, num_samples=num_samples,
                                     progress_bar=self.progress_bar, **nuts, **kwargs)
        return posterior, kwargs

    def main_fits(self, key, starts, reference):
        """Each model of :meth:`fits` by NUTS: InferenceData, diagnostics and sigma's posterior median."""
        idata, models, medians = {}, {"annealed": {}}, {}
        s = self.settings
        for i, (key_i, (label, model, extra, start, draws)) in enumerate(zip(jax.random.split(key, len(self.fits())), self.fits())):
            self.say(f"NUTS {i + 1}/{self.n_fits}: {label} ({s['num_chains']} chains x ({s['num_warmup']} + {draws}) draws)")
            key_fit, key_idata = jax.random.split(key_i)
            (samples, stats), kwargs = self.sample(key_fit, model, starts[start], reference, sigma_scale=self.scale, num_samples=draws, **extra)
            idata[label] = build_inference_data(
                key_idata, model, self.X, samples, model_kwargs=kwargs, sample_stats=stats, num_prior_samples=s["num_prior_samples"],
                posterior_predictive=False, attrs={"model": model.__name__, **{k: float(v) for k, v in extra.items()}},
            )
            diagnostics = model_summary(idata[label], [v for v in ("sigma", "means", "weights") if v in samples])
            if "temperature" in extra:
                models["annealed"][f"{extra['temperature']:g}"] = diagnostics
            else:
                models[label] = diagnostics
                medians[label] = [float(np.median(samples["sigma"]))]
        return idata, models, medians

    def prior_scale_fits(self, key, starts, reference) -> dict[str, float]:
        """Sigma's posterior median under the GMM and the k-means model with its prior widened."""
        factor, medians = self.settings["prior_scale_factor"], {}
        widened = [("gmm", spherical_gmm, {}), ("kmeans", kmeans_objective_model, {"tau": self.settings["tau"]})]
        for j, (key_j, (label, model, extra)) in enumerate(zip(jax.random.split(key, 2), widened)):
            self.say(f"NUTS {len(self.fits()) + j + 1}/{self.n_fits}: {label} with sigma's prior scale x {factor:g}")
            (samples, _), _ = self.sample(key_j, model, starts[label], reference, sigma_scale=self.scale * factor, num_samples=self.settings["num_samples"], **extra)
            medians[label] = float(np.median(samples["sigma"]))
        return medians


def _summary(study: _Study, models, medians, profile: SigmaProfile, km: AnnealedKMeans, gmm_idata, source: str) -> dict[str, Any]:
    """The study's JSON-able summary (what ``identifiability.json`` holds)."""
    data_scale = float(data_prior_defaults(study.X)["sigma_scale"])
    gmm_sigma = gmm_idata.posterior["sigma"].values.ravel()
    factor = study.settings["prior_scale_factor"]
    return {
        "models": models,
        "prior_scale_ratio": {k: v[1] / v[0] for k, v in medians.items()},
        "prior_scale_medians": {k: {"base": v[0], "widened": v[1]} for k, v in medians.items()},
        "sigma_profile_max_centroid_shift": float(profile.max_shift[int(np.argmin(profile.t_mins))]),
        "sigma_profile": {
            "sigma_values": profile.sigma_values.tolist(), "t_mins": profile.t_mins.tolist(),
            "max_centroid_shift": profile.max_shift.tolist(), "relative_shift": (profile.max_shift / data_scale).tolist(),
        },
        "data_scale": data_scale,
        "plugin_sigma": float(km.sigma_),
        "gmm_sigma_posterior_median": float(np.median(gmm_sigma)),
        "gmm_sigma_posterior_interval_94": [float(q) for q in np.quantile(gmm_sigma, [0.03, 0.97])],
        "sigma_prior": {"name": study.priors["sigma_prior"], "scale": study.scale, "scale_widened": study.scale * factor},
        "kmeans": {
            "centers": km.cluster_centers_.tolist(), "inertia": float(km.inertia_),
            "first_critical_temperature": float(km.first_critical_temperature_),
            "critical_temperatures": km.critical_temperatures_.tolist(),
        },
        "data": {"source": source, "n_obs": int(study.X.shape[0]), "n_dim": int(study.X.shape[1])},
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in study.settings.items()},
    }


__all__ = [
    "IdentifiabilityResult",
    "SETTINGS",
    "run_identifiability",
]
