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
    """Warn about divergences, high R-hat and low bulk ESS of relabelled ``(chain, draw, ...)`` draws.

    :return: the worst values found: ``{"divergences", "r_hat", "ess_bulk"}``.
    """
    n_chains, n_draws = np.shape(posterior["sigma"])[:2]
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
    """Warn when an iterative optimiser's loss ``(num_steps,)`` was still falling at the end."""
    losses = np.asarray(losses, dtype=float)
    if losses.size < 20 or not np.all(np.isfinite(losses[-losses.size // 10 :])):
        return
    tail = max(losses.size // 10, 2)
    late, earlier = losses[-tail:].mean(), losses[-2 * tail : -tail].mean()
    if earlier - late > tol * max(abs(late), 1.0):
        _warn(f"the SVI loss was still falling over the last {tail} steps ({earlier:.6g} -> {late:.6g}); raise num_steps or use optimizer='bfgs'.")


def check_degenerate(weights: np.ndarray, sigma: float, *, n_obs: int, data_scale: float) -> None:
    """Warn about components that hold (almost) no data and about a collapsing sigma."""
    weights = np.asarray(weights, dtype=float)
    empty = np.flatnonzero(weights * n_obs < 0.5)
    if empty.size:
        _warn(f"component(s) {empty.tolist()} hold less than half a data point: lower n_components.")
    if not np.isfinite(sigma) or sigma < 1e-3 * data_scale:
        _warn(f"sigma collapsed to {sigma:.3g} (data scale {data_scale:.3g}): there are duplicated points or too many components; lower n_components or raise sigma_scale.")
