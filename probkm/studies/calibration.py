"""Simulation-based calibration (SBC) of the spherical mixture's NUTS posterior.

SBC (Talts, Betancourt, Simpson, Vehtari and Gelman 2018, "Validating Bayesian inference
algorithms with simulation-based calibration", arXiv:1804.06788) checks an inference
algorithm against its own model: draw ``theta* ~ p(theta)``, draw data ``x ~ p(x | theta*)``,
draw ``L`` posterior samples ``theta_1..L`` from ``p(theta | x)`` with the algorithm, and
record the rank ``sum_l [f(theta_l) < f(theta*)]`` of each scalar ``f``. If the algorithm
samples the exact posterior, ``theta*`` is one more draw from it, so every rank is uniform on
``{0, ..., L}``. Autocorrelated draws give too many extreme ranks, an over-dispersed
posterior a hump, an under-dispersed one a U, and a biased one a slope.

What is checked here is :func:`probkm.core.models.spherical_gmm` with fixed prior settings
(:data:`SBC_PRIOR`), fitted by NUTS, one chain, started at a MAP point found from the data
alone (:func:`probkm.inference.kmeans_start.map_from_kmeans`); starting at
the true parameters would bias the ranks.

**Label switching.** The mixture's posterior is invariant to permuting its components, so
"component 0" has no meaning on its own. By default (``labeling="truth"``) each posterior
draw is relabelled by Hungarian matching of its means to the *true* means
(:func:`probkm.inference.relabel.relabel_samples`); the truth, matched to itself, keeps its labels.
This is a common treatment of mixtures in SBC, but it is exact only while the posterior's
label-permuted copies do not overlap: when two true clusters nearly coincide, matching to
the truth pulls the draws towards it and the ranks of the means bunch in the middle.
``labeling="sorted"`` instead orders the components of the truth and of every draw by the
first coordinate of their means: a fixed function of the parameters, so SBC's guarantee
holds exactly, at the price of posteriors that are harder to read. With the default prior
(means spread 3, ``sigma`` about 0.8) overlapping clusters are rare.

**Speed.** NumPyro's ``MCMC.run`` compiles its sampling loop again on every call (even with
``jit_model_args=True``, numpyro 0.22), which would cost seconds per simulation. The chains
here come from :func:`probkm.inference.nuts.fit_nuts`, one jitted function of the data, so all
simulations of one shape share one compilation.

**Uniformity test.** For each scalar, a chi-square test of its rank histogram against the
exact bin probabilities of the discrete uniform distribution on ``{0, ..., L}``; a scalar
fails when its p-value is below ``alpha / n_parameters`` (Bonferroni over all scalars, so
``alpha`` is the family-wise false-alarm rate of the whole check).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers

from probkm._checks import Integer, InvalidValue, Options, Real, check_all, check_choice, seed_from
from probkm.algorithms.annealing import geometric_schedule
from probkm.inference.kmeans_start import map_from_kmeans
from probkm.core.models import SIGMA_PRIORS, spherical_gmm
from probkm.inference.nuts import fit_nuts
from probkm.inference.relabel import relabel_samples
from probkm.studies.sbc_ranks import GROUPS, SBCResult, default_n_bins, plot_sbc_ranks, rank_histograms, rank_uniformity_test, sbc_ranks
from probkm.core.programs import compiled

#: Fixed prior of the calibration. ``loc_scale = 3`` against ``sigma ~ HalfNormal(1)``
#: keeps most simulated clusters apart, so one NUTS chain explores one labelling reliably;
#: ``weight_concentration = 5`` keeps every component populated in small data sets.
SBC_PRIOR: dict[str, Any] = {
    "loc_center": 0.0,
    "loc_scale": 3.0,
    "sigma_scale": 1.0,
    "weight_concentration": 5.0,
    "sigma_prior": "halfnormal",
}
LABELINGS = ("truth", "sorted")


def parameter_names(n_components: int, n_dim: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names and groups of the ``1 + K + K D`` scalars, in the order :func:`flatten_parameters` uses.

    Parameters
    ----------
    n_components : int
        ``K``.
    n_dim : int
        ``D``.

    Returns
    -------
    names : tuple of str
        ``"sigma"``, ``"weights[k]"``, ``"means[k,d]"``.
    groups : tuple of str
        ``"sigma"``, ``"weights"`` or ``"means"`` for each name.

    Examples
    --------
    >>> from probkm.studies.calibration import parameter_names
    >>> names, groups = parameter_names(2, 1)
    >>> names
    ('sigma', 'weights[0]', 'weights[1]', 'means[0,0]', 'means[1,0]')
    >>> groups
    ('sigma', 'weights', 'weights', 'means', 'means')
    """
    names = ["sigma"] + [f"weights[{k}]" for k in range(n_components)]
    names += [f"means[{k},{d}]" for k in range(n_components) for d in range(n_dim)]
    groups = ["sigma"] + ["weights"] * n_components + ["means"] * (n_components * n_dim)
    return tuple(names), tuple(groups)


