"""``AnnealedKMeans``: k-means as the zero-temperature limit of the shared-sigma mixture.

Fitting follows :mod:`probkm.kmeans` (deterministic annealing plus k-means++ restarts,
best inertia kept). The result keeps what the ``T -> 0`` limit keeps, the centroids, and
offers three ways to bring back the ``sigma`` it threw away when generating data:

* ``"plugin"``: the classification-likelihood MLE ``sigma_hat^2 = J / (N D)``;
* ``"prior"``: a fresh draw from sigma's prior for each generated point;
* ``"posterior"``: the shared-sigma mixture's posterior of sigma with the means and weights
  held at the k-means solution, by a Laplace approximation in ``log sigma`` (one dimension,
  so it is accurate for all but tiny data sets); or pass a fitted :class:`SphericalGMM` to
  use its full posterior draws of sigma.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from probkm._base import ProbKMBase, Scaling, as_jax
from probkm._checks import check_choice, check_enough_samples, check_positive_float, check_positive_int
from probkm.annealing import FIRST_CRITICAL_TEMPERATURE, assign, cluster_critical_temperatures, geometric_schedule
from probkm.convergence import check_degenerate
from probkm.kmeans import kmeans_candidates
from probkm.likelihood import (
    kmeans_objective_pointwise,
    log_sigma_derivatives_from_distances,
    nearest_centroid,
    plugin_sigma,
    squared_distances,
)
from probkm.models import SIGMA_PRIORS, data_prior_defaults, sigma_prior_distribution
from probkm.predictive import Draws, sample_predictive
from probkm.relabel import matching_permutations

SIGMA_SOURCES = ("plugin", "prior", "posterior")


@partial(jax.jit, static_argnames=("prior_name",))
def _log_sigma_laplace(x, weights, means, start, prior_scale, prior_name, tol=1e-6, max_iter=50):
    """Mode and sd of the mixture's posterior of ``u = log sigma`` (means, weights fixed).

    Damped Newton steps from ``log start`` until a step is below ``tol``; the curvature at
    the mode gives the Laplace sd.
    """
    prior = sigma_prior_distribution(prior_name, prior_scale)
    dist = squared_distances(x, means)  # the same for every sigma
    log_weights = jnp.log(weights)[None, :]

    def log_prior(u):  # density of u = log sigma: the prior on sigma times the Jacobian e^u
        return prior.log_prob(jnp.exp(u)) + u

    def derivatives(u):
        first, second = log_sigma_derivatives_from_distances(dist, log_weights, jnp.exp(u), x.shape[1])
        return first + jax.grad(log_prior)(u), second + jax.hessian(log_prior)(u)

    def newton(carry):
        u, _, it = carry
        first, second = derivatives(u)
        step = jnp.clip(first / jnp.minimum(second, -1e-6), -0.5, 0.5)
        return u - step, jnp.abs(step), it + 1

    def keep_going(carry):
        _, step, it = carry
        return (step > tol) & (it < max_iter)

    u0 = jnp.log(jnp.asarray(start, x.dtype))
    mode, _, _ = jax.lax.while_loop(keep_going, newton, (u0, jnp.asarray(jnp.inf, x.dtype), 0))
    return mode, 1.0 / jnp.sqrt(jnp.maximum(-derivatives(mode)[1], 1e-12))


class AnnealedKMeans(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, ProbKMBase):
    """k-means by deterministic annealing of the equal-weight shared-sigma mixture.

    Parameters
    ----------
    n_clusters : int
        Number of clusters ``K``.
    n_temperatures : int
        Steps of the geometric schedule from ``T = 1`` (above the first critical
        temperature, 1/2) down to ``t_min``.
    t_min : float
        Lowest annealing temperature; Lloyd iterations at ``T = 0`` follow.
    n_init : int
        k-means++ restarts besides the annealed solution (0: annealing only). The lowest
        inertia wins.
    max_iter : int
        Most Lloyd iterations per candidate.
    sigma_prior, sigma_scale :
        Prior on sigma used by ``sample(sigma="prior")`` and ``sigma="posterior"``;
        ``sigma_scale=None`` takes the data's pooled standard deviation.
    random_state : int, numpy random state or None

    Attributes
    ----------
    cluster_centers_ : ndarray (K, D)
    labels_ : ndarray (N,)
        Nearest-centroid labels of the training data.
    inertia_ : float
        k-means objective ``J = sum_i min_k ||x_i - mu_k||^2``.
    sigma_ : float
        Plug-in sigma, ``sqrt(inertia_ / (N D))``.
    weights_ : ndarray (K,)
        Cluster proportions.
    temperatures_ : ndarray (n_temperatures,)
    annealing_path_ : ndarray (n_temperatures, K, D)
        Centroids at each temperature of the annealing schedule.
    critical_temperatures_ : ndarray (K,)
        Temperature below which each final cluster would split, ``lambda_max(k) / sigma_ref^2``.
    first_critical_temperature_ : float
        ``1/2`` by construction of the reference sigma.
    sigma_posterior_ : tuple (float, float)
        Mode and sd of the Laplace approximation to the posterior of ``log sigma`` (log units
        of x) under the mixture, centroids and proportions held fixed.
    scaling_ : probkm._base.Scaling
        Centre ``(D,)`` and pooled scale of the training data; every computation runs on
        ``(X - center) / scale`` so float32 keeps its precision at any offset or magnitude.
    sigma_prior_scale_ : float
        Scale of sigma's prior in the units of x (``sigma_scale`` or the data's pooled sd).
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        n_temperatures: int = 60,
        t_min: float = 1e-3,
        n_init: int = 3,
        max_iter: int = 300,
        sigma_prior: str = "halfnormal",
        sigma_scale: float | None = None,
        random_state: Any = None,
    ):
        self.n_clusters = n_clusters
        self.n_temperatures = n_temperatures
        self.t_min = t_min
        self.n_init = n_init
        self.max_iter = max_iter
        self.sigma_prior = sigma_prior
        self.sigma_scale = sigma_scale
        self.random_state = random_state

    def _check_params(self) -> None:
        check_positive_int("n_clusters", self.n_clusters)
        check_positive_int("n_temperatures", self.n_temperatures)
        check_positive_int("n_init", self.n_init, minimum=0)
        check_positive_int("max_iter", self.max_iter)
        check_positive_float("t_min", self.t_min)
        if self.t_min >= FIRST_CRITICAL_TEMPERATURE:
            raise ValueError(
                f"t_min must be below the first critical temperature {FIRST_CRITICAL_TEMPERATURE}, "
                f"or no cluster ever splits; got {self.t_min}."
            )
        check_choice("sigma_prior", self.sigma_prior, SIGMA_PRIORS)
        check_positive_float("sigma_scale", self.sigma_scale, allow_none=True)

    def fit(self, X: Any, y: Any = None) -> "AnnealedKMeans":
        """Cluster ``X`` ``(n_samples, n_features)``; ``y`` is ignored. Returns ``self``."""
        self._check_params()
        X = self._validate(X, reset=True)
        check_enough_samples(X.shape[0], self.n_clusters, param="n_clusters")
        n_obs, n_dim = X.shape
        # compute on standardised data: float32 keeps its precision at any offset or scale
        self.scaling_ = Scaling.of(X)
        x = as_jax(self.scaling_.forward(X))
        temperatures = geometric_schedule(1.0, self.t_min, self.n_temperatures)
        found = kmeans_candidates(self._key(), x, temperatures, n_clusters=self.n_clusters, n_init=self.n_init, max_iter=self.max_iter)
        best = int(np.argmin(np.asarray(found.inertia, dtype=float)))
        self._set_solution(X, self.scaling_.backward(found.centers[best]))
        check_degenerate(self.weights_, self.sigma_, n_obs=n_obs, data_scale=self.scaling_.scale)
        self.n_iter_ = int(found.n_iter[best])
        self.temperatures_ = np.asarray(found.anneal.temperatures, dtype=float)
        path = self.scaling_.backward(found.anneal.path)
        # the kept solution may be a k-means++ restart: label the path like cluster_centers_
        self.annealing_path_ = path[:, matching_permutations(path[-1], self.cluster_centers_), :]
        self.first_critical_temperature_ = FIRST_CRITICAL_TEMPERATURE
        self.critical_temperatures_ = np.asarray(
            cluster_critical_temperatures(x, jnp.asarray(self.labels_), self.n_clusters, found.anneal.sigma_ref), dtype=float
        )
        return self

    def _standardised(self, X: np.ndarray) -> tuple[jax.Array, jax.Array]:
        """``X`` and the centroids in the standardised units of the fit, as JAX arrays."""
        return as_jax(self.scaling_.forward(X)), as_jax(self.scaling_.forward(self.cluster_centers_))

    def _set_solution(self, X: np.ndarray, centers: Any) -> None:
        """Everything that follows from centroids ``(K, D)`` on data ``X``: labels, inertia,
        proportions, the plug-in sigma and the Laplace posterior of log sigma."""
        n_obs, n_dim = X.shape
        self.cluster_centers_ = np.asarray(centers, dtype=float)
        x, centers = self._standardised(X)
        scale = self.scaling_.scale
        labels, objective = assign(x, centers)
        self.labels_ = np.asarray(labels)
        inertia = float(np.sum(np.asarray(objective, dtype=float)))
        self.inertia_ = inertia * scale**2
        self.sigma_ = float(plugin_sigma(inertia, n_obs, n_dim)) * scale
        self.weights_ = np.bincount(self.labels_, minlength=self.n_clusters) / n_obs
        self.sigma_prior_scale_ = float(self.sigma_scale or data_prior_defaults(X)["sigma_scale"])
        positive = np.clip(self.weights_, 1e-12, None)
        mode, sd = _log_sigma_laplace(
            x, as_jax(positive / positive.sum()), centers,
            max(self.sigma_ / scale, 1e-6), self.sigma_prior_scale_ / scale, self.sigma_prior,
        )
        self.sigma_posterior_ = (float(mode) + float(np.log(scale)), float(sd))
        self._n_features_out = self.n_clusters

    def predict(self, X: Any) -> np.ndarray:
        """Index of the nearest centroid for each row of ``X``, shape ``(n_samples,)``."""
        X = self._validate(X, reset=False)
        return np.asarray(nearest_centroid(*self._standardised(X)))

    def transform(self, X: Any) -> np.ndarray:
        """Euclidean distance of each row to each centroid, ``(n_samples, n_clusters)``."""
        X = self._validate(X, reset=False)
        d2 = ((X[:, None, :] - self.cluster_centers_[None]) ** 2).sum(-1)
        return np.sqrt(d2)

    def score(self, X: Any, y: Any = None) -> float:
        """Negative k-means objective of ``X`` (scikit-learn's convention: higher is better)."""
        X = self._validate(X, reset=False)
        within = np.sum(np.asarray(kmeans_objective_pointwise(*self._standardised(X)), dtype=float))
        return -float(within) * self.scaling_.scale**2

    def _sigma_draws(self, key: jax.Array, sigma: Any, n_samples: int) -> jax.Array:
        if isinstance(sigma, str):
            check_choice("sigma", sigma, SIGMA_SOURCES)
            if sigma == "plugin":
                return jnp.full((n_samples,), self.sigma_)
            if sigma == "prior":
                prior = sigma_prior_distribution(self.sigma_prior, self.sigma_prior_scale_)
                return prior.sample(key, (n_samples,))
            mode, sd = self.sigma_posterior_
            return jnp.exp(mode + sd * jax.random.normal(key, (n_samples,)))
        if hasattr(sigma, "draws_"):
            draws = np.asarray(sigma.draws_.sigma)
            return jnp.asarray(draws)[jax.random.randint(key, (n_samples,), 0, draws.shape[0])]
        if isinstance(sigma, (int, float, np.floating, np.integer)) and not isinstance(sigma, bool):
            return jnp.full((n_samples,), check_positive_float("sigma", float(sigma)))
        raise TypeError(
            f"sigma must be one of {SIGMA_SOURCES}, a positive float or a fitted SphericalGMM; got {sigma!r}."
        )

    def sample(self, n_samples: int = 1, *, sigma: Any = "plugin", random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Generate ``n_samples`` points from the k-means fit made generative.

        ``z ~ Cat(weights_)`` (the cluster proportions), ``x ~ N(mu_z, sigma^2 I)``, with
        sigma from ``"plugin"``, ``"prior"``, ``"posterior"``, a float, or a fitted
        :class:`SphericalGMM` (its sigma draws). ``random_state`` defaults to the estimator's.

        :return: ``X (n_samples, n_features)`` and cluster labels ``y (n_samples,)``.
        """
        check_is_fitted(self, "cluster_centers_")
        n_samples = check_positive_int("n_samples", n_samples)
        key_sigma, key_x = jax.random.split(self._key(random_state))
        sigmas = np.asarray(self._sigma_draws(key_sigma, sigma, n_samples), dtype=float)
        weights = np.broadcast_to(self.weights_, (n_samples, self.n_clusters))
        means = np.broadcast_to(self.cluster_centers_, (n_samples,) + self.cluster_centers_.shape)
        x, y = sample_predictive(key_x, n_samples, self.scaling_.draws(Draws(weights, means, sigmas)))
        return self.scaling_.backward(x), np.asarray(y)


def from_sklearn(kmeans: Any, X: Any, *, sigma_prior: str = "halfnormal", sigma_scale: float | None = None) -> AnnealedKMeans:
    """Turn a fitted scikit-learn ``KMeans`` (or ``MiniBatchKMeans``) into a generative model.

    The result is an :class:`AnnealedKMeans` holding ``kmeans``'s centroids, with the plug-in
    ``sigma_ = sqrt(J / (N D))`` computed on ``X``, the training data (scikit-learn does not
    keep it), and the other sigma sources of :meth:`AnnealedKMeans.sample`. It has no
    annealing path: it was not annealed.

    :param kmeans: a fitted estimator with ``cluster_centers_``.
    :param X: ``(n_samples, n_features)`` the data ``kmeans`` was fitted on.
    """
    check_is_fitted(kmeans, "cluster_centers_")
    centers = np.asarray(kmeans.cluster_centers_, dtype=float)
    model = AnnealedKMeans(centers.shape[0], sigma_prior=sigma_prior, sigma_scale=sigma_scale, random_state=getattr(kmeans, "random_state", None))
    check_choice("sigma_prior", sigma_prior, SIGMA_PRIORS)
    X = model._validate(X, reset=True)
    if X.shape[1] != centers.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features, but the KMeans centroids have {centers.shape[1]}.")
    labels = getattr(kmeans, "labels_", None)
    if labels is not None and len(labels) != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows, but kmeans was fitted on {len(labels)}; pass the training data.")
    model.scaling_ = Scaling.of(X)
    model._set_solution(X, centers)
    model.n_iter_ = int(getattr(kmeans, "n_iter_", 0))
    return model
