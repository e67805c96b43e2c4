"""``SphericalGMM``: the shared-sigma spherical Gaussian mixture as a scikit-learn estimator.

The class only wires together :mod:`probkm.kmeans` (initialisation), :mod:`probkm.infer`
(MAP and NUTS), :mod:`probkm.relabel`, :mod:`probkm.predictive` and
:mod:`probkm.inference_data`; it holds no mathematics of its own.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.base import DensityMixin
from sklearn.utils.validation import check_is_fitted

from probkm._base import ProbKMBase, Scaling, as_jax
from probkm._checks import check_choice, check_enough_samples, check_positive_float, check_positive_int
from probkm.annealing import geometric_schedule
from probkm.convergence import check_degenerate, check_losses, check_nuts
from probkm.infer import OPTIMIZERS, fit_map, negative_log_joint
from probkm.inference_data import build_inference_data
from probkm.kmeans import kmeans_candidates, subsample_rows
from probkm.models import SIGMA_PRIORS, data_prior_defaults, spherical_gmm
from probkm.posterior import sample_posterior
from probkm.predictive import Draws, predictive_log_density, predictive_responsibilities, sample_predictive

INFERENCE = ("map", "mcmc")
CHAIN_METHODS = ("sequential", "vectorized", "parallel")
INIT_SAMPLES = 10_000  # most rows the k-means start of the MAP sees


def map_starts(candidates, n_obs: int, n_dim: int) -> dict[str, jax.Array]:
    """MAP starting points from k-means candidates: centroids, cluster proportions and plug-in sigma."""
    n_clusters = candidates.centers.shape[1]
    counts = jax.vmap(lambda l: jnp.bincount(l, length=n_clusters))(candidates.labels)
    weights = (counts + 1.0) / (n_obs + n_clusters)  # keep every weight inside the simplex
    sigma = jnp.sqrt(jnp.maximum(candidates.inertia / (n_obs * n_dim), 1e-6))
    return {"means": candidates.centers, "weights": weights, "sigma": sigma}


def _nuts_start(map_point: dict[str, Any], scale: float) -> dict[str, Any]:
    """Where NUTS chains start: the MAP, with sigma at least 1e-3 of the data's scale. With as many
    components as distinct points the MAP's sigma collapses to 0, where the log density is not finite."""
    return {**map_point, "sigma": max(map_point["sigma"], 1e-3 * scale)}