def flatten_parameters(params: Mapping[str, Any]) -> np.ndarray:
    """Stack ``sigma (...)``, ``weights (..., K)`` and ``means (..., K, D)`` into ``(..., 1 + K + K D)``.

    Parameters
    ----------
    params : mapping
        ``"sigma"``, ``"weights"`` and ``"means"``, with any common leading axes (e.g. draws).

    Returns
    -------
    ndarray, shape (..., 1 + K + K D)
        In the order of :func:`parameter_names`.

    Examples
    --------
    >>> from probkm.studies.calibration import flatten_parameters
    >>> flatten_parameters({"sigma": 1.0, "weights": [0.5, 0.5], "means": [[0.0], [3.0]]})
    array([1. , 0.5, 0.5, 0. , 3. ])
    """
    sigma = np.asarray(params["sigma"], dtype=float)
    weights = np.asarray(params["weights"], dtype=float)
    means = np.asarray(params["means"], dtype=float)
    flat_means = means.reshape(means.shape[:-2] + (-1,))
    return np.concatenate([sigma[..., None], weights, flat_means], axis=-1)


@compiled(static_argnames=("n_components", "n_obs", "n_dim", "sigma_prior"))
def _simulate(rng_key, prior, *, n_components, n_obs, n_dim, sigma_prior):
    """One draw of ``(weights, means, sigma, x)`` from the prior predictive."""
    seeded = handlers.seed(spherical_gmm, rng_key)
    trace = handlers.trace(seeded).get_trace(
        None, n_components=n_components, shape=(n_obs, n_dim), sigma_prior=sigma_prior, **prior
    )
    return {name: trace[name]["value"] for name in ("weights", "means", "sigma", "x")}


