"""``AnnealedKMeans``: k-means as the zero-temperature limit of the shared-sigma mixture.

Fitting follows :mod:`probkm.algorithms.kmeans` (deterministic annealing plus k-means++ restarts,
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

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from probkm.core.scaling import Scaling, as_jax
from probkm.core.shapes import bucket_components, component_mask, pad_components
from probkm.estimators.base import ProbKMBase
from probkm._checks import (
    Boolean,
    Either,
    Integer,
    InvalidType,
    InvalidValue,
    Optional,
    Options,
    Real,
    check_choice,
    check_enough_samples,
    check_positive_float,
    check_positive_int,
    check_sample_weight,
)
from probkm.algorithms.annealing import FIRST_CRITICAL_TEMPERATURE, assign, cluster_critical_temperatures, geometric_schedule, lloyd
from probkm.inference.convergence import check_degenerate
from probkm.algorithms.kmeans import kmeans_candidates
from probkm.algorithms.laplace import log_sigma_laplace
from probkm.algorithms.ward import ward_means, ward_tree, ward_wanted
from probkm.core.likelihood import plugin_sigma
from probkm.core.models import SIGMA_PRIORS, sigma_prior_distribution
from probkm.inference.predictive import Draws, sample_predictive
from probkm.inference.relabel import matching_permutations

SIGMA_SOURCES = ("plugin", "prior", "posterior")


class AnnealedKMeans(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, ProbKMBase):
    """k-means by deterministic annealing of the equal-weight shared-sigma mixture.

    Parameters
    ----------
    n_clusters : int, default 8
        Number of clusters ``K``.
    n_temperatures : int, default 60
        Steps of the geometric schedule from ``T = 1`` (above the first critical
        temperature, 1/2) down to ``t_min``.
    t_min : float, default 1e-3
        Lowest annealing temperature, in ``(0, 1/2)``; Lloyd iterations at ``T = 0`` follow.
    n_init : int, default 3
        k-means++ restarts besides the annealed solution (0: annealing only). The lowest
        inertia wins.
    max_iter : int, default 300
        Most Lloyd iterations per candidate.
    ward_start : bool or "auto", default "auto"
        One more candidate: Lloyd's iterations on all rows from the cluster means of Ward's
        hierarchical clustering cut at ``n_clusters`` (:mod:`probkm.algorithms.ward`; at most
        2,000 rows, a random draw of larger data, in proportion to ``sample_weight``), kept if
        its inertia is lower. ``"auto"`` links data of at most 1,000 rows
        (``probkm.algorithms.ward.AUTO_ROWS``): on more, the linkage and the extra Lloyd run
        cost a third of a fit.
    sigma_prior : {"halfnormal", "lognormal", "invgamma"}, default "halfnormal"
        Prior on sigma used by ``sample(sigma="prior")`` and ``sigma="posterior"``.
    sigma_scale : float or None, default None
        Scale of that prior, in the units of x; ``None`` takes the data's pooled standard
        deviation.
    random_state : int, numpy random state or None, default None
        Seed of the k-means++ restarts and of ``sample``; ``None`` draws a fresh seed on
        each call.

    Attributes
    ----------
    cluster_centers_ : ndarray, shape (K, D)
        Centroids, in units of x.
    labels_ : ndarray of int, shape (N,)
        Nearest-centroid labels of the training data.
    inertia_ : float
        k-means objective ``J = sum_i min_k ||x_i - mu_k||^2``; with NaN (missing) entries,
        each distance sums over the row's observed coordinates.
    sigma_ : float
        Plug-in sigma, ``sqrt(inertia_ / (N D))``, with ``N D`` the number of observed entries.
    weights_ : ndarray, shape (K,)
        Cluster proportions.
    n_iter_ : int
        Lloyd iterations of the kept candidate.
    temperatures_ : ndarray, shape (n_temperatures,)
        The annealing schedule, decreasing from 1 to ``t_min``.
    annealing_path_ : ndarray, shape (n_temperatures, K, D)
        Centroids at each temperature of the annealing schedule.
    critical_temperatures_ : ndarray, shape (K,)
        Temperature below which each final cluster would split, ``lambda_max(k) / sigma_ref^2``.
    first_critical_temperature_ : float
        ``1/2`` by construction of the reference sigma.
    log_sigma_posterior_ : tuple (float, float)
        Mode and sd of the Laplace approximation to the posterior of ``log sigma`` (log units
        of x) under the mixture, centroids and proportions held fixed.
    scaling_ : probkm.core.scaling.Scaling
        Centre ``(D,)`` and pooled scale of the training data; every computation runs on
        ``(X - center) / scale`` so float32 keeps its precision at any offset or magnitude.
    sigma_prior_scale_ : float
        Scale of sigma's prior in the units of x (``sigma_scale`` or the data's pooled sd).
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str, shape ``(n_features_in_,)``
        Column names of ``X`` in ``fit``; only when ``X`` had string column names (a DataFrame).

    See Also
    --------
    SphericalGMM : The same mixture at ``T = 1``, with sigma learnt from the data.
    from_sklearn : Make a fitted scikit-learn ``KMeans`` generative in the same way.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm import AnnealedKMeans
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> km = AnnealedKMeans(2, n_temperatures=10, random_state=0).fit(X)
    >>> np.sort(km.cluster_centers_[:, 0]).round(1), round(km.sigma_, 1)
    (array([-0.3,  6.4]), 0.9)
    >>> X_new, y_new = km.sample(5, sigma="posterior")
    >>> X_new.shape
    (5, 2)
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        n_temperatures: int = 60,
        t_min: float = 1e-3,
        n_init: int = 3,
        max_iter: int = 300,
        ward_start: bool | str = "auto",
        sigma_prior: str = "halfnormal",
        sigma_scale: float | None = None,
        random_state: Any = None,
    ):
        self.n_clusters = n_clusters
        self.n_temperatures = n_temperatures
        self.t_min = t_min
        self.n_init = n_init
        self.max_iter = max_iter
        self.ward_start = ward_start
        self.sigma_prior = sigma_prior
        self.sigma_scale = sigma_scale
        self.random_state = random_state

    _parameter_constraints = {
        "n_clusters": Integer(1),
        "n_temperatures": Integer(1),
        "t_min": Real(0.0, FIRST_CRITICAL_TEMPERATURE, why="below the first critical temperature, or no cluster ever splits"),
        "n_init": Integer(0),
        "max_iter": Integer(1),
        "ward_start": Either(Options(("auto",)), Boolean()),
        "sigma_prior": Options(SIGMA_PRIORS),
        "sigma_scale": Optional(Real(0.0)),
    }

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "AnnealedKMeans":
        """Cluster ``X``: deterministic annealing and k-means++ restarts, the lowest inertia kept.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Numbers, at least ``n_clusters`` rows; NaN entries are missing values (partial
            distances over observed coordinates; every row and column needs an observed value).
        y : None
            Ignored.
        sample_weight : array_like, shape (n_samples,), optional
            Non-negative weight of each row: an integer weight counts the row that many
            times, 0 drops it (scikit-learn's semantics).

        Returns
        -------
        AnnealedKMeans
            ``self``, fitted.

        Raises
        ------
        InvalidValue, InvalidType
            A parameter outside its constraint, or ``X`` that is not finite, numeric and 2-D
            with enough rows.

        Warns
        -----
        ConvergenceWarning
            A degenerate solution (a cluster holding less than half a point, a collapsed sigma).

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import AnnealedKMeans
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> km = AnnealedKMeans(2, n_temperatures=10, random_state=0).fit(X)
        >>> sorted(np.bincount(km.labels_).tolist()), km.temperatures_[[0, -1]]
        ([20, 20], array([1.   , 0.001]))
        >>> km.annealing_path_.shape, bool((km.critical_temperatures_ < km.first_critical_temperature_).all())
        ((10, 2, 2), True)
        """
        self._check_params()
        X = self._validate(X, reset=True)
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        check_enough_samples(X.shape[0] if sample_weight is None else int(np.sum(sample_weight > 0)), self.n_clusters, param="n_clusters")
        # compute on standardised data (float32 keeps its precision at any offset or scale),
        # with rows padded to a bucket (one compiled program serves many N)
        self.scaling_ = Scaling.of(X, sample_weight)
        x, rows = self._padded(X, sample_weight)
        observed = self._observed(X, x.shape[0])  # None for complete data: the complete-data programs
        temperatures = geometric_schedule(1.0, self.t_min, self.n_temperatures)
        # clusters padded to a bucket too: masked centroids take no points (probkm.core.shapes)
        k, n_padded = self.n_clusters, bucket_components(self.n_clusters, x.shape[0])
        seed_fit, seed_ward = self._seeds(2)
        found = kmeans_candidates(
            jax.random.key(seed_fit), x, temperatures, n_clusters=n_padded, n_init=self.n_init, max_iter=self.max_iter,
            row_weights=rows, component_mask=component_mask(k, n_padded), observed=observed,
        )
        best = int(np.argmin(np.asarray(found.inertia, dtype=float)))
        # picked on the host: an eager index of a device array is one more program to compile
        centers, labels, n_iter = (np.asarray(a)[best] for a in (found.centers, found.labels, found.n_iter))
        n_rows = X.shape[0] if sample_weight is None else int(np.count_nonzero(sample_weight))
        if ward_wanted(self.ward_start, n_rows):  # Lloyd from Ward's partition: a basin random seedings can miss
            x_host = self.scaling_.forward(X)
            means = ward_means(ward_tree(x_host, sample_weight, seed=seed_ward), x_host, k)
            if means is not None:
                start = as_jax(np.pad(means, ((0, n_padded - k), (0, 0))))
                ward = lloyd(x, start, max_iter=self.max_iter, row_weights=rows, component_mask=component_mask(k, n_padded), observed=observed)
                if float(ward.inertia) < float(found.inertia[best]):
                    centers, labels, n_iter = ward.centers, ward.labels, ward.n_iter
        self._set_solution(X, self.scaling_.backward(np.asarray(centers)[:k]), sample_weight)
        check_degenerate(self.weights_, self.sigma_, n_obs=float(np.sum(self._row_weights(rows, x.shape[0]))), data_scale=self.scaling_.scale)
        self.n_iter_ = int(n_iter)
        self.temperatures_ = np.asarray(found.anneal.temperatures, dtype=float)
        path = self.scaling_.backward(np.asarray(found.anneal.path)[:, :k])
        # the kept solution may be a k-means++ restart: label the path like cluster_centers_
        self.annealing_path_ = path[:, matching_permutations(path[-1], self.cluster_centers_), :]
        self.first_critical_temperature_ = FIRST_CRITICAL_TEMPERATURE
        self.critical_temperatures_ = np.asarray(
            cluster_critical_temperatures(x, labels, n_padded, found.anneal.sigma_ref, rows, observed), dtype=float
        )[:k]
        return self

    def _centers(self) -> jax.Array:
        """The centroids in the standardised units of the fit."""
        return as_jax(self.scaling_.forward(self.cluster_centers_))

    def _padded_centers(self, n_rows: int) -> tuple[jax.Array, jax.Array]:
        """Standardised centroids padded to their bucket for ``n_rows`` rows, and the mask of the real ones."""
        n_padded = bucket_components(self.n_clusters, n_rows)
        centers = pad_components({"means": self.scaling_.forward(self.cluster_centers_)}, n_padded)["means"]
        return as_jax(centers), as_jax(component_mask(self.n_clusters, n_padded))

    def _assign(self, X: np.ndarray, sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, jax.Array, jax.Array]:
        """Labels and k-means objective (standardised units; partial distances over observed
        entries) of the rows of ``X``, and ``X`` padded with its row weights."""
        x, rows = self._padded(X, sample_weight)
        labels, objective = assign(x, *self._padded_centers(x.shape[0]), self._observed(X, x.shape[0]))
        return np.asarray(labels)[: X.shape[0]], np.asarray(objective, dtype=float)[: X.shape[0]], x, rows

    def _set_solution(self, X: np.ndarray, centers: Any, sample_weight: np.ndarray | None = None) -> None:
        """Everything that follows from centroids ``(K, D)`` on data ``X``: labels, inertia,
        proportions, the plug-in sigma and the Laplace posterior of log sigma."""
        n_obs, n_dim = X.shape
        self.cluster_centers_ = np.asarray(centers, dtype=float)
        labels, objective, x, rows = self._assign(X, sample_weight)
        scale, weights = self.scaling_.scale, self._row_weights(rows, x.shape[0])[:n_obs]
        self.labels_ = labels
        inertia = float(np.sum(weights * objective))
        self.inertia_ = inertia * scale**2
        # the plug-in sigma divides by the observed entries: N D, or fewer with missing values
        n_entries = float(weights @ np.sum(~np.isnan(X), axis=1))
        self.sigma_ = float(plugin_sigma(inertia, n_entries / n_dim, n_dim)) * scale
        self.weights_ = np.bincount(self.labels_, weights=weights, minlength=self.n_clusters) / weights.sum()
        self.sigma_prior_scale_ = float(self.sigma_scale or self.scaling_.scale)
        positive = np.clip(self.weights_, 1e-12, None)
        centers, mask = self._padded_centers(x.shape[0])
        mode, sd = log_sigma_laplace(
            x, as_jax(np.asarray(mask) * np.pad(positive / positive.sum(), (0, centers.shape[0] - self.n_clusters))), centers,
            max(self.sigma_ / scale, 1e-6), self.sigma_prior_scale_ / scale, self.sigma_prior, row_weights=rows,
            observed=self._observed(X, x.shape[0]),
        )
        self.log_sigma_posterior_ = (float(mode) + float(np.log(scale)), float(sd))
        self._n_features_out = self.n_clusters

    def predict(self, X: Any) -> np.ndarray:
        """Index of the nearest centroid for each row of ``X``, shape ``(n_samples,)``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray of int, shape (n_samples,)

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import AnnealedKMeans
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> km = AnnealedKMeans(2, n_temperatures=10, random_state=0).fit(X)
        >>> bool((km.predict(X) == km.labels_).all())
        True
        """
        X = self._validate(X, reset=False)
        return self._assign(X)[0]

    def transform(self, X: Any) -> np.ndarray:
        """Euclidean distance of each row to each centroid, ``(n_samples, n_clusters)``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples, n_clusters)
            Distances in the units of ``X``; over a row's observed coordinates when it has NaN entries.

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import AnnealedKMeans
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> km = AnnealedKMeans(2, n_temperatures=10, random_state=0).fit(X)
        >>> distances = km.transform(X)
        >>> distances.shape, bool((distances.argmin(axis=1) == km.predict(X)).all())
        ((40, 2), True)
        """
        X = self._validate(X, reset=False)
        d2 = np.nansum((X[:, None, :] - self.cluster_centers_[None]) ** 2, axis=-1)
        return np.sqrt(d2)

    def impute(self, X: Any) -> np.ndarray:
        """``X`` with each NaN entry filled by that coordinate of the row's nearest centroid.

        The nearest centroid is judged on the row's observed coordinates (the partial
        distance). This is the ``T -> 0`` limit of :meth:`SphericalGMM.impute`, whose
        responsibilities become one-hot.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Data with NaN where values are missing; every row needs one observed value.

        Returns
        -------
        ndarray, shape (n_samples, n_features)
            Observed entries unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import AnnealedKMeans
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> km = AnnealedKMeans(2, n_temperatures=10, random_state=0).fit(X)
        >>> filled = km.impute([[6.5, np.nan]])
        >>> bool(np.isclose(filled[0, 1], km.cluster_centers_[km.predict([[6.5, np.nan]])[0], 1]))
        True
        """
        X = self._validate(X, reset=False)
        return np.where(np.isnan(X), self.cluster_centers_[self._assign(X)[0]], X)

    def score(self, X: Any, y: Any = None) -> float:
        """Negative k-means objective of ``X`` (scikit-learn's convention: higher is better); over observed entries.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        float
            ``-sum_i min_k ||x_i - mu_k||^2``, in squared units of ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import AnnealedKMeans
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> km = AnnealedKMeans(2, n_temperatures=10, random_state=0).fit(X)
        >>> bool(np.isclose(km.score(X), -km.inertia_)), round(km.inertia_)
        (True, 69)
        """
        X = self._validate(X, reset=False)
        return -float(np.sum(self._assign(X)[1])) * self.scaling_.scale**2

    def _sigma_draws(self, key: jax.Array, sigma: Any, n_samples: int) -> jax.Array:
        if isinstance(sigma, str):
            check_choice("sigma", sigma, SIGMA_SOURCES)
            if sigma == "plugin":
                return jnp.full((n_samples,), self.sigma_)
            if sigma == "prior":
                prior = sigma_prior_distribution(self.sigma_prior, self.sigma_prior_scale_)
                return prior.sample(key, (n_samples,))
            mode, sd = self.log_sigma_posterior_
            return jnp.exp(mode + sd * jax.random.normal(key, (n_samples,)))
        if hasattr(sigma, "draws_"):
            draws = np.asarray(sigma.draws_.sigma)
            return jnp.asarray(draws)[jax.random.randint(key, (n_samples,), 0, draws.shape[0])]
        if isinstance(sigma, (int, float, np.floating, np.integer)) and not isinstance(sigma, bool):
            return jnp.full((n_samples,), check_positive_float("sigma", float(sigma)))
        raise InvalidType(
            f"sigma must be one of {SIGMA_SOURCES}, a positive float or a fitted SphericalGMM; got {sigma!r}."
        )

    def sample(self, n_samples: int = 1, *, sigma: Any = "plugin", random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Generate ``n_samples`` points from the k-means fit made generative.

        ``z ~ Cat(weights_)`` (the cluster proportions), ``x ~ N(mu_z, sigma^2 I)``, with
        sigma from ``"plugin"``, ``"prior"``, ``"posterior"``, a float, or a fitted
        :class:`SphericalGMM` (its sigma draws).

        Parameters
        ----------
        n_samples : int
            Points to generate, at least 1.
        sigma : {"plugin", "prior", "posterior"}, float or SphericalGMM
            Where sigma comes from: ``"plugin"``, the fixed ``sigma_``; ``"prior"``, a fresh
            draw from sigma's prior for each point; ``"posterior"``, a draw from the Laplace
            posterior ``log_sigma_posterior_`` for each point; a positive float, that value;
            a fitted :class:`SphericalGMM`, a random one of its sigma draws for each point.
        random_state : int, numpy random state or None
            Defaults to the estimator's.

        Returns
        -------
        X : ndarray, shape (n_samples, n_features)
            New points, in the units of the training data.
        y : ndarray of int, shape (n_samples,)
            Cluster labels.

        Raises
        ------
        InvalidType, InvalidValue
            ``sigma`` is none of the above, or not positive.

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import AnnealedKMeans
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> km = AnnealedKMeans(2, n_temperatures=10, random_state=0).fit(X)
        >>> X_new, y_new = km.sample(500, sigma="plugin")
        >>> X_new.shape, round(float((X_new - km.cluster_centers_[y_new]).std()), 1)  # about sigma_
        ((500, 2), 0.9)
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

    Parameters
    ----------
    kmeans : sklearn.cluster.KMeans or MiniBatchKMeans
        A fitted estimator with ``cluster_centers_``; its ``random_state`` and ``n_iter_``
        carry over.
    X : array_like, shape (n_samples, n_features)
        The data ``kmeans`` was fitted on.
    sigma_prior : {"halfnormal", "lognormal", "invgamma"}
        Prior on sigma for ``sample(sigma="prior")`` and ``sigma="posterior"``.
    sigma_scale : float or None
        Scale of that prior, in the units of ``X``; ``None`` takes the data's pooled sd.

    Returns
    -------
    AnnealedKMeans
        Fitted, without ``temperatures_``, ``annealing_path_`` or critical temperatures.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        ``kmeans`` is not fitted.
    InvalidValue
        ``X`` has another number of columns than the centroids, or another number of rows
        than ``kmeans`` was fitted on.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import KMeans
    >>> from probkm import from_sklearn
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> model = from_sklearn(KMeans(2, n_init=1, random_state=0).fit(X), X)
    >>> X_new, y_new = model.sample(5, sigma="posterior")
    >>> round(model.sigma_, 1), X_new.shape
    (0.9, (5, 2))
    """
    check_is_fitted(kmeans, "cluster_centers_")
    centers = np.asarray(kmeans.cluster_centers_, dtype=float)
    model = AnnealedKMeans(centers.shape[0], sigma_prior=sigma_prior, sigma_scale=sigma_scale, random_state=getattr(kmeans, "random_state", None))
    check_choice("sigma_prior", sigma_prior, SIGMA_PRIORS)
    X = model._validate(X, reset=True)
    if X.shape[1] != centers.shape[1]:
        raise InvalidValue(f"X has {X.shape[1]} features, but the KMeans centroids have {centers.shape[1]}.")
    labels = getattr(kmeans, "labels_", None)
    if labels is not None and len(labels) != X.shape[0]:
        raise InvalidValue(f"X has {X.shape[0]} rows, but kmeans was fitted on {len(labels)}; pass the training data.")
    model.scaling_ = Scaling.of(X)
    model._set_solution(X, centers)
    model.n_iter_ = int(getattr(kmeans, "n_iter_", 0))
    return model
