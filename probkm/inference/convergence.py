"""Warnings for fits that did not converge or degenerated, each with its remedy.

Each check emits at most one :class:`sklearn.exceptions.ConvergenceWarning` per fit, naming
what went wrong and what to try. Thresholds follow ArviZ's recommendations: split R-hat
above 1.01 (rank-normalised, ArviZ's ``rhat``), fewer than 100 effective draws per chain
(bulk ESS), any divergence.
"""

from __future__ import annotations

import warnings
from typing import Mapping

import numpy as np
from sklearn.exceptions import ConvergenceWarning

RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100


def _warn(message: str) -> None:
    # 4 frames up: _warn <- check_* <- the estimator's fit <- the user's call
    warnings.warn(message, ConvergenceWarning, stacklevel=4)


def check_nuts(posterior: Mapping[str, np.ndarray], diverging: np.ndarray | None) -> dict[str, float]:
    """Warn about divergences, high R-hat and low bulk ESS of relabelled draws.

    Parameters
    ----------
    posterior : mapping of str to numpy.ndarray
        Site name to ``(chain, draw, ...)`` draws, relabelled; must contain ``sigma``.
    diverging : numpy.ndarray of bool, shape (chain, draw), optional
        Which draws diverged.

    Returns
    -------
    dict of str to float
        The worst values found: ``{"divergences", "r_hat", "ess_bulk"}`` (R-hat needs
        several chains and both need 4 draws or more, else they are NaN).

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        One for each check that fails, naming the remedy.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.inference.convergence import check_nuts
    >>> draws = {"sigma": np.random.default_rng(0).normal(1.0, 0.1, size=(2, 500))}  # two well-mixed chains
    >>> worst = check_nuts(draws, np.zeros((2, 500), dtype=bool))
    >>> worst["divergences"], round(worst["r_hat"], 1), worst["ess_bulk"] > 200
    (0.0, 1.0, True)
    """
    n_chains, n_draws = np.shape(next(iter(posterior.values())))[:2]  # every site: (chain, draw, ...)
    worst = {"divergences": 0.0, "r_hat": float("nan"), "ess_bulk": float("nan")}
    if diverging is not None:
        count = int(np.sum(diverging))
        worst["divergences"] = float(count)
        if count:
            _warn(f"{count} of {diverging.size} post-warmup draws diverged; raise target_accept_prob (e.g. 0.95) or num_warmup.")
    if n_draws >= 4:
        import arviz as az

        draws = az.convert_to_dataset({k: np.asarray(v, dtype=float) for k, v in posterior.items()})
        ess = [float(v.min()) for v in az.ess(draws, method="bulk").values()]
        if n_chains > 1:
            worst["r_hat"] = max(float(v.max()) for v in az.rhat(draws).values())
            if worst["r_hat"] > RHAT_MAX:
                _warn(f"split R-hat reaches {worst['r_hat']:.3f} (> {RHAT_MAX}) after relabelling: the chains disagree; raise num_warmup and num_samples, or check n_components.")
        worst["ess_bulk"] = min(ess)
        if worst["ess_bulk"] < ESS_PER_CHAIN_MIN * n_chains:
            _warn(f"the smallest effective sample size is {worst['ess_bulk']:.0f} (< {ESS_PER_CHAIN_MIN} per chain); raise num_samples.")
    return worst


def check_losses(losses: np.ndarray, *, tol: float = 1e-4) -> None:
    """Warn when an iterative optimiser's loss was still falling at the end.

    Parameters
    ----------
    losses : numpy.ndarray, shape (num_steps,)
        The loss trace; fewer than 20 steps, or a non-finite tail, are not judged.
    tol : float, default 1e-4
        The relative fall, between the last two tenths of the run, that counts as still falling.

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        If the loss was still falling.

    Examples
    --------
    >>> import warnings, numpy as np
    >>> from probkm.inference.convergence import check_losses
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_losses(np.linspace(10.0, 1.0, 100))
    >>> print(caught[0].message)
    the SVI loss was still falling over the last 10 steps (2.31818 -> 1.40909); raise num_steps or use optimizer='bfgs'.
    """
    losses = np.asarray(losses, dtype=float)
    if losses.size < 20 or not np.all(np.isfinite(losses[-losses.size // 10 :])):
        return
    tail = max(losses.size // 10, 2)
    late, earlier = losses[-tail:].mean(), losses[-2 * tail : -tail].mean()
    if earlier - late > tol * max(abs(late), 1.0):
        _warn(f"the SVI loss was still falling over the last {tail} steps ({earlier:.6g} -> {late:.6g}); raise num_steps or use optimizer='bfgs'.")


def check_degenerate(weights: np.ndarray, sigma: float, *, n_obs: int, data_scale: float) -> None:
    """Warn about components that hold (almost) no data and about a collapsing sigma.

    Parameters
    ----------
    weights : numpy.ndarray, shape (n_clusters,)
        Fitted mixture weights.
    sigma : float
        Fitted sigma, in the units of the data.
    n_obs : int
        Number of points.
    data_scale : float
        The data's scale; a sigma below ``1e-3 * data_scale`` counts as collapsed.

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        For empty components, and for a collapsed sigma.

    Examples
    --------
    >>> import warnings, numpy as np
    >>> from probkm.inference.convergence import check_degenerate
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_degenerate(np.array([0.5, 0.5, 0.001]), 1.0, n_obs=100, data_scale=1.0)
    >>> print(caught[0].message)
    component(s) [2] hold less than half a data point: lower n_components.
    """
    weights = np.asarray(weights, dtype=float)
    empty = np.flatnonzero(weights * n_obs < 0.5)
    if empty.size:
        _warn(f"component(s) {empty.tolist()} hold less than half a data point: lower n_components.")
    if not np.isfinite(sigma) or sigma < 1e-3 * data_scale:
        _warn(f"sigma collapsed to {sigma:.3g} (data scale {data_scale:.3g}): there are duplicated points or too many components; lower n_components or raise sigma_scale.")