def simulation_based_calibration(
    n_simulations: int,
    *,
    n_obs: int,
    n_components: int,
    n_dim: int,
    num_warmup: int,
    num_samples: int,
    thin: int,
    random_state: Any,
    progress: Callable[[int, int], None] | None = None,
    labeling: str = "truth",
    n_bins: int | None = None,
    alpha: float = 0.01,
    target_accept_prob: float = 0.8,
    prior: Mapping[str, Any] | None = None,
) -> SBCResult:
    """Simulation-based calibration of NUTS on :func:`probkm.core.models.spherical_gmm`.

    Per simulation: parameters from the prior (:data:`SBC_PRIOR`, updated by ``prior``), data
    ``x (n_obs, n_dim)`` from the model, a MAP point from the data (deterministic annealing and
    two k-means++ restarts, then BFGS), one NUTS chain of ``num_warmup + num_samples``
    iterations from it, every ``thin``-th draw kept, draws relabelled (see ``labeling``), and
    the rank of every true scalar among the ``L = num_samples // thin`` kept draws.

    Parameters
    ----------
    n_simulations : int
        Number of simulated data sets ``S``.
    n_obs, n_components, n_dim : int
        Data shape ``N x D`` and number of components ``K``.
    num_warmup, num_samples : int
        NUTS iterations per simulation.
    thin : int
        Keep every ``thin``-th draw so the ranks are taken among roughly independent draws
        (autocorrelation inflates the extreme ranks).
    random_state : int or numpy random state
        Fixes everything.
    progress : callable or None
        Called as ``progress(done, n_simulations)`` after each simulation.
    labeling : {"truth", "sorted"}
        ``"truth"`` (Hungarian matching of each draw's means to the true means) or
        ``"sorted"`` (truth and draws ordered by the first coordinate of their means).
    n_bins : int or None
        Bins of the chi-square test (``None``: :func:`~probkm.studies.sbc_ranks.default_n_bins`).
    alpha : float
        Family-wise level; each of the ``P`` scalars is tested at ``alpha / P``.
    target_accept_prob : float
        NUTS step-size adaptation target.
    prior : mapping or None
        Overrides of :data:`SBC_PRIOR` (keys ``loc_center``, ``loc_scale``, ``sigma_scale``,
        ``weight_concentration``, ``sigma_prior``).

    Returns
    -------
    SBCResult
        Ranks, p-values and pass/fail of every scalar (:class:`~probkm.studies.sbc_ranks.SBCResult`).

    Raises
    ------
    InvalidValue, InvalidType
        A setting out of range, ``n_obs < n_components``, ``num_samples < thin``, or an
        unknown key in ``prior``.

    See Also
    --------
    probkm.studies.sbc_ranks.plot_sbc_ranks : The rank histograms of the result.

    Examples
    --------
    Each simulation compiles and runs NUTS, which takes seconds (not run here):

    >>> from probkm.studies.calibration import simulation_based_calibration
    >>> result = simulation_based_calibration(  # doctest: +SKIP
    ...     20, n_obs=50, n_components=2, n_dim=1, num_warmup=200, num_samples=200, thin=2, random_state=0)
    >>> result.ranks.shape, result.n_draws  # doctest: +SKIP
    ((20, 5), 100)
    >>> sorted(result.group_passed())  # doctest: +SKIP
    ['means', 'sigma', 'weights']
    """
    settings = check_all(
        {"n_simulations": n_simulations, "n_components": n_components, "n_obs": n_obs, "n_dim": n_dim, "num_warmup": num_warmup,
         "num_samples": num_samples, "thin": thin, "labeling": labeling, "alpha": alpha, "target_accept_prob": target_accept_prob},
        _CONSTRAINTS,
    )
    if n_obs < n_components or num_samples < thin:
        raise InvalidValue(f"SBC needs n_obs >= n_components and num_samples >= thin; got n_obs={n_obs}, n_components={n_components}, num_samples={num_samples}, thin={thin}.")
    prior = {**SBC_PRIOR, **(prior or {})}
    unknown = set(prior) - set(SBC_PRIOR)
    if unknown:
        raise InvalidValue(f"prior accepts only {sorted(SBC_PRIOR)}; got {sorted(unknown)}.")
    check_choice("sigma_prior", prior["sigma_prior"], SIGMA_PRIORS)
    names, groups = parameter_names(n_components, n_dim)
    keys = jax.random.split(jax.random.key(seed_from(random_state)), n_simulations)
    truth, draws, divergences = [], [], []
    for i, key in enumerate(keys):
        true, chain, n_divergent = _one_simulation(key, prior, settings)
        truth.append(flatten_parameters(true))
        draws.append(flatten_parameters(chain))
        divergences.append(n_divergent)
        if progress is not None:
            progress(i + 1, n_simulations)
    truth, draws = np.stack(truth), np.stack(draws)
    ranks = sbc_ranks(truth, draws)
    n_draws = num_samples // thin
    p_values, passed, threshold, n_bins = rank_uniformity_test(ranks, n_draws, n_bins=n_bins, alpha=alpha)
    record = {"prior": prior, **settings, "random_state": random_state if isinstance(random_state, int) else repr(random_state)}
    del record["n_simulations"], record["alpha"]
    return SBCResult(
        names, groups, truth, draws, ranks, n_draws, n_bins, float(alpha), float(threshold),
        p_values, passed, np.asarray(divergences, dtype=np.int64), record,
    )


