"""Simulation-based calibration (SBC) of the spherical mixture's NUTS posterior.

SBC (Talts, Betancourt, Simpson, Vehtari and Gelman 2018, "Validating Bayesian inference
algorithms with simulation-based calibration", arXiv:1804.06788) checks an inference
algorithm against its own model: draw ``theta* ~ p(theta)``, draw data ``x ~ p(x | theta*)``,
draw ``L`` posterior samples ``theta_1..L`` from ``p(theta | x)`` with the algorithm, and
record the rank ``sum_l [f(theta_l) < f(theta*)]`` of each scalar ``f``. If the algorithm
samples the exact posterior, ``theta*`` is one more draw from it, so every rank is uniform on
``{0, ..., L}``. Autocorrelated draws give too many extreme ranks, an over-dispersed
posterior a hump, an under-dispersed one a U, and a biased one a slope.

What is checked here is :func:`probkm.models.spherical_gmm` with fixed prior settings
(:data:`SBC_PRIOR`), fitted by NUTS, one chain, started at a MAP point found from the data
alone (:func:`probkm.kmeans.kmeans_candidates` then :func:`probkm.infer.fit_map`); starting at
the true parameters would bias the ranks.

**Label switching.** The mixture's posterior is invariant to permuting its components, so
"component 0" has no meaning on its own. By default (``labeling="truth"``) each posterior
draw is relabelled by Hungarian matching of its means to the *true* means
(:func:`probkm.relabel.relabel_samples`); the truth, matched to itself, keeps its labels.
This is a common treatment of mixtures in SBC, but it is exact only while the posterior's
label-permuted copies do not overlap: when two true clusters nearly coincide, matching to
the truth pulls the draws towards it and the ranks of the means bunch in the middle.
``labeling="sorted"`` instead orders the components of the truth and of every draw by the
first coordinate of their means: a fixed function of the parameters, so SBC's guarantee
holds exactly, at the price of posteriors that are harder to read. With the default prior
(means spread 3, ``sigma`` about 0.8) overlapping clusters are rare.

**Speed.** NumPyro's ``MCMC.run`` compiles its sampling loop again on every call (even with
``jit_model_args=True``, numpyro 0.22), which would cost seconds per simulation. The chains
here come from :func:`probkm.nuts.run_nuts`, one jitted function of the data, so all
simulations of one shape share one compilation.

**Uniformity test.** For each scalar, a chi-square test of its rank histogram against the
exact bin probabilities of the discrete uniform distribution on ``{0, ..., L}``; a scalar
fails when its p-value is below ``alpha / n_parameters`` (Bonferroni over all scalars, so
``alpha`` is the family-wise false-alarm rate of the whole check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure
from numpyro import handlers
from scipy import stats

from probkm._checks import check_choice, check_positive_float, check_positive_int, seed_from
from probkm.annealing import geometric_schedule
from probkm.infer import fit_map
from probkm.kmeans import kmeans_candidates
from probkm.mixture import map_starts
from probkm.models import SIGMA_PRIORS, spherical_gmm
from probkm.nuts import run_nuts
from probkm.relabel import relabel_samples

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
GROUPS = ("sigma", "weights", "means")


@dataclass(frozen=True)
class SBCResult:
    """Result of :func:`simulation_based_calibration`.

    ``P`` is the number of scalars checked, ``1 + K + K * D``, in the order of ``names``.

    :ivar names: ``(P,)`` scalar names: ``"sigma"``, ``"weights[k]"``, ``"means[k,d]"``.
    :ivar groups: ``(P,)`` the group of each scalar: ``"sigma"``, ``"weights"`` or ``"means"``.
    :ivar truth: ``(n_simulations, P)`` true values (labelled as the draws are).
    :ivar draws: ``(n_simulations, n_draws, P)`` thinned, relabelled posterior draws.
    :ivar ranks: ``(n_simulations, P)`` rank of each true value among the draws, in ``0..n_draws``.
    :ivar n_draws: ``L``, thinned draws per simulation.
    :ivar n_bins: histogram bins of the chi-square test.
    :ivar alpha: family-wise significance level.
    :ivar threshold: per-scalar level, ``alpha / P`` (Bonferroni).
    :ivar p_values: ``(P,)`` chi-square p-values.
    :ivar passed: ``(P,)`` ``p_values >= threshold``.
    :ivar divergences: ``(n_simulations,)`` divergent post-warmup transitions of each chain.
    :ivar settings: the prior, data shape and sampler settings, for the record.
    """

    names: tuple[str, ...]
    groups: tuple[str, ...]
    truth: np.ndarray
    draws: np.ndarray
    ranks: np.ndarray
    n_draws: int
    n_bins: int
    alpha: float
    threshold: float
    p_values: np.ndarray
    passed: np.ndarray
    divergences: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def all_passed(self) -> bool:
        """Whether every scalar passed the Bonferroni-corrected uniformity test."""
        return bool(np.all(self.passed))

    def group_passed(self) -> dict[str, bool]:
        """Pass/fail of each group: a group passes when all of its scalars do."""
        groups = np.asarray(self.groups)
        return {g: bool(np.all(self.passed[groups == g])) for g in GROUPS if np.any(groups == g)}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no draws): settings, per-scalar p-values and pass/fail, ranks."""
        return {
            "settings": self.settings,
            "n_simulations": int(self.ranks.shape[0]),
            "n_draws": self.n_draws,
            "n_bins": self.n_bins,
            "alpha": self.alpha,
            "threshold": self.threshold,
            "all_passed": self.all_passed,
            "groups_passed": self.group_passed(),
            "parameters": {
                name: {"group": group, "p_value": float(p), "passed": bool(ok)}
                for name, group, p, ok in zip(self.names, self.groups, self.p_values, self.passed)
            },
            "divergences_total": int(np.sum(self.divergences)),
            "simulations_with_divergences": int(np.sum(self.divergences > 0)),
            "ranks": {name: self.ranks[:, j].tolist() for j, name in enumerate(self.names)},
        }


