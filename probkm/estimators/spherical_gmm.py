"""``SphericalGMM``: the shared-sigma spherical Gaussian mixture as a scikit-learn estimator.

The class only wires together :mod:`probkm.algorithms.kmeans` (initialisation), :mod:`probkm.inference.map`
(MAP and NUTS), :mod:`probkm.inference.relabel`, :mod:`probkm.inference.predictive` and
:mod:`probkm.inference.inference_data`; it holds no mathematics of its own.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from sklearn.base import DensityMixin
from sklearn.utils.validation import check_is_fitted

from probkm._checks import (
    Boolean,
    Either,
    InvalidValue,
    Integer,
    Optional,
    Options,
    Real,
    check_enough_samples,
    check_numeric_2d,
    check_positive_int,
    check_sample_weight,
)
from probkm.algorithms.annealing import geometric_schedule
from probkm.algorithms.ward import WardTree, ward_means, ward_tree, ward_wanted
from probkm.core.models import SIGMA_PRIORS, spherical_gmm
from probkm.core.scaling import Scaling
from probkm.core.shapes import bucket_components, component_mask, pad_components
from probkm.estimators.base import ProbKMBase
from probkm.inference.convergence import check_degenerate, check_losses, check_nuts
from probkm.inference.inference_data import build_inference_data
from probkm.inference.kmeans_start import SPLIT_MERGE_ROUNDS, map_from_kmeans, restarts_wanted
from probkm.inference.map import OPTIMIZERS
from probkm.inference.posterior import sample_posterior
from probkm.inference.predictive import (
    Draws,
    predictive_impute,
    predictive_log_density,
    predictive_responsibilities,
    sample_predictive,
)
from probkm.inference.progress import show_progress
from probkm.inference.relabel import DEFAULT_RELABEL, RELABEL_METHODS

INFERENCE = ("map", "mcmc")
CHAIN_METHODS = ("sequential", "vectorized", "parallel")


def _nuts_start(map_point: dict[str, Any], scale: float) -> dict[str, Any]:
    """Where NUTS chains start: the MAP, with sigma at least 1e-3 of the data's scale. With as many
    components as distinct points the MAP's sigma collapses to 0, where the log density is not finite."""
    return {**map_point, "sigma": max(map_point["sigma"], 1e-3 * scale)}