_CONSTRAINTS = {
    "n_simulations": Integer(1), "n_components": Integer(1), "n_obs": Integer(1), "n_dim": Integer(1),
    "num_warmup": Integer(1), "num_samples": Integer(1), "thin": Integer(1), "labeling": Options(LABELINGS),
    "alpha": Real(0.0, 1.0), "target_accept_prob": Real(0.0, 1.0),
}


def _one_simulation(key: jax.Array, prior: Mapping[str, Any], settings: Mapping[str, Any]) -> tuple[dict, dict, int]:
    """One simulation: the truth, the thinned relabelled draws (both site name to float64
    arrays) and the chain's number of divergent transitions."""
    k, n_obs, n_dim, thin = settings["n_components"], settings["n_obs"], settings["n_dim"], settings["thin"]
    traced = {name: jnp.asarray(v, dtype=jnp.result_type(float)) for name, v in prior.items() if name != "sigma_prior"}
    key_sim, key_init, key_nuts = jax.random.split(key, 3)
    true = _simulate(key_sim, traced, n_components=k, n_obs=n_obs, n_dim=n_dim, sigma_prior=prior["sigma_prior"])
    found, starts = map_from_kmeans(
        key_init, true["x"], spherical_gmm, n_components=k, temperatures=geometric_schedule(1.0, 1e-3, 30),
        n_init=2, map_restarts=3, sigma_prior=prior["sigma_prior"], **traced,
    )
    start = found.params
    if not all(np.isfinite(np.asarray(v)).all() for v in start.values()):
        # a failed MAP must not end the run: warmup also works from the best k-means start
        start = {name: v[0] for name, v in starts.items()}
    result = fit_nuts(
        key_nuts, true["x"], spherical_gmm, num_warmup=settings["num_warmup"], num_samples=settings["num_samples"], num_chains=1,
        init_values=start, target_accept_prob=settings["target_accept_prob"], n_components=k, sigma_prior=prior["sigma_prior"], **traced,
    )
    # every thin-th draw is kept; the divergences of the discarded ones are counted too
    n_divergent = int(np.sum(np.asarray(result.get_extra_fields()["diverging"])))
    n_draws = settings["num_samples"] // thin
    chain = {name: np.asarray(v[thin - 1 :: thin][:n_draws], dtype=float) for name, v in result.get_samples().items()}
    true = {name: np.asarray(v, dtype=float) for name, v in true.items() if name != "x"}
    if settings["labeling"] == "truth":
        # the truth matched to itself keeps its labels; only the draws are permuted
        return true, relabel_samples(chain, true["means"]), n_divergent
    return _sort_by_first_coordinate(true), _sort_by_first_coordinate(chain), n_divergent


def _sort_by_first_coordinate(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Order the components of ``params`` (any leading axes) by the first coordinate of their means."""
    order = np.argsort(params["means"][..., 0], axis=-1)
    return {
        "sigma": params["sigma"],
        "weights": np.take_along_axis(params["weights"], order, axis=-1),
        "means": np.take_along_axis(params["means"], order[..., None], axis=-2),
    }


__all__ = [
    "GROUPS",
    "LABELINGS",
    "SBC_PRIOR",
    "SBCResult",
    "default_n_bins",
    "flatten_parameters",
    "parameter_names",
    "plot_sbc_ranks",
    "rank_histograms",
    "rank_uniformity_test",
    "sbc_ranks",
    "simulation_based_calibration",
]
