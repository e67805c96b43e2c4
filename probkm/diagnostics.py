"""Identifiability diagnostics: per-parameter metrics of an ``arviz.InferenceData``, and the
sigma profile of the ``T -> 0`` centroids.

Each metric is computed element by element and then summarised by its *worst* element, so
that a vector parameter (``means`` ``(cluster, feature)``, ``weights`` ``(cluster,)``) is
reported as well identified only if every element is:

* posterior contraction ``1 - Var_post / Var_prior`` (near 1: the data informs the
  parameter; near 0: only the prior does), with both variances taken from draws (the
  ``posterior`` and ``prior`` groups); worst = lowest;
* power-scaling sensitivity to the prior and to the likelihood (``arviz.psens``, which
  reads the ``log_prior`` and ``log_likelihood`` groups); worst = highest prior
  sensitivity and lowest likelihood sensitivity;
* the verdict the priorsense diagnostic supports (Kallioinen et al., arXiv:2107.14054): prior and
  likelihood sensitivity both ``>= 0.05`` is a *prior-data conflict*; prior ``>= 0.05``
  with likelihood ``< 0.05`` is a *weak likelihood* (the data does not identify the
  parameter); otherwise nothing is flagged. A vector parameter takes the most severe
  verdict of its elements (conflict, then weak likelihood, then none);
* rank-normalised split R-hat (worst = highest) and bulk and tail ESS (worst = lowest).

The sigma profile (:func:`sigma_profile`) refits the equal-weight annealed maximum-likelihood
centroids at a low temperature with sigma *fixed* at each value of a grid: the k-means
objective does not contain sigma, so the centroids should not move.

Relabel mixture draws before calling the per-parameter metrics (:func:`probkm.relabel.relabel_samples`):
the element-wise summaries assume every draw uses the same labels.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Iterable, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from probkm.scaling import Scaling, as_jax
from probkm.annealing import weighted_means
from probkm.likelihood import responsibilities

SENSITIVITY_THRESHOLD = 0.05
VERDICTS = ("prior-data conflict", "weak likelihood", "none")  # most severe first
_SAMPLE_DIMS = ("chain", "draw")


def _values(dataset: xr.Dataset, name: str) -> np.ndarray:
    """``dataset[name]`` as float64 ``(n_draws, *element_shape)``, chains and draws pooled."""
    data = dataset[name].astype("float64")
    rest = [d for d in data.dims if d not in _SAMPLE_DIMS]
    data = data.stack(__sample__=_SAMPLE_DIMS).transpose("__sample__", *rest)
    return np.asarray(data.values)


def posterior_contraction(idata: az.InferenceData, var_name: str) -> np.ndarray:
    """``1 - Var_post / Var_prior`` for each element of ``var_name``, shape = the element shape.

    Both variances are sample variances over all chains and draws of the ``posterior``
    and ``prior`` groups (so a parameter the data does not touch scatters around 0 with
    Monte Carlo noise of order ``sqrt(2 / n_prior_draws)``).
    """
    post = _values(idata.posterior, var_name).var(axis=0)
    prior = _values(idata.prior, var_name).var(axis=0)
    return 1.0 - post / prior


def _float64_groups(idata: az.InferenceData) -> az.InferenceData:
    """The groups ``psens`` reads, cast to float64.

    ``arviz.psens`` integrates empirical CDFs with dot products over all draws; on float32
    draws (JAX's default) rounding alone puts a floor of about 0.01 under the sensitivity
    of a parameter the power-scaled component does not contain (measured with 32,000
    draws: 0.010-0.016 in float32, 0.003-0.005 in float64).
    """
    groups = {g: getattr(idata, g).astype("float64") for g in ("posterior", "log_prior", "log_likelihood")}
    return az.InferenceData(**groups)


def power_scaling_sensitivity(idata: az.InferenceData, var_name: str, component: str) -> np.ndarray:
    """``arviz.psens`` of each element of ``var_name`` to the ``"prior"`` or the ``"likelihood"``.

    :return: float64 array of the element shape (a 0-d array for a scalar parameter).
    """
    if component not in ("prior", "likelihood"):
        raise ValueError(f"component must be 'prior' or 'likelihood'; got {component!r}.")
    result = az.psens(_float64_groups(idata), component=component, var_names=[var_name])
    if isinstance(result, xr.Dataset):  # psens returns a DataArray for a single variable
        result = result[var_name]
    return np.asarray(result.values, dtype=float)


def sensitivity_verdict(prior: float, likelihood: float, threshold: float = SENSITIVITY_THRESHOLD) -> str:
    """The priorsense verdict for one element: ``"prior-data conflict"``, ``"weak likelihood"`` or ``"none"``."""
    if prior >= threshold:
        return "prior-data conflict" if likelihood >= threshold else "weak likelihood"
    return "none"


def _most_severe(verdicts: Iterable[str]) -> str:
    return min(verdicts, key=VERDICTS.index)


def _worst(values: np.ndarray, worst: str) -> tuple[float, list[int]]:
    """The worst element's value and its index (``[]`` for a scalar)."""
    flat = np.ravel(values)
    position = int(np.nanargmin(flat) if worst == "min" else np.nanargmax(flat))
    return float(flat[position]), [int(i) for i in np.unravel_index(position, np.shape(values))]


def parameter_summary(idata: az.InferenceData, var_name: str) -> dict[str, Any]:
    """Every diagnostic of one parameter, as a JSON-able dict of worst-element values.

    Keys: ``contraction``, ``prior_sensitivity``, ``likelihood_sensitivity``, ``verdict``,
    ``r_hat``, ``ess_bulk``, ``ess_tail``, ``posterior_median`` and ``posterior_sd`` (of the
    element with the lowest contraction), and ``worst_element``: for each metric, the index
    of the element reported (``[]`` for a scalar parameter).
    """
    contraction = posterior_contraction(idata, var_name)
    prior = power_scaling_sensitivity(idata, var_name, "prior")
    likelihood = power_scaling_sensitivity(idata, var_name, "likelihood")
    verdicts = [sensitivity_verdict(p, l) for p, l in zip(np.ravel(prior), np.ravel(likelihood))]
    metrics = {
        "contraction": (contraction, "min"),
        "prior_sensitivity": (prior, "max"),
        "likelihood_sensitivity": (likelihood, "min"),
        "r_hat": (az.rhat(idata, var_names=[var_name])[var_name].values, "max"),
        "ess_bulk": (az.ess(idata, var_names=[var_name], method="bulk")[var_name].values, "min"),
        "ess_tail": (az.ess(idata, var_names=[var_name], method="tail")[var_name].values, "min"),
    }
    summary: dict[str, Any] = {}
    where: dict[str, list[int]] = {}
    for name, (values, worst) in metrics.items():
        summary[name], where[name] = _worst(np.asarray(values, dtype=float), worst)
    summary["verdict"] = _most_severe(verdicts)
    draws = _values(idata.posterior, var_name)
    draws = draws.reshape(draws.shape[0], -1)
    column = int(np.ravel_multi_index(where["contraction"], np.shape(contraction))) if where["contraction"] else 0
    summary["posterior_median"] = float(np.median(draws[:, column]))
    summary["posterior_sd"] = float(np.std(draws[:, column]))
    summary["worst_element"] = where
    return summary


def count_divergences(idata: az.InferenceData) -> int:
    """Number of divergent post-warmup transitions (``sample_stats.diverging``), 0 if not recorded."""
    if "sample_stats" not in idata.groups() or "diverging" not in idata.sample_stats:
        return 0
    return int(idata.sample_stats["diverging"].values.sum())


def model_summary(idata: az.InferenceData, var_names: Iterable[str]) -> dict[str, Any]:
    """:func:`parameter_summary` of each of ``var_names`` plus ``"divergences"`` (an int)."""
    out: dict[str, Any] = {name: parameter_summary(idata, name) for name in var_names}
    out["divergences"] = count_divergences(idata)
    return out


class SigmaProfile(NamedTuple):
    """Equal-weight annealed ML centroids with sigma fixed, over a grid of sigma values.

    :ivar sigma_values: ``(S,)`` the fixed sigmas, units of x.
    :ivar t_mins: ``(M,)`` temperatures the profile was computed at.
    :ivar centers: ``(M, S, K, D)`` fixed-point centroids, units of x.
    :ivar max_shift: ``(M,)`` largest change of any centroid coordinate across the grid, units of x.
    """

    sigma_values: np.ndarray
    t_mins: np.ndarray
    centers: np.ndarray
    max_shift: np.ndarray


@partial(jax.jit, static_argnames=("num_iter",))
def fixed_sigma_centroids(x: jax.Array, start: jax.Array, sigma_values: jax.Array, temperatures: jax.Array, *, num_iter: int = 300) -> jax.Array:
    """Tempered EM fixed point ``mu_k = sum_i r_ik x_i / sum_i r_ik`` for every (T, sigma) pair.

    ``r = responsibilities(x, 1/K, mu, sigma, T)``: the maximiser in ``mu`` of the
    equal-weight annealed likelihood with sigma fixed, and no prior. One compiled call.

    :param x: ``(N, D)`` data; :param start: ``(K, D)`` starting centroids (the k-means solution).
    :param sigma_values: ``(S,)``; :param temperatures: ``(M,)``.
    :return: ``(M, S, K, D)`` centroids after ``num_iter`` updates.
    """
    weights = jnp.full((start.shape[0],), 1.0 / start.shape[0], x.dtype)

    def solve(temperature, sigma):
        def update(_, means):
            return weighted_means(x, responsibilities(x, weights, means, sigma, temperature).T, means)

        return jax.lax.fori_loop(0, num_iter, update, start)

    per_sigma = jax.vmap(solve, in_axes=(None, 0))
    return jax.vmap(per_sigma, in_axes=(0, None))(temperatures, sigma_values)


def sigma_profile(X: np.ndarray, centers: np.ndarray, sigma_values: Any, t_mins: Any) -> SigmaProfile:
    """:func:`fixed_sigma_centroids` from ``centers`` ``(K, D)`` and its largest shift per temperature.

    Computed on standardised data (:class:`probkm.scaling.Scaling`), reported in units of ``X``.
    """
    sigma_values, t_mins = np.asarray(sigma_values, float), np.asarray(t_mins, float)
    scaling = Scaling.of(X)
    found = fixed_sigma_centroids(
        as_jax(scaling.forward(X)), as_jax(scaling.forward(centers)), as_jax(sigma_values / scaling.scale), as_jax(t_mins)
    )
    found = scaling.backward(found)
    shift = (found.max(axis=1) - found.min(axis=1)).reshape(len(t_mins), -1).max(axis=1)
    return SigmaProfile(sigma_values, t_mins, found, shift)


__all__ = [
    "SENSITIVITY_THRESHOLD",
    "SigmaProfile",
    "VERDICTS",
    "count_divergences",
    "fixed_sigma_centroids",
    "model_summary",
    "parameter_summary",
    "posterior_contraction",
    "power_scaling_sensitivity",
    "sensitivity_verdict",
    "sigma_profile",
]
