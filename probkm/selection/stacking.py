"""PSIS-LOO over ``K`` and the stacked mixture: generation that does not pretend ``K`` is known.

Each ``K`` is fitted by NUTS; its pointwise log-likelihood ``log p(x_i | theta_s)`` for every
draw ``s`` goes into an :class:`arviz.InferenceData`, and :func:`arviz.compare` ranks the
``K`` by PSIS-LOO (the expected log pointwise predictive density, ``elpd_loo``) and gives
stacking weights (Yao, Vehtari, Simpson and Gelman 2018): the mixture over ``K`` with those
weights has the best leave-one-out predictive density of all such mixtures. Sampling from it
first draws a ``K`` by its weight, then a point from that ``K``'s posterior predictive.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import arviz as az
import numpy as np
from scipy.special import logsumexp

from probkm._checks import check_positive_int, seed_from


def pointwise_log_likelihood(estimator: Any, X: Any, *, chunk: int = 64) -> np.ndarray:
    """``log p(x_i | theta_s)`` of every draw of a fitted :class:`probkm.SphericalGMM`, in float64.

    Parameters
    ----------
    estimator : SphericalGMM
        Fitted; its ``draws_`` are the draws (one for a MAP fit).
    X : array_like, shape (n_samples, n_features)
    chunk : int, default 64
        Draws computed at once (memory ``chunk * N * K``).

    Returns
    -------
    ndarray, shape (n_chains, n_draws, n_samples)
        ``(1, 1, N)`` for a MAP fit.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm import SphericalGMM
    >>> from probkm.selection.stacking import pointwise_log_likelihood
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> gmm = SphericalGMM(2, n_temperatures=10, random_state=0).fit(X)
    >>> ll = pointwise_log_likelihood(gmm, X)
    >>> ll.shape, bool(np.allclose(ll[0, 0], gmm.score_samples(X), atol=1e-4))
    ((1, 1, 40), True)
    """
    X = np.asarray(X, dtype=float)
    draws = estimator.draws_
    weights, means, sigma = (np.asarray(a, dtype=float) for a in (draws.weights, draws.means, draws.sigma))
    out = np.empty((sigma.shape[0], X.shape[0]))
    for start in range(0, sigma.shape[0], chunk):
        s = slice(start, start + chunk)
        d = ((X[None, :, None, :] - means[s, None, :, :]) ** 2).sum(-1)  # (S, N, K)
        with np.errstate(divide="ignore"):
            log_w = np.log(weights[s])[:, None, :]
        var = sigma[s, None, None] ** 2
        out[s] = logsumexp(log_w - d / (2.0 * var), axis=-1) - 0.5 * X.shape[1] * np.log(2.0 * np.pi * var[:, :, 0])
    n_chains = int(estimator.num_chains) if estimator.inference == "mcmc" else 1
    return out.reshape(n_chains, -1, X.shape[0])


def loo_data(estimator: Any, X: Any) -> az.InferenceData:
    """The groups :func:`arviz.loo` needs: ``posterior`` (sigma and the weights) and ``log_likelihood`` (``x``).

    Lighter than ``estimator.idata_``, which also samples the prior and the predictive.

    Parameters
    ----------
    estimator : SphericalGMM
        Fitted with ``inference="mcmc"``.
    X : array_like, shape (n_samples, n_features)
        The data it was fitted on.

    Returns
    -------
    arviz.InferenceData

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from probkm import SphericalGMM
    >>> from probkm.selection.stacking import loo_data
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> nuts = SphericalGMM(2, inference="mcmc", n_temperatures=10, num_warmup=20, num_samples=20, num_chains=1, random_state=0)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     data = loo_data(nuts.fit(X), X)
    >>> dict(data.log_likelihood["x"].sizes)
    {'chain': 1, 'draw': 20, 'obs': 40}
    """
    ll = pointwise_log_likelihood(estimator, X)
    n_chains, n_draws = ll.shape[:2]
    draws = estimator.draws_
    posterior = {
        "sigma": np.asarray(draws.sigma, dtype=float).reshape(n_chains, n_draws),
        "weights": np.sort(np.asarray(draws.weights, dtype=float), axis=1).reshape(n_chains, n_draws, -1),
    }
    return az.from_dict(posterior=posterior, log_likelihood={"x": ll}, dims={"x": ["obs"], "weights": ["cluster"]})


def compare_loo(estimators: Mapping[int, Any], X: Any) -> tuple[Any, dict[int, str]]:
    """PSIS-LOO of each ``K`` and stacking weights, by :func:`arviz.compare`.

    Parameters
    ----------
    estimators : mapping of int to SphericalGMM
        NUTS fits by ``K``.
    X : array_like, shape (n_samples, n_features)
        The data they were fitted on.

    Returns
    -------
    table : pandas.DataFrame
        :func:`arviz.compare`'s table (``elpd_loo``, ``p_loo``, ``se``, ``weight``, ...),
        indexed by ``K``, in the order of ``estimators``.
    notes : dict
        ``{K: message}`` for each ``K`` whose PSIS-LOO ArviZ warned about (high Pareto k).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from probkm import SphericalGMM
    >>> from probkm.selection.stacking import compare_loo
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> fits = {}
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     for k in (1, 2):
    ...         fits[k] = SphericalGMM(k, inference="mcmc", n_temperatures=10, num_warmup=30, num_samples=30, num_chains=1, random_state=0).fit(X)
    ...     table, notes = compare_loo(fits, X)
    >>> round(float(table["weight"].sum()), 6), int(table["elpd_loo"].idxmax())
    (1.0, 2)
    """
    data = {int(k): loo_data(est, X) for k, est in estimators.items()}
    notes = {}
    for k, d in data.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            az.loo(d, pointwise=True)
        if caught:
            notes[k] = "; ".join(sorted({str(w.message).strip().splitlines()[0] for w in caught}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the high-Pareto-k warnings are in notes, once per K
        table = az.compare(data, ic="loo", method="stacking", scale="log")
    table = table.loc[list(data)]
    return table, notes


LOO_RULES = ("one_se", "best")


def choose_by_loo(table: Any, rule: str = "one_se") -> int:
    """The ``K`` that PSIS-LOO chooses from :func:`arviz.compare`'s table.

    ``"best"``: the highest ``elpd_loo``. ``"one_se"``: the smallest ``K`` whose ``elpd_loo`` is
    within one standard error of its difference from the best (``elpd_diff <= dse``). On
    overlapping clusters the elpd hardly changes past the true ``K`` (a superfluous component
    costs almost nothing out of sample), so the highest elpd is often a ``K`` too many by a
    fraction of a nat: in ``benchmarks/bench_select.py`` (part 4) it chose ``K + 1`` in 3 of 12
    fits, where the one-standard-error rule chose the true ``K`` in 11.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`arviz.compare`'s table indexed by ``K`` (columns ``elpd_loo``, ``elpd_diff``, ``dse``).
    rule : {"one_se", "best"}

    Returns
    -------
    int

    Examples
    --------
    >>> import pandas as pd
    >>> from probkm.selection.stacking import choose_by_loo
    >>> table = pd.DataFrame({"elpd_loo": [-120.0, -100.4, -100.0], "elpd_diff": [20.0, 0.4, 0.0], "dse": [6.0, 1.1, 0.0]}, index=[1, 2, 3])
    >>> choose_by_loo(table, "best"), choose_by_loo(table, "one_se")
    (3, 2)
    """
    best = int(table["elpd_loo"].idxmax())
    if rule == "best":
        return best
    close = [int(k) for k in table.index if table.loc[k, "elpd_diff"] <= table.loc[k, "dse"] or int(k) == best]
    return min(close)


def sample_stacked(estimators: Mapping[int, Any], weights: Mapping[int, float], n_samples: int, *, random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw from the mixture over ``K``: each point's ``K`` by its weight, then from that ``K``'s posterior predictive.

    Parameters
    ----------
    estimators : mapping of int to SphericalGMM
        Fitted models by ``K``.
    weights : mapping of int to float
        Their weights (summing to 1), e.g. stacking weights.
    n_samples : int
        Points to draw.
    random_state : int, numpy random state or None

    Returns
    -------
    X : ndarray, shape (n_samples, n_features)
    k : ndarray of int, shape (n_samples,)
        The ``K`` of the model each point came from.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm import SphericalGMM
    >>> from probkm.selection.stacking import sample_stacked
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> fits = {k: SphericalGMM(k, n_temperatures=10, random_state=0).fit(X) for k in (1, 2)}
    >>> X_new, k = sample_stacked(fits, {1: 0.25, 2: 0.75}, 200, random_state=0)
    >>> X_new.shape, sorted(set(k.tolist()))
    ((200, 2), [1, 2])
    """
    n_samples = check_positive_int("n_samples", n_samples)
    rng = np.random.default_rng(seed_from(random_state))
    ks = [int(k) for k in estimators]
    p = np.clip(np.array([float(weights[k]) for k in ks]), 0.0, None)
    counts = rng.multinomial(n_samples, p / p.sum())
    parts, labels = [], []
    for k, count in zip(ks, counts):
        if count:
            parts.append(estimators[k].sample(int(count), random_state=int(rng.integers(2**31 - 1)))[0])
            labels.append(np.full(count, k))
    order = rng.permutation(n_samples)
    return np.concatenate(parts)[order], np.concatenate(labels)[order]


__all__ = ["LOO_RULES", "pointwise_log_likelihood", "loo_data", "compare_loo", "choose_by_loo", "sample_stacked"]
