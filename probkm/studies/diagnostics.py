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

Relabel mixture draws before calling the per-parameter metrics (:func:`probkm.inference.relabel.relabel_samples`):
the element-wise summaries assume every draw uses the same labels.
"""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple

import arviz as az
import numpy as np
import xarray as xr

from probkm._checks import InvalidValue
from probkm.core.scaling import Scaling, as_jax
from probkm.algorithms.annealing import fixed_sigma_centroids

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

    Parameters
    ----------
    idata : arviz.InferenceData
        With ``posterior`` and ``prior`` groups holding ``var_name``.
    var_name : str

    Returns
    -------
    ndarray
        Of the element shape (0-d for a scalar parameter): near 1 where the data informs the
        element, near 0 where only the prior does.

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> from probkm.studies.diagnostics import posterior_contraction
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"theta": rng.normal(1.0, 0.1, (2, 500))}, prior={"theta": rng.normal(size=(1, 2000))})
    >>> round(float(posterior_contraction(idata, "theta")), 2)  # 1 - 0.1**2 / 1
    0.99
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

    The groups ``psens`` reads (``posterior``, ``log_prior``, ``log_likelihood``) are cast to
    float64 first: on float32 draws rounding alone puts a floor of about 0.01 under the
    sensitivity.

    Parameters
    ----------
    idata : arviz.InferenceData
        With ``posterior``, ``log_prior`` and ``log_likelihood`` groups.
    var_name : str
    component : {"prior", "likelihood"}
        Which part of the model is power-scaled.

    Returns
    -------
    ndarray of float64
        Of the element shape (a 0-d array for a scalar parameter).

    Raises
    ------
    InvalidValue
        ``component`` is neither ``"prior"`` nor ``"likelihood"``.

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> from scipy.stats import norm
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.normal(1.0, 0.1, (2, 500))  # prior N(0, 1) times a likelihood of precision 99
    >>> idata = az.from_dict(posterior={"theta": theta}, prior={"theta": rng.normal(size=(1, 2000))},
    ...                      log_likelihood={"x": norm.logpdf(theta, 100 / 99, 99**-0.5)})
    >>> idata.add_groups(log_prior=az.dict_to_dataset({"theta": norm.logpdf(theta)}))
    >>> from probkm.studies.diagnostics import power_scaling_sensitivity
    >>> [bool(power_scaling_sensitivity(idata, "theta", c) >= 0.05) for c in ("prior", "likelihood")]
    [False, True]
    """
    if component not in ("prior", "likelihood"):
        raise InvalidValue(f"component must be 'prior' or 'likelihood'; got {component!r}.")
    result = az.psens(_float64_groups(idata), component=component, var_names=[var_name])
    if isinstance(result, xr.Dataset):  # psens returns a DataArray for a single variable
        result = result[var_name]
    return np.asarray(result.values, dtype=float)


def sensitivity_verdict(prior: float, likelihood: float, threshold: float = SENSITIVITY_THRESHOLD) -> str:
    """The priorsense verdict for one element: ``"prior-data conflict"``, ``"weak likelihood"`` or ``"none"``.

    Parameters
    ----------
    prior, likelihood : float
        Power-scaling sensitivity to the prior and to the likelihood.
    threshold : float
        Sensitivity at or above which a component counts as influential.

    Returns
    -------
    str
        ``"prior-data conflict"`` when both reach ``threshold``, ``"weak likelihood"`` when
        only the prior does, else ``"none"``.

    Examples
    --------
    >>> from probkm.studies.diagnostics import sensitivity_verdict
    >>> sensitivity_verdict(0.08, 0.2), sensitivity_verdict(0.08, 0.01), sensitivity_verdict(0.01, 0.2)
    ('prior-data conflict', 'weak likelihood', 'none')
    """
    if prior >= threshold:
        return "prior-data conflict" if likelihood >= threshold else "weak likelihood"
    return "none"


def _most_severe(verdicts: Iterable[str]) -> str:
    return min(verdicts, key=VERDICTS.index)


def _worst(values: np.ndarray, worst: str) -> tuple[float, list[int]]:
    """The worst element's value and its index (``[]`` for a scalar); NaN when every element is
    NaN (R-hat of a single chain)."""
    flat = np.ravel(values)
    if np.all(np.isnan(flat)):
        return float("nan"), [0 for _ in np.shape(values)]
    position = int(np.nanargmin(flat) if worst == "min" else np.nanargmax(flat))
    return float(flat[position]), [int(i) for i in np.unravel_index(position, np.shape(values))]