class SphericalGMM(DensityMixin, ProbKMBase):
    """Gaussian mixture with spherical components that share one ``sigma``, with priors.

    MAP (``inference="map"``) or full posterior by NUTS (``inference="mcmc"``), always with
    an :class:`arviz.InferenceData` in ``idata_``. The MAP starts from deterministic
    annealing and ``n_init`` k-means++ restarts (on at most 10,000 random rows) and keeps
    the restart with the best objective; NUTS starts every chain at the MAP and relabels
    each draw by Hungarian matching of its means to the MAP means (:mod:`probkm.relabel`).

    Parameters
    ----------
    n_components : int
        Number of mixture components ``K``.
    inference : {"map", "mcmc"}
    sigma_prior : {"halfnormal", "lognormal", "invgamma"}
        Prior on the shared sigma (see :mod:`probkm.models`).
    sigma_scale, loc_center, loc_scale : float or array or None
        Prior settings in the units of ``X``; ``None`` takes them from the data.
    weight_concentration : float
        Dirichlet concentration per component.
    n_init : int
        k-means++ restarts besides the annealed start (0: annealing only).
    map_restarts : int
        How many of those k-means candidates, best log joint first, the MAP optimiser
        starts from; the best final objective is kept.
    batch_size : int or None
        Minibatch SVI for large data: each Adam step sees ``batch_size`` random rows
        (needs ``optimizer="adam"``; memory stays at the data plus one batch).
    optimizer, num_steps, learning_rate :
        SVI settings for the MAP: ``"bfgs"`` (NumPyro ``Minimize``, one step is a full
        quasi-Newton solve) or ``"adam"``; ``num_steps=None`` means 1 for BFGS, 500 for Adam.
    n_temperatures, t_min :
        The annealing schedule for the start, ``n_temperatures`` steps from ``T = 1`` to ``t_min``.
    num_warmup, num_samples, num_chains, chain_method, target_accept_prob :
        NUTS settings, with NumPyro's names.
    num_prior_samples : int
        Draws in the ``prior`` and ``prior_predictive`` groups of ``idata_``.
    progress_bar : bool
        Ignored (kept for compatibility): NUTS runs as one compiled call, with no progress
        to report (:func:`probkm.infer.fit_nuts`).
    random_state : int, numpy random state or None

    Attributes
    ----------
    weights_ : ndarray (K,)
    means_ : ndarray (K, D)
    sigma_ : float
        MAP values, or posterior means after relabelling.
    map_ : dict
        The MAP point (``weights``, ``means``, ``sigma``); for NUTS, where every chain started.
    idata_ : arviz.InferenceData
        Built on first access from the fit.
    draws_ : probkm.predictive.Draws
        The parameter draws behind every prediction (one for MAP), float64 arrays.
    scaling_ : probkm._base.Scaling
        Centre and pooled scale of the training data; fitting and prediction run on
        ``(X - center) / scale``, so float32 keeps its precision at any offset or magnitude.
    lower_bound_ : float
        Log joint density (prior times likelihood) at the MAP.
    convergence_ : dict
        For NUTS: the number of divergences, the largest split R-hat and the smallest bulk
        ESS over all parameters after relabelling. A ``ConvergenceWarning`` names any that
        fail ArviZ's thresholds (R-hat > 1.01, ESS < 100 per chain, any divergence).
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        inference: str = "map",
        sigma_prior: str = "halfnormal",
        sigma_scale: float | None = None,
        loc_center: Any = None,
        loc_scale: Any = None,
        weight_concentration: float = 1.0,
        n_init: int = 3,
        map_restarts: int = 1,
        batch_size: int | None = None,
        num_steps: int | None = None,
        optimizer: str = "bfgs",
        learning_rate: float = 0.05,
        n_temperatures: int = 60,
        t_min: float = 1e-3,
        num_warmup: int = 500,
        num_samples: int = 1000,
        num_chains: int = 2,
        chain_method: str = "sequential",
        target_accept_prob: float = 0.8,
        num_prior_samples: int = 200,
        progress_bar: bool = False,
        random_state: Any = None,
    ):
        self.n_components = n_components
        self.inference = inference
        self.sigma_prior = sigma_prior
        self.sigma_scale = sigma_scale
        self.loc_center = loc_center
        self.loc_scale = loc_scale
        self.weight_concentration = weight_concentration
        self.n_init = n_init
        self.map_restarts = map_restarts
        self.batch_size = batch_size
        self.num_steps = num_steps
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.n_temperatures = n_temperatures
        self.t_min = t_min
        self.num_warmup = num_warmup
        self.num_samples = num_samples
        self.num_chains = num_chains
        self.chain_method = chain_method
        self.target_accept_prob = target_accept_prob
        self.num_prior_samples = num_prior_samples
        self.progress_bar = progress_bar
        self.random_state = random_state

    def _check_params(self) -> None:
        check_positive_int("n_components", self.n_components)
        check_choice("inference", self.inference, INFERENCE)
        check_choice("sigma_prior", self.sigma_prior, SIGMA_PRIORS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("chain_method", self.chain_method, CHAIN_METHODS)
        check_positive_float("sigma_scale", self.sigma_scale, allow_none=True)
        check_positive_float("weight_concentration", self.weight_concentration)
        check_positive_float("learning_rate", self.learning_rate)
        check_positive_float("t_min", self.t_min)
        check_positive_int("n_init", self.n_init, minimum=0)
        if self.num_steps is not None:
            check_positive_int("num_steps", self.num_steps)
        if self.batch_size is not None:
            check_positive_int("batch_size", self.batch_size)
            if self.optimizer != "adam":
                raise ValueError(f"batch_size={self.batch_size} needs optimizer='adam' (BFGS is full-batch only); got optimizer={self.optimizer!r}.")
        for name in ("map_restarts", "n_temperatures", "num_samples", "num_chains", "num_prior_samples"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("num_warmup", self.num_warmup, minimum=0)
        if not 0 < self.target_accept_prob < 1:
            raise ValueError(f"target_accept_prob must be in (0, 1); got {self.target_accept_prob}.")

    def _model_kwargs(self, X: np.ndarray) -> dict[str, Any]:
        """The model's prior settings in the units of ``X``, data-derived where unset."""
        defaults = data_prior_defaults(X)
        given = {"loc_center": self.loc_center, "loc_scale": self.loc_scale, "sigma_scale": self.sigma_scale}
        settings = {k: np.asarray(defaults[k] if v is None else v, dtype=float) for k, v in given.items()}
        return {
            "n_components": self.n_components,
            "sigma_prior": self.sigma_prior,
            "weight_concentration": float(self.weight_concentration),
            **settings,
        }

    def fit(self, X: Any, y: Any = None) -> "SphericalGMM":
        """Fit to ``X`` ``(n_samples, n_features)``; ``y`` is ignored. Returns ``self``."""
        self._check_params()
        X = self._validate(X, reset=True)
        check_enough_samples(X.shape[0], self.n_components, param="n_components")
        n_obs, n_dim = X.shape
        key_init, key_map, key_nuts, self._idata_key = jax.random.split(self._key(), 4)
        kwargs = self._model_kwargs(X)

        # MAP on standardised data: the posterior maps exactly back (every prior is a location-scale family)
        scaling = self.scaling_ = Scaling.of(X)
        std_kwargs = scaling.model_kwargs(kwargs)
        x_std = as_jax(scaling.forward(X))
        temperatures = geometric_schedule(1.0, self.t_min, self.n_temperatures)
        # the k-means candidates only have to find the MAP's basin, and the MAP on all the data
        # finishes the job: at most INIT_SAMPLES rows keep the start's cost flat in N (no
        # Lloyd run on all of it, as AnnealedKMeans needs)
        key_sub, key_init = jax.random.split(key_init)
        x_init = subsample_rows(key_sub, x_std, INIT_SAMPLES)
        candidates = kmeans_candidates(
            key_init, x_init, temperatures, n_clusters=self.n_components, n_init=self.n_init
        )
        starts = map_starts(candidates, x_init.shape[0], n_dim)
        # the MAP refines a k-means basin: start from the candidates with the best log joint,
        # judged on the candidates' own rows (a pass over all rows would hold (N, K) arrays,
        # which minibatch SVI exists to avoid)
        order = np.argsort(np.asarray(negative_log_joint(x_init, spherical_gmm, starts, **std_kwargs)))
        chosen = jnp.asarray(order[: self.map_restarts])
        num_steps = self.num_steps or (1 if self.optimizer == "bfgs" else 500)
        batch = None if self.batch_size is None or self.batch_size >= n_obs else int(self.batch_size)
        result = fit_map(
            key_map, x_std, spherical_gmm, {k: v[chosen] for k, v in starts.items()},
            num_steps=num_steps, optimizer=self.optimizer, learning_rate=self.learning_rate,
            subsample_size=batch, **std_kwargs,
        )
        map_point = {
            "weights": np.asarray(result.params["weights"], dtype=float),
            "means": np.asarray(result.params["means"], dtype=float) * scaling.scale + scaling.center,
            "sigma": float(result.params["sigma"]) * scaling.scale,
        }
        # loss is -log joint of the standardised problem; the change of variables adds the Jacobian
        self.lower_bound_ = float(-result.loss) - (n_obs * n_dim + n_dim * self.n_components + 1) * np.log(scaling.scale)
        self.n_iter_ = num_steps

        if self.optimizer == "adam" and batch is None:  # minibatch losses are noisy by design
            check_losses(np.asarray(result.losses[result.best]))
        if self.inference == "map":
            posterior = {k: np.asarray(v, dtype=float)[None, None] for k, v in map_point.items()}
            stats = {"potential_energy": np.full((1, 1), -self.lower_bound_)}
        else:
            # NUTS on the standardised data too (on raw float32 data at an offset of 1e6 the
            # squared distances lose every digit), reported in the units of X
            posterior, stats = sample_posterior(
                key_nuts, X, spherical_gmm, init_values=_nuts_start(map_point, scaling.scale),
                reference=map_point["means"], scaling=scaling,
                num_warmup=self.num_warmup, num_samples=self.num_samples, num_chains=self.num_chains,
                chain_method=self.chain_method, target_accept_prob=self.target_accept_prob, **kwargs,
            )
            self.convergence_ = check_nuts(posterior, stats.get("diverging"))

        self.map_ = map_point
        self._posterior, self._sample_stats, self._model_kw = posterior, stats, kwargs
        self._fit_X = X
        self._idata = None
        flat = {k: np.reshape(v, (-1,) + v.shape[2:]) for k, v in posterior.items()}
        self.draws_ = Draws(*(np.asarray(flat[k], dtype=float) for k in ("weights", "means", "sigma")))
        self.weights_ = flat["weights"].mean(axis=0)
        self.means_ = flat["means"].mean(axis=0)
        self.sigma_ = float(flat["sigma"].mean())
        check_degenerate(self.weights_, self.sigma_, n_obs=n_obs, data_scale=scaling.scale)
        return self

    @property
    def idata_(self):
        """The fit as :class:`arviz.InferenceData` (every group; built once, on first access)."""
        if getattr(self, "_idata", None) is None:
            check_is_fitted(self, "draws_")
            self._idata = build_inference_data(
                self._idata_key, spherical_gmm, self._fit_X, self._posterior,
                model_kwargs=self._model_kw, scaling=self.scaling_, sample_stats=self._sample_stats,
                num_prior_samples=self.num_prior_samples,
                attrs={"inference": self.inference, "model": "spherical_gmm"},
            )
        return self._idata

    def score_samples(self, X: Any) -> np.ndarray:
        """Log (posterior-predictive) density of each row of ``X``, shape ``(n_samples,)``."""
        X = self._validate(X, reset=False)
        # standardised units keep float32 precise; the Jacobian of x -> (x - c) / s is -D log s
        log_density = predictive_log_density(as_jax(self.scaling_.forward(X)), self.scaling_.draws(self.draws_))
        return np.asarray(log_density, dtype=float) - X.shape[1] * np.log(self.scaling_.scale)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log density per sample of ``X``."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Component probabilities ``(n_samples, n_components)``, averaged over the draws."""
        X = self._validate(X, reset=False)
        proba = predictive_responsibilities(as_jax(self.scaling_.forward(X)), self.scaling_.draws(self.draws_))
        return np.asarray(proba, dtype=float)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of each row, shape ``(n_samples,)``."""
        return np.argmax(self.predict_proba(X), axis=1)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """``fit(X)`` then ``predict(X)``."""
        return self.fit(X).predict(X)

    def sample(self, n_samples: int = 1, *, random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` new points from the fitted model.

        From the MAP mixture, or from the posterior predictive (each point with its own
        posterior draw). ``random_state`` defaults to the estimator's.

        :return: ``X (n_samples, n_features)`` and component labels ``y (n_samples,)``.
        """
        check_is_fitted(self, "draws_")
        n_samples = check_positive_int("n_samples", n_samples)
        x, y = sample_predictive(self._key(random_state), n_samples, self.scaling_.draws(self.draws_))
        return self.scaling_.backward(x), np.asarray(y)

    def _n_parameters(self) -> int:
        return self.n_components * self.n_features_in_ + self.n_components

    def bic(self, X: Any) -> float:
        """Bayesian information criterion of the fitted point on ``X`` (lower is better)."""
        X_arr = self._validate(X, reset=False)
        return -2 * self.score(X_arr) * X_arr.shape[0] + self._n_parameters() * np.log(X_arr.shape[0])

    def aic(self, X: Any) -> float:
        """Akaike information criterion of the fitted point on ``X`` (lower is better)."""
        X_arr = self._validate(X, reset=False)
        return -2 * self.score(X_arr) * X_arr.shape[0] + 2 * self._n_parameters()