class SphericalGMM(DensityMixin, ProbKMBase):
    """Gaussian mixture with spherical components that share one ``sigma``, with priors.

    MAP (``inference="map"``) or full posterior by NUTS (``inference="mcmc"``), always with
    an :class:`arviz.InferenceData` in ``idata_``. The MAP starts from deterministic
    annealing and ``n_init`` k-means++ restarts (on at most 11,648 random rows) and, with
    ``ward_start`` (by default up to 1,000 rows), Ward's hierarchical clustering, and keeps
    the restart with the best objective; NUTS starts every chain at the MAP, and its draws are
    relabelled before any summary (``relabel``; :mod:`probkm.inference.relabel`).

    Parameters
    ----------
    n_components : int, default 1
        Number of mixture components ``K``.
    inference : {"map", "mcmc"}, default "map"
        ``"map"``: the maximum a posteriori point, by SVI with a point-mass guide; every
        prediction uses that one point. ``"mcmc"``: the full posterior by NUTS; predictions
        average over the draws (posterior predictive).
    sigma_prior : {"halfnormal", "lognormal", "invgamma"}, default "halfnormal"
        Prior on the shared sigma (see :mod:`probkm.core.models`).
    sigma_scale : float or None, default None
        Scale of sigma's prior, in the units of ``X``; ``None`` takes the data's pooled
        standard deviation.
    sigma : float or None, default None
        A known sigma (a measurement error, say), in the units of ``X``: fixed, not fitted.
        It then has no prior and no posterior; ``idata_`` holds it in ``constant_data``.
    weights : {"equal"} or None, default None
        ``"equal"`` fixes every weight at ``1 / K`` (the weights of k-means) instead of fitting them.
    means : array_like of shape (n_components, n_features) or None, default None
        Known means (a design), in the units of ``X``: fixed, not fitted; the fit then finds the
        weights and sigma given them. Like a known ``sigma`` they have no prior and no
        posterior (``idata_`` holds them in ``constant_data``), they count no parameters in
        :meth:`bic`, and NUTS draws keep their labels (nothing to relabel).
    loc_center, loc_scale : float, array_like of shape (n_features,), or None, default None
        Centre and scale of the normal prior on each mean, in the units of ``X``; ``None``
        takes the data's per-feature mean and its pooled standard deviation.
    weight_concentration : float, default 1.0
        Dirichlet concentration per component.
    n_init : int, default 3
        k-means++ restarts besides the annealed start (0: annealing only).
    map_restarts : int or "auto", default "auto"
        How many of the starts, best log joint first, the MAP optimiser starts from; the best
        final objective is kept. ``"auto"``: every start on data of at most 1,000 rows (where
        the best-ranked start often leads to a worse optimum, and each costs milliseconds),
        one above (:func:`~probkm.inference.kmeans_start.restarts_wanted`).
    means_init : array_like of shape (n_components, n_features), optional
        Means to start from (a design, the means of another fit), in the units of ``X``: one
        more start beside the k-means candidates, ranked with them by log joint (raise
        ``map_restarts`` to make sure the optimiser also starts from it).
    ward_start : bool or "auto", default "auto"
        One more start beside the k-means candidates: the cluster means of Ward's hierarchical
        clustering cut at ``n_components`` (:mod:`probkm.algorithms.ward`; at most 2,000 rows,
        a random draw of larger data, in proportion to ``sample_weight``; missing entries take
        their column's mean), the model-based agglomeration of this very model (spherical
        components, one variance). It reaches basins random seedings miss, at the cost of one
        linkage per fit (about 25 ms at 1,000 rows, 0.1 s at 2,000). ``"auto"`` links data of at
        most 1,000 rows (``probkm.algorithms.ward.AUTO_ROWS``), where local optima are
        common and the linkage is cheap.
    split_merge : bool or "auto", default "auto"
        After the restarts, split-and-merge moves from the best optimum
        (:mod:`probkm.inference.split_merge`): merge two components that share their rows,
        split one whose rows spread wider than sigma, optimise, and repeat while the log joint
        rises (at most 8 rounds). They leave local optima that every start falls into: on
        standardised wine they raise the MAP's log joint at every K from 5 to 12, by 1.9 to 16
        nats, and on breast cancer by 14 to 31 nats at K = 8, 11, 12 (seed 0). Each round
        screens 48 moves by 10 EM steps and optimises the best two; on an iris K-scan this
        costs about 1.3 s more compilation for a new shape and 1.6 times the run time.
        ``"auto"``: on data of at most 1,000 rows, like ``ward_start``. Full-batch BFGS on
        complete data with weights, means and sigma all free only; otherwise no moves are made.
    batch_size : int or None, default None
        Minibatch SVI for large data: each Adam step sees ``batch_size`` random rows
        (needs ``optimizer="adam"``; memory stays at the data plus one batch).
    num_steps : int or None, default None
        SVI steps of the MAP; ``None`` means 1 for BFGS, 500 for Adam.
    optimizer : {"bfgs", "adam"}, default "bfgs"
        The MAP optimiser: ``"bfgs"`` (full-batch quasi-Newton, run to convergence in one
        step; :mod:`probkm.inference.bfgs`) or ``"adam"`` (NumPyro's SVI).
    learning_rate : float, default 0.05
        Adam's step size (on standardised data, so it is scale-free).
    n_temperatures : int, default 60
        Steps of the annealing schedule of the start, from ``T = 1`` down to ``t_min``.
    t_min : float, default 1e-3
        Lowest temperature of that schedule.
    num_warmup : int, default 500
        NUTS warmup iterations per chain (NumPyro's name, as are the next four).
    num_samples : int, default 1000
        NUTS draws kept per chain.
    num_chains : int, default 2
        NUTS chains; R-hat needs at least 2.
    chain_method : {"sequential", "vectorized", "parallel"}, default "sequential"
        How NumPyro runs the chains.
    target_accept_prob : float, default 0.8
        Target acceptance probability of NUTS's step-size adaptation.
    relabel : {"hungarian", "stephens"}, default "hungarian"
        How NUTS draws are relabelled (label switching): ``"hungarian"``, matching of each draw's
        means to the MAP means; ``"stephens"``, Stephens' (2000) algorithm, which gives each draw
        the permutation whose classification probabilities of the data are nearest (in
        Kullback-Leibler divergence) to their average over draws, starting from the Hungarian
        labelling. ``sigma`` and the predictive density do not depend on it; the measurements
        behind the default are in :mod:`probkm.inference.relabel`.
    num_prior_samples : int, default 200
        Draws in the ``prior`` and ``prior_predictive`` groups of ``idata_``.
    progress_bar : bool or None, default None
        With ``inference="mcmc"``: one progress bar per NUTS chain (on stderr, or a widget in
        a notebook) with its phase and divergences, as NumPyro's ``MCMC`` shows; ``False``
        prints nothing; ``None`` shows them where someone watches (stderr is a terminal, or
        a notebook), tqdm's convention. It does not change the draws.
    random_state : int, numpy random state or None, default None
        Seed of every random choice (starts, NUTS, prior draws, ``sample``); ``None`` draws
        a fresh seed on each call.

    Attributes
    ----------
    weights_ : ndarray, shape (K,)
        Mixture weights.
    means_ : ndarray, shape (K, D)
        Component means, in units of X.
    sigma_ : float
        The shared standard deviation, in units of X. ``weights_``, ``means_`` and
        ``sigma_`` are the MAP values, or posterior means after relabelling.
    map_ : dict
        The MAP point (``weights``, ``means``, ``sigma``) in units of X; for NUTS, where every
        chain started.
    model_kwargs_ : dict
        The keyword arguments of :func:`probkm.spherical_gmm` behind the fit: ``n_components``
        and the prior settings in units of X, the data-derived ones filled in.
    idata_ : arviz.InferenceData
        Built on first access from the fit.
    draws_ : probkm.inference.predictive.Draws
        The parameter draws behind every prediction (one for MAP), float64 arrays.
    scaling_ : probkm.core.scaling.Scaling
        Centre and pooled scale of the training data; fitting and prediction run on
        ``(X - center) / scale``, so float32 keeps its precision at any offset or magnitude.
    log_joint_ : float
        Log joint density (log prior plus log-likelihood) at the MAP, in units of X.
    n_iter_ : int
        Iterations the kept MAP restart ran: BFGS iterations, or Adam steps (with split-and-merge
        moves, summed over the rounds that kept one).
    n_moves_ : int
        Split-and-merge moves kept (``split_merge``).
    convergence_ : dict
        For NUTS: the number of divergences, the largest split R-hat and the smallest bulk
        ESS over all parameters after relabelling. A ``ConvergenceWarning`` names any that
        fail ArviZ's thresholds (R-hat > 1.01, ESS < 100 per chain, any divergence).
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str, shape ``(n_features_in_,)``
        Column names of ``X`` in ``fit``; only when ``X`` had string column names (a DataFrame).

    See Also
    --------
    AnnealedKMeans : The ``T -> 0`` limit of the same mixture: k-means made generative.
    probkm.load : Load an estimator saved with :meth:`save`.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm import SphericalGMM
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> gmm = SphericalGMM(2, n_temperatures=10, random_state=0).fit(X)
    >>> np.sort(gmm.means_[:, 0]).round(1), round(gmm.sigma_, 1)
    (array([-0.3,  6.4]), 0.9)
    >>> gmm.weights_.round(2)
    array([0.5, 0.5])
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        inference: str = "map",
        sigma_prior: str = "halfnormal",
        sigma_scale: float | None = None,
        sigma: float | None = None,
        weights: str | None = None,
        means: Any = None,
        loc_center: Any = None,
        loc_scale: Any = None,
        weight_concentration: float = 1.0,
        n_init: int = 3,
        map_restarts: int | str = "auto",
        means_init: Any = None,
        ward_start: bool | str = "auto",
        split_merge: bool | str = "auto",
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
        relabel: str = DEFAULT_RELABEL,
        num_prior_samples: int = 200,
        progress_bar: bool | None = None,
        random_state: Any = None,
    ):
        self.n_components = n_components
        self.inference = inference
        self.sigma_prior = sigma_prior
        self.sigma_scale = sigma_scale
        self.sigma = sigma
        self.weights = weights
        self.means = means
        self.loc_center = loc_center
        self.loc_scale = loc_scale
        self.weight_concentration = weight_concentration
        self.n_init = n_init
        self.map_restarts = map_restarts
        self.means_init = means_init
        self.ward_start = ward_start
        self.split_merge = split_merge
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
        self.relabel = relabel
        self.num_prior_samples = num_prior_samples
        self.progress_bar = progress_bar
        self.random_state = random_state

    _parameter_constraints = {
        "n_components": Integer(1),
        "inference": Options(INFERENCE),
        "sigma_prior": Options(SIGMA_PRIORS),
        "sigma_scale": Optional(Real(0.0)),
        "sigma": Optional(Real(0.0)),
        "weights": Optional(Options(("equal",))),
        "weight_concentration": Real(0.0),
        "n_init": Integer(0),
        "map_restarts": Either(Options(("auto",)), Integer(1)),
        "ward_start": Either(Options(("auto",)), Boolean()),
        "split_merge": Either(Options(("auto",)), Boolean()),
        "batch_size": Optional(Integer(1)),
        "num_steps": Optional(Integer(1)),
        "optimizer": Options(OPTIMIZERS),
        "learning_rate": Real(0.0),
        "n_temperatures": Integer(1),
        "t_min": Real(0.0),
        "num_warmup": Integer(0),
        "num_samples": Integer(1),
        "num_chains": Integer(1),
        "chain_method": Options(CHAIN_METHODS),
        "target_accept_prob": Real(0.0, 1.0),
        "relabel": Options(RELABEL_METHODS),
        "num_prior_samples": Integer(1),
        "progress_bar": Optional(Boolean()),
    }

    def _check_combinations(self) -> None:
        if self.batch_size is not None and self.optimizer != "adam":
            raise InvalidValue(
                f"batch_size={self.batch_size} needs optimizer='adam' (BFGS is full-batch only); got optimizer={self.optimizer!r}."
            )
        if self.means is not None and self.means_init is not None:
            raise InvalidValue("means and means_init are both given; fixed means need no start: drop means_init.")
        if self.means is not None and self.sigma is not None and self.weights == "equal":
            raise InvalidValue("means, sigma and weights='equal' are all fixed: nothing is left to fit; leave one of them free.")

    def _known_means(self, n_dim: int) -> np.ndarray | None:
        """The fixed ``means`` as a float ``(K, D)`` array, checked; ``None`` when they are fitted."""
        if self.means is None:
            return None
        means = check_numeric_2d(self.means, name="means")
        if means.shape != (int(self.n_components), n_dim):
            raise InvalidValue(f"means must have shape (n_components, n_features) = ({int(self.n_components)}, {n_dim}); got {means.shape}.")
        return means

    def _model_kwargs(self, X: np.ndarray) -> dict[str, Any]:
        """The model's prior settings in the units of ``X``, data-derived (from ``scaling_``, so
        weighted by ``sample_weight``) where unset."""
        n_dim = X.shape[1]
        defaults = {"loc_center": self.scaling_.center, "loc_scale": np.full(n_dim, self.scaling_.scale), "sigma_scale": self.scaling_.scale}
        given = {"loc_center": self.loc_center, "loc_scale": self.loc_scale, "sigma_scale": self.sigma_scale}
        settings = {k: np.asarray(defaults[k] if v is None else v, dtype=float) for k, v in given.items()}
        return {
            "n_components": int(self.n_components),
            "sigma_prior": self.sigma_prior,
            "weight_concentration": float(self.weight_concentration),
            **settings,
            **({} if self.sigma is None else {"sigma": float(self.sigma)}),
            **({} if self.weights is None else {"weights": self.weights}),
            **({} if self.means is None else {"means": self._known_means(n_dim)}),
        }

    def _fixed(self) -> dict[str, np.ndarray]:
        """The known parameters, in units of X: ``sigma``, ``weights`` and/or ``means`` when given."""
        fixed = {} if self.sigma is None else {"sigma": np.asarray(float(self.sigma))}
        if self.weights == "equal":
            fixed["weights"] = np.full(int(self.n_components), 1.0 / int(self.n_components))
        if self.means is not None:
            fixed["means"] = self._known_means(self.n_features_in_)
        return fixed

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "SphericalGMM":
        """Fit the mixture to ``X``: the MAP, then NUTS from it when ``inference="mcmc"``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Numbers, at least ``n_components`` rows; NaN entries are missing values, marginalised
            out exactly (every row and every column needs an observed value; infinity is an error).
        y : None
            Ignored.
        sample_weight : array_like, shape (n_samples,), optional
            Non-negative weight of each row: an integer weight counts the row that many
            times, 0 drops it (scikit-learn's semantics).

        Returns
        -------
        SphericalGMM
            ``self``, fitted.

        Raises
        ------
        InvalidValue, InvalidType
            A parameter outside its constraint, ``batch_size`` without ``optimizer="adam"``,
            or ``X`` that is not finite, numeric and 2-D with enough rows.

        Warns
        -----
        ConvergenceWarning
            NUTS draws that fail ArviZ's thresholds (any divergence, R-hat, ESS), a
            full-batch Adam loss still falling at the end, or a degenerate fit (a component
            holding less than half a point, a collapsed sigma).

        Examples
        --------
        A short NUTS run (too short to pass the convergence checks, hence the filter):

        >>> import warnings
        >>> import numpy as np
        >>> from probkm import SphericalGMM
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> nuts = SphericalGMM(2, inference="mcmc", n_temperatures=10, num_warmup=20, num_samples=20, num_chains=1, random_state=0)
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     nuts = nuts.fit(X)
        >>> nuts.draws_.sigma.shape, nuts.draws_.means.shape, sorted(nuts.convergence_)
        ((20,), (20, 2, 2), ['divergences', 'ess_bulk', 'r_hat'])
        """
        return self._fit(X, sample_weight)

    def _fit(self, X: Any, sample_weight: Any = None, ward: WardTree | None = None, components_bucket: int = 0) -> SphericalGMM:
        """:meth:`fit`, with the Ward tree of an earlier fit to the same ``X`` (a scan over ``K``
        links once: :func:`probkm.select_n_components`) and the fewest components the compiled
        programs pad to (a scan pads every ``K`` to its largest ``K``'s bucket, so it compiles once)."""
        self._check_params()
        self._components_bucket = int(components_bucket)
        X = self._validate(X, reset=True)
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        check_enough_samples(X.shape[0] if sample_weight is None else int(np.sum(sample_weight > 0)), self.n_components, param="n_components")
        seed_map, seed_nuts, seed_idata, seed_ward = self._seeds(4)
        key_map, key_nuts, self._idata_key = (jax.random.key(s) for s in (seed_map, seed_nuts, seed_idata))
        # every computation runs on standardised data (the priors carry over exactly, and the
        # results map back: probkm.core.scaling), with rows padded to a bucket (probkm.core.shapes)
        scaling = self.scaling_ = Scaling.of(X, sample_weight)
        self.model_kwargs_ = self._model_kwargs(X)
        x_std, rows = self._padded(X, sample_weight)
        starts = self._ward_start(X, sample_weight, seed_ward, ward)
        self.map_ = self._fit_map(key_map, x_std, rows, self._observed(X, x_std.shape[0]), starts)
        if self.inference == "map":
            posterior = {k: np.asarray(v, dtype=float)[None, None] for k, v in self.map_.items() if k not in self._fixed()}
            stats = {"potential_energy": np.full((1, 1), -self.log_joint_)}
        else:
            posterior, stats = sample_posterior(
                key_nuts, X, spherical_gmm, init_values=_nuts_start(self.map_, scaling.scale),
                reference=self.map_["means"], scaling=scaling,
                num_warmup=self.num_warmup, num_samples=self.num_samples, num_chains=self.num_chains,
                chain_method=self.chain_method, target_accept_prob=self.target_accept_prob,
                sample_weight=sample_weight, progress_bar=show_progress(self.progress_bar), relabel=self.relabel, **self.model_kwargs_,
            )
            self.convergence_ = check_nuts(posterior, stats.get("diverging"))
        self._set_posterior(X, posterior, stats, sample_weight)
        return self

    def _ward_start(self, X: np.ndarray, sample_weight: np.ndarray | None, seed: int, ward: WardTree | None) -> list[np.ndarray]:
        """Ward's cluster means at ``n_components`` in standardised units (none without
        ``ward_start``, with fixed ``means``, or when the tree has too few rows); keeps the tree
        in ``_ward_tree``. ``ward`` is reused when it was built on data of ``X``'s size, with
        ``seed``."""
        self._ward_tree = None
        n_rows = X.shape[0] if sample_weight is None else int(np.count_nonzero(sample_weight))
        if not ward_wanted(self.ward_start, n_rows) or self.means is not None:
            return []
        x = self.scaling_.forward(X)
        if ward is None or ward.n_obs != X.shape[0] or ward.seed != seed:
            ward = ward_tree(x, sample_weight, seed=seed)
        self._ward_tree = ward
        means = ward_means(ward, x, int(self.n_components))
        return [] if means is None else [means]

    def _fit_map(
        self, key: jax.Array, x_std: jax.Array, rows: jax.Array, observed: jax.Array | None = None, starts: list[np.ndarray] = ()
    ) -> dict[str, Any]:
        """The MAP point in units of X from k-means starts on ``x_std`` (padded rows, weighted by
        ``rows``, missing entries where ``observed`` is 0), and from ``starts`` (more means,
        ``(K, D)`` in standardised units); sets ``log_joint_`` and ``n_iter_``."""
        row_weights = self._row_weights(rows, x_std.shape[0])
        n_obs, n_dim = float(np.sum(row_weights)), x_std.shape[1]
        # the change of units adds -log scale per observed entry: n_obs rows of D, or fewer
        n_rows_equivalent = n_obs if observed is None else float(row_weights @ np.asarray(observed, dtype=float).sum(axis=1)) / n_dim
        num_steps = self.num_steps or (1 if self.optimizer == "bfgs" else 500)
        batch = None if self.batch_size is None or self.batch_size >= n_obs else int(self.batch_size)
        kwargs = {k: v for k, v in self.scaling_.model_kwargs(self.model_kwargs_).items() if k != "n_components"}
        if observed is not None:
            kwargs["observed"] = observed
        # components padded to a bucket too (probkm.core.shapes; a scan passes the bucket of its largest K), so a scan compiles once
        n_components = int(self.n_components)
        n_padded = self._bucket(x_std.shape[0])
        extra = []
        if "means" in kwargs:  # fixed: padded like the components, and the start the weights and sigma fit from
            kwargs["means"] = pad_components({"means": kwargs["means"]}, n_padded)["means"]
            extra.append(kwargs["means"])
        elif self.means_init is not None:
            means = check_numeric_2d(self.means_init, name="means_init")
            if means.shape != (n_components, n_dim):
                raise InvalidValue(f"means_init must have shape (n_components, n_features) = ({n_components}, {n_dim}); got {means.shape}.")
            extra.append(self.scaling_.forward(means))
        # every extra start is one more candidate: (n_extra, K, D), padded to the component bucket
        extra += list(starts)
        init_means = np.stack([pad_components({"means": m}, n_padded)["means"] for m in extra]) if extra else None
        n_rows = int(np.count_nonzero(row_weights))
        map_restarts = restarts_wanted(self.map_restarts, n_rows, 1 + self.n_init + len(extra))
        moves = ward_wanted(self.split_merge, n_rows)  # the same rule: local optima are common on small data
        result, _ = map_from_kmeans(
            key, x_std, spherical_gmm, n_components=n_padded, component_mask=component_mask(n_components, n_padded),
            temperatures=geometric_schedule(1.0, self.t_min, self.n_temperatures), n_init=self.n_init,
            map_restarts=map_restarts, num_steps=num_steps, optimizer=self.optimizer,
            learning_rate=self.learning_rate, subsample_size=batch, row_weights=rows, init_means=init_means,
            split_merge_rounds=SPLIT_MERGE_ROUNDS if moves else 0, **kwargs,
        )
        params = {k: np.asarray(v, dtype=float)[:n_components] if k in ("weights", "means") else np.asarray(v, dtype=float) for k, v in result.params.items()}
        if self.optimizer == "adam" and batch is None:  # minibatch losses are noisy by design
            check_losses(np.asarray(result.losses[result.best]))
        # the loss is -log joint of the standardised problem; the change of units adds the log-Jacobians
        jac = self.scaling_.log_jacobians(n_dim, self.n_components)
        self.log_joint_ = float(-result.loss) + n_rows_equivalent * jac["x"] + sum(jac[k] for k in ("means", "sigma") if k not in self._fixed())
        self.n_iter_ = int(result.n_iter[result.best])
        self.n_moves_ = int(result.n_moves)
        return {**self._fixed(), **self.scaling_.params_backward(params)}

    def _set_posterior(self, X: np.ndarray, posterior: dict[str, np.ndarray], stats: dict[str, np.ndarray], sample_weight: np.ndarray | None) -> None:
        """The fitted attributes from draws shaped ``(chain, draw, ...)`` in units of X."""
        self._posterior, self._sample_stats, self._fit_X = posterior, stats, X
        self._idata = None
        flat = {k: np.reshape(v, (-1,) + v.shape[2:]) for k, v in posterior.items()}
        n_draws = next(iter(flat.values())).shape[0]
        flat.update({k: np.broadcast_to(v, (n_draws,) + v.shape) for k, v in self._fixed().items()})
        self.draws_ = Draws(*(np.asarray(flat[k], dtype=float) for k in ("weights", "means", "sigma")))
        self.weights_ = flat["weights"].mean(axis=0)
        self.means_ = flat["means"].mean(axis=0)
        self.sigma_ = float(flat["sigma"].mean())
        n_obs = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        check_degenerate(self.weights_, self.sigma_, n_obs=n_obs, data_scale=self.scaling_.scale)

    @property
    def idata_(self):
        """The fit as :class:`arviz.InferenceData` (every group; built once, on first access).

        Groups: ``posterior``, ``sample_stats``, ``log_likelihood``, ``log_prior``, ``prior``,
        ``prior_predictive``, ``posterior_predictive`` and ``observed_data``, in units of X.
        Building it samples the prior and the predictive, so the first access takes a while.
        """
        if getattr(self, "_idata", None) is None:
            check_is_fitted(self, "draws_")
            self._idata = build_inference_data(
                self._idata_key, spherical_gmm, self._fit_X, self._posterior,
                model_kwargs=self.model_kwargs_, scaling=self.scaling_, sample_stats=self._sample_stats, constants=self._fixed(),
                num_prior_samples=self.num_prior_samples,
                attrs={"inference": self.inference, "model": "spherical_gmm"},
            )
        return self._idata

    @idata_.setter
    def idata_(self, idata) -> None:
        self._idata = idata

    def score_samples(self, X: Any) -> np.ndarray:
        """Log (posterior-predictive) density of each row of ``X``, shape ``(n_samples,)``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples,)
            ``log p(x)`` in the units of ``X`` (a density: it changes with the units), at the
            MAP or averaged over the posterior draws.

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import SphericalGMM
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> gmm = SphericalGMM(2, n_temperatures=10, random_state=0).fit(X)
        >>> log_density = gmm.score_samples(X)
        >>> log_density.shape, bool(np.isclose(log_density.mean(), gmm.score(X)))
        ((40,), True)
        """
        X = self._validate(X, reset=False)
        # standardised units keep float32 precise; the Jacobian of x -> (x - c) / s is -D log s,
        # with D the row's observed coordinates (the others are marginalised out)
        x = self._padded(X)[0]
        log_density = predictive_log_density(x, self._padded_draws(x.shape[0]), self._observed(X, x.shape[0]))
        n_observed = np.sum(~np.isnan(X), axis=1)
        return np.asarray(log_density, dtype=float)[: X.shape[0]] - n_observed * np.log(self.scaling_.scale)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log density per sample of ``X``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        float
            The mean of :meth:`score_samples` (higher is better).

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import SphericalGMM
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> gmm = SphericalGMM(2, n_temperatures=10, random_state=0).fit(X)
        >>> round(gmm.score(X), 1)
        -3.4
        """
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Component probabilities ``(n_samples, n_components)``, averaged over the draws.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples, n_components)
            Rows sum to 1.

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import SphericalGMM
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> gmm = SphericalGMM(2, n_temperatures=10, random_state=0).fit(X)
        >>> proba = gmm.predict_proba(X)
        >>> proba.shape, bool(np.allclose(proba.sum(axis=1), 1.0)), round(float(proba.max(axis=1).min()), 2)
        ((40, 2), True, 1.0)
        """
        X = self._validate(X, reset=False)
        x = self._padded(X)[0]
        proba = predictive_responsibilities(x, self._padded_draws(x.shape[0]), self._observed(X, x.shape[0]))
        return np.asarray(proba, dtype=float)[: X.shape[0], : self.n_components]

    def impute(self, X: Any, *, sample: bool = False, random_state: Any = None) -> np.ndarray:
        """``X`` with each NaN entry filled from the posterior predictive given the row's observed entries.

        Given its component, a point's coordinates are independent (the covariance is
        spherical), so a missing coordinate's conditional distribution is the mixture of the
        components' normals weighted by the responsibilities of the row's observed coordinates;
        for NUTS, each draw is weighted by how well it predicts those coordinates
        (:func:`probkm.inference.predictive.predictive_impute`).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Data with NaN where values are missing; every row needs one observed value.
        sample : bool, default False
            ``False``: the conditional expectation (the best fill in mean squared error).
            ``True``: one random draw from the conditional distribution per row (for multiple
            imputation: call it several times with different ``random_state``).
        random_state : int, numpy random state or None
            Seed of the draws when ``sample``; defaults to the estimator's.

        Returns
        -------
        ndarray, shape (n_samples, n_features)
            ``X`` with its missing entries filled, in the units of ``X``; observed entries unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import SphericalGMM
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> gmm = SphericalGMM(2, n_temperatures=10, random_state=0).fit(X)
        >>> gmm.impute([[6.5, np.nan], [np.nan, -0.5]]).round(1)
        array([[ 6.5,  6.2],
               [-0.3, -0.5]])
        """
        X = self._validate(X, reset=False)
        x = self._padded(X)[0]
        observed = self._observed(X, x.shape[0])
        if observed is None:
            return X.copy()
        filled = predictive_impute(self._key(random_state), x, self._padded_draws(x.shape[0]), observed, sample=bool(sample))
        return np.where(np.isnan(X), self.scaling_.backward(np.asarray(filled, dtype=float)[: X.shape[0]]), X)

    def _bucket(self, n_rows: int) -> int:
        """The components a program for ``n_rows`` (padded) rows pads to: their bucket
        (:func:`probkm.core.shapes.bucket_components`), or the larger one a scan fitted with."""
        return max(bucket_components(int(self.n_components), n_rows), getattr(self, "_components_bucket", 0))

    def _padded_draws(self, n_rows: int) -> Draws:
        """The draws in standardised units, with components padded to their bucket for ``n_rows``
        rows (weight 0 on the padding), so predicting compiles once per bucket, not per K."""
        n_padded = self._bucket(n_rows)
        padded = pad_components({"weights": self.draws_.weights.T, "means": np.moveaxis(self.draws_.means, 1, 0)}, n_padded)
        draws = Draws(padded["weights"].T, np.moveaxis(padded["means"], 0, 1), self.draws_.sigma)
        return self.scaling_.draws(draws)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable component of each row, shape ``(n_samples,)``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray of int, shape (n_samples,)
            The argmax of :meth:`predict_proba`.

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import SphericalGMM
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> gmm = SphericalGMM(2, n_temperatures=10, random_state=0).fit(X)
        >>> np.bincount(gmm.predict(X))
        array([20, 20])
        """
        return np.argmax(self.predict_proba(X), axis=1)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """``fit(X)`` then ``predict(X)``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        ndarray of int, shape (n_samples,)

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import SphericalGMM
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> np.bincount(SphericalGMM(2, n_temperatures=10, random_state=0).fit_predict(X))
        array([20, 20])
        """
        return self.fit(X).predict(X)

    def sample(self, n_samples: int = 1, *, random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` new points from the fitted model.

        From the MAP mixture, or from the posterior predictive (each point with its own
        posterior draw).

        Parameters
        ----------
        n_samples : int
            Points to draw, at least 1.
        random_state : int, numpy random state or None
            Defaults to the estimator's.

        Returns
        -------
        X : ndarray, shape (n_samples, n_features)
            New points, in the units of the training data.
        y : ndarray of int, shape (n_samples,)
            Component labels.

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import SphericalGMM
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> gmm = SphericalGMM(2, n_temperatures=10, random_state=0).fit(X)
        >>> X_new, y_new = gmm.sample(100)
        >>> X_new.shape, sorted(set(y_new.tolist()))
        ((100, 2), [0, 1])
        """
        check_is_fitted(self, "draws_")
        n_samples = check_positive_int("n_samples", n_samples)
        x, y = sample_predictive(self._key(random_state), n_samples, self.scaling_.draws(self.draws_))
        return self.scaling_.backward(x), np.asarray(y)

    def _n_parameters(self) -> int:
        """Free parameters: ``(K - 1) + K D + 1``, less the known ones."""
        free_weights = 0 if self.weights == "equal" else self.n_components - 1
        free_means = 0 if self.means is not None else self.n_components * self.n_features_in_
        return free_weights + free_means + (0 if self.sigma is not None else 1)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion of the fitted point on ``X`` (lower is better).

        ``-2 log L + p log N`` with ``p = K D + K`` free parameters (means, weights and
        sigma; fewer by those that are known: ``K D`` for ``means``, ``K - 1`` for equal
        weights, 1 for ``sigma``) and ``log L = N * score(X)``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        float

        See Also
        --------
        aic

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import SphericalGMM
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> gmm = SphericalGMM(2, n_temperatures=10, random_state=0).fit(X)
        >>> round(gmm.bic(X))
        293
        """
        X_arr = self._validate(X, reset=False)
        return -2 * self.score(X_arr) * X_arr.shape[0] + self._n_parameters() * np.log(X_arr.shape[0])

    def aic(self, X: Any) -> float:
        """Akaike information criterion of the fitted point on ``X`` (lower is better).

        ``-2 log L + 2 p`` with ``p = K D + K`` free parameters, less the known ones (see
        :meth:`bic`), and ``log L = N * score(X)``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        float

        See Also
        --------
        bic

        Examples
        --------
        >>> import numpy as np
        >>> from probkm import SphericalGMM
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> gmm = SphericalGMM(2, n_temperatures=10, random_state=0).fit(X)
        >>> round(gmm.aic(X))
        283
        """
        X_arr = self._validate(X, reset=False)
        return -2 * self.score(X_arr) * X_arr.shape[0] + 2 * self._n_parameters()
