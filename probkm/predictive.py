"""Prediction and generation from parameter draws of the shared-sigma mixture.

A fitted model is a set of draws ``weights (S, K)``, ``means (S, K, D)``, ``sigma (S,)``:
``S = 1`` for a MAP point, ``S = chains x draws`` for NUTS. Every function here averages
over the draws, so a MAP fit and a posterior share one code path.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import logsumexp

from probkm.likelihood import mixture_log_likelihood, responsibilities, sample_mixture


class Draws(NamedTuple):
    """Parameter draws: ``weights (S, K)``, ``means (S, K, D)``, ``sigma (S,)``."""

    weights: Array
    means: Array
    sigma: Array


def _map_draws(fn, draws: Draws, batch_size: int = 64):
    return jax.lax.map(lambda d: fn(*d), draws, batch_size=batch_size)


@jax.jit
def predictive_log_density(x: Array, draws: Draws) -> Array:
    """Log posterior-predictive density ``log (1/S) sum_s p(x_i | theta_s)``, shape ``(N,)``."""
    per_draw = _map_draws(lambda w, m, s: mixture_log_likelihood(x, w, m, s), draws)
    return logsumexp(per_draw, axis=0) - jnp.log(per_draw.shape[0])


@jax.jit
def predictive_responsibilities(x: Array, draws: Draws) -> Array:
    """Assignment probabilities averaged over draws, shape ``(N, K)``; rows sum to one."""
    per_draw = _map_draws(lambda w, m, s: responsibilities(x, w, m, s), draws)
    return jnp.mean(per_draw, axis=0)


def sample_predictive(rng_key: Array, n_samples: int, draws: Draws) -> tuple[Array, Array]:
    """``n_samples`` i.i.d. points from the posterior predictive, with their component labels.

    Each point takes a draw ``s`` uniformly at random, then ``z ~ Cat(w_s)`` and
    ``x ~ N(mu_{s,z}, sigma_s^2 I)``: i.i.d. draws from ``p(x_new | X)``. For a MAP point
    (``S = 1``) this is the plug-in mixture. Returns ``x (n, D)`` and ``labels (n,)``.
    """
    key_draw, key_x = jax.random.split(rng_key)
    index = jax.random.randint(key_draw, (n_samples,), 0, draws.sigma.shape[0])
    return sample_mixture(key_x, draws.weights[index], draws.means[index], draws.sigma[index])
