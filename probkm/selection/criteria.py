"""Information criteria of the shared-sigma mixture, in scikit-learn's sign (lower is better).

Every function here is plain NumPy on numbers a fitted :class:`probkm.SphericalGMM` already
holds (its total log-likelihood and its responsibilities), so each criterion can be checked
by hand:

* free parameters ``p = (K - 1) + K D + 1``, one fewer for a known sigma and ``K - 1`` fewer
  for known (equal) weights (DESIGN section 5b);
* ``BIC = -2 log L + p log N`` and ``AIC = -2 log L + 2 p``, with ``log L`` the total
  log-likelihood at the fitted point;
* ``ICL = BIC + 2 sum_i sum_k -r_ik log r_ik``: BIC penalised by twice the entropy of the
  responsibilities ``r`` (Biernacki, Celeux and Govaert 2000, in the entropy form of McLachlan
  and Peel 2000). mclust's ``icl`` uses the hard form ``BIC + 2 sum_i -log r_{i z_i}`` with
  ``z_i = argmax_k r_ik`` (``hard=True``): never larger, and equal when the responsibilities
  are 0 or 1. mclust reports ``-BIC`` and ``-ICL`` (higher is better); the numbers are the
  same up to that sign.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CRITERIA = ("bic", "aic", "icl", "loo", "annealing")
INFORMATION_CRITERIA = ("bic", "aic", "icl")


def n_free_parameters(n_components: int, n_features: int, *, sigma_known: bool = False, weights_known: bool = False) -> int:
    """Free parameters of the shared-sigma spherical mixture: ``(K - 1) + K D + 1``.

    Parameters
    ----------
    n_components : int
        ``K``.
    n_features : int
        ``D``.
    sigma_known : bool, default False
        sigma is fixed (not counted).
    weights_known : bool, default False
        The weights are fixed (the ``K - 1`` free weights are not counted).

    Returns
    -------
    int

    Examples
    --------
    >>> from probkm.selection.criteria import n_free_parameters
    >>> n_free_parameters(3, 2), n_free_parameters(3, 2, sigma_known=True, weights_known=True)
    (9, 6)
    """
    return (0 if weights_known else n_components - 1) + n_components * n_features + (0 if sigma_known else 1)


def bic(log_likelihood: float, n_parameters: int, n_samples: float) -> float:
    """Bayesian information criterion ``-2 log L + p log N`` (lower is better).

    Parameters
    ----------
    log_likelihood : float
        Total log-likelihood at the fitted point.
    n_parameters : int
        Free parameters ``p``.
    n_samples : float
        ``N`` (the sum of the sample weights when rows are weighted).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.selection.criteria import bic
    >>> bool(np.isclose(bic(-100.0, 4, np.e**2), 208.0))
    True
    """
    return float(-2.0 * log_likelihood + n_parameters * np.log(n_samples))


def aic(log_likelihood: float, n_parameters: int) -> float:
    """Akaike information criterion ``-2 log L + 2 p`` (lower is better).

    Parameters
    ----------
    log_likelihood : float
        Total log-likelihood at the fitted point.
    n_parameters : int
        Free parameters ``p``.

    Returns
    -------
    float

    Examples
    --------
    >>> from probkm.selection.criteria import aic
    >>> aic(-100.0, 4)
    208.0
    """
    return float(-2.0 * log_likelihood + 2.0 * n_parameters)


def classification_entropy(resp: Any, *, hard: bool = False, sample_weight: Any = None) -> float:
    """Entropy of the responsibilities, ``sum_i sum_k -r_ik log r_ik`` (``0 log 0 = 0``).

    Parameters
    ----------
    resp : array_like, shape (n_samples, n_components)
        Responsibilities; rows sum to 1.
    hard : bool, default False
        mclust's form instead: ``sum_i -log r_{i z_i}`` with ``z_i = argmax_k r_ik``.
    sample_weight : array_like, shape (n_samples,), optional
        Weight of each row in the sum.

    Returns
    -------
    float
        Non-negative; 0 for a hard partition.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.selection.criteria import classification_entropy
    >>> resp = np.array([[1.0, 0.0], [0.5, 0.5]])
    >>> bool(np.isclose(classification_entropy(resp), np.log(2))), bool(np.isclose(classification_entropy(resp, hard=True), np.log(2)))
    (True, True)
    """
    r = np.asarray(resp, dtype=float)
    if hard:
        per_row = -np.log(np.clip(r.max(axis=1), np.finfo(float).tiny, None))
    else:
        per_row = -np.sum(np.where(r > 0, r * np.log(np.where(r > 0, r, 1.0)), 0.0), axis=1)
    weights = np.ones(r.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    return float(np.sum(weights * per_row))


def icl(bic_value: float, resp: Any, *, hard: bool = False, sample_weight: Any = None) -> float:
    """Integrated completed likelihood criterion ``BIC + 2 * entropy`` (lower is better).

    With the lower-is-better BIC, ``ICL = BIC + 2 sum_i sum_k -r_ik log r_ik``: a model whose
    clusters overlap pays for the uncertainty of its assignments.

    Parameters
    ----------
    bic_value : float
        The model's BIC (:func:`bic`).
    resp : array_like, shape (n_samples, n_components)
        Responsibilities at the fitted point.
    hard : bool, default False
        mclust's hard-assignment entropy (:func:`classification_entropy`).
    sample_weight : array_like, shape (n_samples,), optional
        Weight of each row.

    Returns
    -------
    float
        At least ``bic_value``.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.selection.criteria import icl
    >>> bool(np.isclose(icl(100.0, np.array([[0.5, 0.5], [1.0, 0.0]])), 100.0 + 2 * np.log(2)))
    True
    """
    return float(bic_value + 2.0 * classification_entropy(resp, hard=hard, sample_weight=sample_weight))


def information_criteria(estimator: Any, X: Any) -> dict[str, float]:
    """Log-likelihood, free parameters, BIC, AIC and ICL of a fitted :class:`probkm.SphericalGMM` on ``X``.

    Parameters
    ----------
    estimator : SphericalGMM
        Fitted (MAP: the criteria are those of its fitted point).
    X : array_like, shape (n_samples, n_features)
        The data it was fitted on.

    Returns
    -------
    dict
        ``log_likelihood`` (total, ``N * score(X)``), ``n_parameters``, ``bic``, ``aic``,
        ``icl`` and ``entropy`` (of the responsibilities).

    Examples
    --------
    >>> import numpy as np
    >>> from probkm import SphericalGMM
    >>> from probkm.selection.criteria import information_criteria
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> gmm = SphericalGMM(2, n_temperatures=10, random_state=0).fit(X)
    >>> values = information_criteria(gmm, X)
    >>> values["n_parameters"], bool(np.isclose(values["bic"], gmm.bic(X))), values["icl"] >= values["bic"]
    (6, True, True)
    """
    X = np.asarray(X, dtype=float)
    n_samples, n_features = X.shape
    log_likelihood = float(np.sum(estimator.score_samples(X)))
    p = n_free_parameters(
        int(estimator.n_components), n_features, sigma_known=estimator.sigma is not None, weights_known=estimator.weights == "equal"
    )
    entropy = classification_entropy(estimator.predict_proba(X))
    b = bic(log_likelihood, p, n_samples)
    return {"log_likelihood": log_likelihood, "n_parameters": p, "bic": b, "aic": aic(log_likelihood, p), "icl": b + 2.0 * entropy, "entropy": entropy}


__all__ = ["CRITERIA", "INFORMATION_CRITERIA", "n_free_parameters", "bic", "aic", "classification_entropy", "icl", "information_criteria"]