def parameter_names(n_components: int, n_dim: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names and groups of the ``1 + K + K D`` scalars, in the order :func:`flatten_parameters` uses."""
    names = ["sigma"] + [f"weights[{k}]" for k in range(n_components)]
    names += [f"means[{k},{d}]" for k in range(n_components) for d in range(n_dim)]
    groups = ["sigma"] + ["weights"] * n_components + ["means"] * (n_components * n_dim)
    return tuple(names), tuple(groups)


def flatten_parameters(params: Mapping[str, Any]) -> np.ndarray:
    """Stack ``sigma (...)``, ``weights (..., K)`` and ``means (..., K, D)`` into ``(..., 1 + K + K D)``."""
    sigma = np.asarray(params["sigma"], dtype=float)
    weights = np.asarray(params["weights"], dtype=float)
    means = np.asarray(params["means"], dtype=float)
    flat_means = means.reshape(means.shape[:-2] + (-1,))
    return np.concatenate([sigma[..., None], weights, flat_means], axis=-1)


def sbc_ranks(truth: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Rank of each true scalar among its posterior draws: ``sum_l [draw_l < truth]``.

    :param truth: ``(n_simulations, P)``.
    :param draws: ``(n_simulations, L, P)``.
    :return: ``(n_simulations, P)`` integers in ``0..L``.
    """
    truth = np.asarray(truth, dtype=float)
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 3 or truth.shape != (draws.shape[0], draws.shape[2]):
        raise ValueError(f"Expected truth (S, P) and draws (S, L, P); got {truth.shape} and {draws.shape}.")
    return np.sum(draws < truth[:, None, :], axis=1)


def default_n_bins(n_simulations: int, n_draws: int) -> int:
    """Bins for the chi-square test: 10, fewer when that would leave under 5 simulations
    per bin (the chi-square approximation needs about 5), never more than ``L + 1``."""
    return int(max(2, min(10, n_simulations // 5, n_draws + 1)))


def _uniform_bin_probabilities(n_draws: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges over ranks ``0..L`` and the exact probability of each bin under uniformity."""
    edges = np.linspace(0.0, n_draws + 1.0, n_bins + 1)
    # bin j holds the integer ranks r with edges[j] <= r < edges[j+1]
    counts = np.diff(np.ceil(edges)).astype(float)
    return edges, counts / (n_draws + 1)


def rank_histograms(ranks: np.ndarray, n_draws: int, n_bins: int) -> np.ndarray:
    """Histogram counts ``(P, n_bins)`` of ``ranks (n_simulations, P)`` over ``0..n_draws``."""
    edges, _ = _uniform_bin_probabilities(n_draws, n_bins)
    ranks = np.asarray(ranks)
    return np.stack([np.histogram(ranks[:, j], bins=edges)[0] for j in range(ranks.shape[1])])


def rank_uniformity_test(
    ranks: np.ndarray, n_draws: int, *, n_bins: int | None = None, alpha: float = 0.01
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Chi-square test of uniformity of each column of ``ranks``, Bonferroni-corrected.

    :param ranks: ``(n_simulations, P)`` integer ranks in ``0..n_draws``.
    :param n_draws: ``L``, posterior draws each rank was taken among.
    :param n_bins: histogram bins; ``None`` for :func:`default_n_bins`.
    :param alpha: family-wise significance level over the ``P`` tests.
    :return: ``p_values (P,)``, ``passed (P,)`` (``p >= alpha / P``), the per-test threshold
        ``alpha / P`` and the number of bins used.
    """
    ranks = np.asarray(ranks)
    if ranks.ndim != 2:
        raise ValueError(f"ranks must be (n_simulations, n_parameters); got shape {ranks.shape}.")
    if ranks.size and (ranks.min() < 0 or ranks.max() > n_draws):
        raise ValueError(f"ranks must lie in 0..{n_draws}; got {ranks.min()}..{ranks.max()}.")
    n_sim, n_params = ranks.shape
    n_bins = default_n_bins(n_sim, n_draws) if n_bins is None else check_positive_int("n_bins", n_bins, minimum=2)
    _, probabilities = _uniform_bin_probabilities(n_draws, n_bins)
    observed = rank_histograms(ranks, n_draws, n_bins)
    p_values = np.array([stats.chisquare(row, probabilities * n_sim).pvalue for row in observed])
    threshold = alpha / n_params
    return p_values, p_values >= threshold, threshold, n_bins


@partial(jax.jit, static_argnames=("n_components", "n_obs", "n_dim", "sigma_prior"))
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
    """Simulation-based calibration of NUTS on :func:`probkm.models.spherical_gmm`.

    Per simulation: parameters from the prior (:data:`SBC_PRIOR`, updated by ``prior``), data
    ``x (n_obs, n_dim)`` from the model, a MAP point from the data (deterministic annealing and
    two k-means++ restarts, then BFGS), one NUTS chain of ``num_warmup + num_samples``
    iterations from it, every ``thin``-th draw kept, draws relabelled (see ``labeling``), and
    the rank of every true scalar among the ``L = num_samples // thin`` kept draws.

    :param n_simulations: number of simulated data sets ``S``.
    :param n_obs, n_components, n_dim: data shape ``N x D`` and number of components ``K``.
    :param num_warmup, num_samples: NUTS iterations per simulation.
    :param thin: keep every ``thin``-th draw so the ranks are taken among roughly
        independent draws (autocorrelation inflates the extreme ranks).
    :param random_state: int or NumPy random state; fixes everything.
    :param progress: called as ``progress(done, n_simulations)`` after each simulation.
    :param labeling: ``"truth"`` (Hungarian matching of each draw's means to the true means)
        or ``"sorted"`` (truth and draws ordered by the first coordinate of their means).
    :param n_bins: bins of the chi-square test (``None``: :func:`default_n_bins`).
    :param alpha: family-wise level; each of the ``P`` scalars is tested at ``alpha / P``.
    :param target_accept_prob: NUTS step-size adaptation target.
    :param prior: overrides of :data:`SBC_PRIOR` (keys ``loc_center``, ``loc_scale``,
        ``sigma_scale``, ``weight_concentration``, ``sigma_prior``).
    :return: :class:`SBCResult`.
    """
    n_simulations = check_positive_int("n_simulations", n_simulations)
    n_components = check_positive_int("n_components", n_components)
    n_obs = check_positive_int("n_obs", n_obs, minimum=n_components)
    n_dim = check_positive_int("n_dim", n_dim)
    num_warmup = check_positive_int("num_warmup", num_warmup)
    num_samples = check_positive_int("num_samples", num_samples)
    thin = check_positive_int("thin", thin)
    if num_samples < thin:
        raise ValueError(f"num_samples must be >= thin; got num_samples={num_samples}, thin={thin}.")
    check_choice("labeling", labeling, LABELINGS)
    check_positive_float("alpha", alpha)
    settings_prior = {**SBC_PRIOR, **(prior or {})}
    unknown = set(settings_prior) - set(SBC_PRIOR)
    if unknown:
        raise ValueError(f"prior accepts only {sorted(SBC_PRIOR)}; got {sorted(unknown)}.")
    sigma_prior = check_choice("sigma_prior", settings_prior["sigma_prior"], SIGMA_PRIORS)
    traced_prior = {
        k: jnp.asarray(v, dtype=jnp.result_type(float)) for k, v in settings_prior.items() if k != "sigma_prior"
    }
    n_draws = num_samples // thin
    names, groups = parameter_names(n_components, n_dim)
    temperatures = geometric_schedule(1.0, 1e-3, 30)

    keys = jax.random.split(jax.random.key(seed_from(random_state)), n_simulations)
    truth = np.empty((n_simulations, len(names)))
    draws = np.empty((n_simulations, n_draws, len(names)))
    divergences = np.zeros(n_simulations, dtype=np.int64)
    for i, key in enumerate(keys):
        key_sim, key_init, key_map, key_nuts = jax.random.split(key, 4)
        true = _simulate(key_sim, traced_prior, n_components=n_components, n_obs=n_obs, n_dim=n_dim, sigma_prior=sigma_prior)
        x = true["x"]
        candidates = kmeans_candidates(key_init, x, temperatures, n_clusters=n_components, n_init=2)
        starts = map_starts(candidates, n_obs, n_dim)
        start = fit_map(
            key_map, x, spherical_gmm, starts, num_steps=1, optimizer="bfgs",
            n_components=n_components, sigma_prior=sigma_prior, **traced_prior,
        ).params
        if not all(np.isfinite(np.asarray(v)).all() for v in start.values()):
            # a failed MAP must not end the run: warmup also works from the best k-means start
            best = int(np.argmin(np.asarray(candidates.inertia)))
            start = {k: v[best] for k, v in starts.items()}
        result = run_nuts(
            key_nuts, x, spherical_gmm, num_warmup=num_warmup, num_samples=num_samples, num_chains=1,
            init_values=start, target_accept_prob=target_accept_prob,
            n_components=n_components, sigma_prior=sigma_prior, **traced_prior,
        )
        # every thin-th draw is kept; the divergences of the discarded ones are counted too
        n_divergent = np.sum(np.asarray(result.get_extra_fields()["diverging"]))
        chain = {k: np.asarray(v[thin - 1 :: thin][:n_draws], dtype=float) for k, v in result.get_samples().items()}
        true = {k: np.asarray(v, dtype=float) for k, v in true.items() if k != "x"}
        if labeling == "truth":
            # the truth matched to itself keeps its labels; only the draws are permuted
            chain = relabel_samples(chain, true["means"])
        else:
            true = _sort_by_first_coordinate(true)
            chain = _sort_by_first_coordinate(chain)
        truth[i] = flatten_parameters(true)
        draws[i] = flatten_parameters(chain)
        divergences[i] = int(n_divergent)
        if progress is not None:
            progress(i + 1, n_simulations)

    ranks = sbc_ranks(truth, draws)
    p_values, passed, threshold, n_bins = rank_uniformity_test(ranks, n_draws, n_bins=n_bins, alpha=alpha)
    settings = {
        "prior": settings_prior,
        "n_obs": n_obs,
        "n_components": n_components,
        "n_dim": n_dim,
        "num_warmup": num_warmup,
        "num_samples": num_samples,
        "thin": thin,
        "labeling": labeling,
        "target_accept_prob": float(target_accept_prob),
        "random_state": random_state if isinstance(random_state, int) else repr(random_state),
    }
    return SBCResult(
        names, groups, truth, draws, ranks, n_draws, n_bins, float(alpha), float(threshold),
        p_values, passed, divergences, settings,
    )


def _sort_by_first_coordinate(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Order the components of ``params`` (any leading axes) by the first coordinate of their means."""
    order = np.argsort(params["means"][..., 0], axis=-1)
    return {
        "sigma": params["sigma"],
        "weights": np.take_along_axis(params["weights"], order, axis=-1),
        "means": np.take_along_axis(params["means"], order[..., None], axis=-2),
    }


def _uniform_band(n_simulations: int, probabilities: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` binomial interval of each bin's count under uniform ranks."""
    lower = stats.binom.ppf((1 - level) / 2, n_simulations, probabilities)
    upper = stats.binom.ppf(1 - (1 - level) / 2, n_simulations, probabilities)
    return lower, upper


def plot_sbc_ranks(result: SBCResult, *, band_level: float = 0.99) -> Figure:
    """One panel per parameter group with the rank histogram of each of its scalars.

    The grey band is the central ``band_level`` interval of one bin's count under uniform
    ranks (binomial), the dashed line the expected count; the legend gives each scalar's
    chi-square p-value and whether it passed.
    """
    present = [g for g in GROUPS if g in result.groups]
    edges, probabilities = _uniform_bin_probabilities(result.n_draws, result.n_bins)
    n_sim = result.ranks.shape[0]
    counts = rank_histograms(result.ranks, result.n_draws, result.n_bins)
    lower, upper = _uniform_band(n_sim, probabilities, band_level)
    fig = Figure(figsize=(4.6 * len(present), 4.2))
    axes = fig.subplots(1, len(present), squeeze=False)[0]
    for ax, group in zip(axes, present):
        ax.stairs(upper, edges, baseline=lower, fill=True, color="0.85", label=f"uniform {band_level:.0%} band")
        ax.stairs(n_sim * probabilities, edges, baseline=None, color="0.3", linestyle="--", label="expected count")
        members = [j for j, g in enumerate(result.groups) if g == group]
        for j in members:
            verdict = "ok" if result.passed[j] else "FAIL"
            ax.stairs(counts[j], edges, baseline=None, linewidth=1.4, label=f"{result.names[j]} (p={result.p_values[j]:.2g}, {verdict})")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel(f"rank of the true value among {result.n_draws} draws")
        ax.set_ylabel("simulations per bin")
        ax.set_title(group)
        ax.legend(loc="upper center", fontsize=7, ncol=1 if len(members) < 4 else 2)
        ax.set_ylim(0, max(float(upper.max()), float(counts[members].max())) * (1.35 + 0.08 * len(members)))
    verdict = "all uniform" if result.all_passed else "NOT uniform"
    fig.suptitle(
        f"SBC rank histograms: {n_sim} simulations, chi-square at alpha={result.alpha:g}/"
        f"{len(result.names)} (Bonferroni): {verdict}"
    )
    fig.tight_layout()
    return fig


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