def parameter_summary(idata: az.InferenceData, var_name: str) -> dict[str, Any]:
    """Every diagnostic of one parameter, as a JSON-able dict of worst-element values.

    Parameters
    ----------
    idata : arviz.InferenceData
        With ``posterior``, ``prior``, ``log_prior`` and ``log_likelihood`` groups, and
        relabelled draws for a mixture.
    var_name : str

    Returns
    -------
    dict
        Keys: ``contraction``, ``prior_sensitivity``, ``likelihood_sensitivity``, ``verdict``,
        ``r_hat``, ``ess_bulk``, ``ess_tail``, ``posterior_median`` and ``posterior_sd`` (of
        the element with the lowest contraction), and ``worst_element``: for each metric, the
        index of the element reported (``[]`` for a scalar parameter).

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> from scipy.stats import norm
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.normal(1.0, 0.1, (2, 500))  # prior N(0, 1) times a likelihood of precision 99
    >>> idata = az.from_dict(posterior={"theta": theta}, prior={"theta": rng.normal(size=(1, 2000))},
    ...                      log_likelihood={"x": norm.logpdf(theta, 100 / 99, 99**-0.5)})
    >>> idata.add_groups(log_prior=az.dict_to_dataset({"theta": norm.logpdf(theta)}))
    >>> from probkm.studies.diagnostics import parameter_summary
    >>> summary = parameter_summary(idata, "theta")
    >>> round(summary["contraction"], 2), summary["verdict"], round(summary["posterior_median"], 1)
    (0.99, 'none', 1.0)
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
    """Number of divergent post-warmup transitions (``sample_stats.diverging``), 0 if not recorded.

    Parameters
    ----------
    idata : arviz.InferenceData

    Returns
    -------
    int

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> from probkm.studies.diagnostics import count_divergences
    >>> diverging = np.zeros((2, 50), dtype=bool)
    >>> diverging[0, :3] = True
    >>> idata = az.from_dict(posterior={"theta": np.zeros((2, 50))}, sample_stats={"diverging": diverging})
    >>> count_divergences(idata), count_divergences(az.from_dict(posterior={"theta": np.zeros((2, 50))}))
    (3, 0)
    """
    if "sample_stats" not in idata.groups() or "diverging" not in idata.sample_stats:
        return 0
    return int(idata.sample_stats["diverging"].values.sum())


def model_summary(idata: az.InferenceData, var_names: Iterable[str]) -> dict[str, Any]:
    """:func:`parameter_summary` of each of ``var_names`` plus ``"divergences"`` (an int).

    Parameters
    ----------
    idata : arviz.InferenceData
        As for :func:`parameter_summary`.
    var_names : iterable of str

    Returns
    -------
    dict
        Each name to its :func:`parameter_summary`, and ``"divergences"`` to
        :func:`count_divergences`.

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> from scipy.stats import norm
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.normal(1.0, 0.1, (2, 500))  # prior N(0, 1) times a likelihood of precision 99
    >>> idata = az.from_dict(posterior={"theta": theta}, prior={"theta": rng.normal(size=(1, 2000))},
    ...                      log_likelihood={"x": norm.logpdf(theta, 100 / 99, 99**-0.5)})
    >>> idata.add_groups(log_prior=az.dict_to_dataset({"theta": norm.logpdf(theta)}))
    >>> from probkm.studies.diagnostics import model_summary
    >>> summary = model_summary(idata, ["theta"])
    >>> sorted(summary), summary["divergences"]
    (['divergences', 'theta'], 0)
    """
    out: dict[str, Any] = {name: parameter_summary(idata, name) for name in var_names}
    out["divergences"] = count_divergences(idata)
    return out


class SigmaProfile(NamedTuple):
    """Equal-weight annealed ML centroids with sigma fixed, over a grid of sigma values.

    Attributes
    ----------
    sigma_values : ndarray, shape (S,)
        The fixed sigmas, units of x.
    t_mins : ndarray, shape (M,)
        Temperatures the profile was computed at.
    centers : ndarray, shape (M, S, K, D)
        Fixed-point centroids, units of x.
    max_shift : ndarray, shape (M,)
        Largest change of any centroid coordinate across the grid, units of x.

    See Also
    --------
    sigma_profile : Computes it.

    Examples
    --------
    >>> from probkm.studies.diagnostics import SigmaProfile
    >>> SigmaProfile._fields
    ('sigma_values', 't_mins', 'centers', 'max_shift')
    """

    sigma_values: np.ndarray
    t_mins: np.ndarray
    centers: np.ndarray
    max_shift: np.ndarray


def sigma_profile(X: np.ndarray, centers: np.ndarray, sigma_values: Any, t_mins: Any) -> SigmaProfile:
    """:func:`~probkm.algorithms.annealing.fixed_sigma_centroids` from ``centers`` ``(K, D)`` and
    its largest shift per temperature.

    Computed on standardised data (:class:`probkm.core.scaling.Scaling`), reported in units of ``X``.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
    centers : ndarray, shape (K, n_features)
        Starting centroids (e.g. the k-means solution), units of ``X``.
    sigma_values : array_like, shape (S,)
        The fixed sigmas, units of ``X``.
    t_mins : array_like, shape (M,)
        Temperatures to compute the fixed points at.

    Returns
    -------
    SigmaProfile

    Examples
    --------
    The ``T -> 0`` centroids of two separated clusters do not move with sigma:

    >>> import numpy as np
    >>> from probkm.studies.diagnostics import sigma_profile
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> profile = sigma_profile(X, np.array([[0.0, 0.0], [6.0, 6.0]]), [0.5, 1.0, 2.0], [0.01])
    >>> profile.centers.shape, bool(profile.max_shift[0] < 1e-6)
    ((1, 3, 2, 2), True)
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
    "model_summary",
    "parameter_summary",
    "posterior_contraction",
    "power_scaling_sensitivity",
    "sensitivity_verdict",
    "sigma_profile",
]
