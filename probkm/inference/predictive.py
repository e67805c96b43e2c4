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

from probkm.core.exported import serializable
from probkm.core.likelihood import component_scores, mixture_log_likelihood, responsibilities, sample_mixture
from probkm.core.programs import compiled


@serializable
class Draws(NamedTuple):
    """Parameter draws of the shared-sigma mixture.

    Attributes
    ----------
    weights : Array, shape (S, K)
        Mixture weights.
    means : Array, shape (S, K, D)
        Component means.
    sigma : Array, shape (S,)
        Shared standard deviations.

    Examples
    --------
    A MAP point is one draw:

    >>> import jax.numpy as jnp
    >>> from probkm.inference.predictive import Draws
    >>> point = Draws(jnp.array([[0.5, 0.5]]), jnp.array([[[0.0, 0.0], [4.0, 0.0]]]), jnp.array([1.0]))
    >>> point.weights.shape, point.means.shape, point.sigma.shape
    ((1, 2), (1, 2, 2), (1,))
    """

    weights: Array
    means: Array
    sigma: Array


def _map_draws(fn, draws: Draws, batch_size: int = 64):
    return jax.lax.map(lambda d: fn(*d), draws, batch_size=batch_size)


@compiled(on_disk=True)
def predictive_log_density(x: Array, draws: Draws, observed: Array | None = None) -> Array:
    """Log posterior-predictive density ``log (1/S) sum_s p(x_i | theta_s)``.

    Parameters
    ----------
    x : Array, shape (N, D)
        Points.
    draws : Draws
        ``S`` parameter draws.
    observed : Array, shape (N, D), optional
        Nonzero where an entry of ``x`` is observed: the density of the observed coordinates,
        the others marginalised out.

    Returns
    -------
    Array, shape (N,)

    Examples
    --------
    Two draws that differ only in their labels predict as either one:

    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import mixture_log_likelihood
    >>> from probkm.inference.predictive import Draws, predictive_log_density
    >>> w, m, x = jnp.array([0.3, 0.7]), jnp.array([[0.0, 0.0], [4.0, 0.0]]), jnp.array([[0.0, 1.0], [3.0, 0.0]])
    >>> draws = Draws(jnp.stack([w, w[::-1]]), jnp.stack([m, m[::-1]]), jnp.array([1.0, 1.0]))
    >>> bool(jnp.allclose(predictive_log_density(x, draws), mixture_log_likelihood(x, w, m, 1.0)))
    True
    """
    per_draw = _map_draws(lambda w, m, s: mixture_log_likelihood(x, w, m, s, observed), draws)
    return logsumexp(per_draw, axis=0) - jnp.log(per_draw.shape[0])


@compiled(on_disk=True)
def predictive_responsibilities(x: Array, draws: Draws, observed: Array | None = None) -> Array:
    """Assignment probabilities averaged over draws.

    Parameters
    ----------
    x : Array, shape (N, D)
        Points.
    draws : Draws
        ``S`` parameter draws, relabelled so that component ``k`` means the same in each.
    observed : Array, shape (N, D), optional
        Nonzero where an entry of ``x`` is observed: assignments given the observed coordinates.

    Returns
    -------
    Array, shape (N, K)
        Rows sum to one.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.inference.predictive import Draws, predictive_responsibilities
    >>> point = Draws(jnp.array([[0.5, 0.5]]), jnp.array([[[0.0, 0.0], [4.0, 0.0]]]), jnp.array([1.0]))
    >>> resp = predictive_responsibilities(jnp.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]]), point)
    >>> resp.round(3).tolist()
    [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    """
    per_draw = _map_draws(lambda w, m, s: responsibilities(x, w, m, s, observed=observed), draws)
    return jnp.mean(per_draw, axis=0)


@compiled(static_argnames=("sample",))
def predictive_impute(rng_key: Array, x: Array, draws: Draws, observed: Array, *, sample: bool = False) -> Array:
    """``x`` with each missing entry replaced from the posterior predictive given the row's observed coordinates.

    Under draw ``s`` a point's coordinates are independent given its component, so the
    missing ones follow ``sum_k r_sik N(mu_sk, sigma_s^2)`` with ``r_si`` the responsibilities of
    the observed coordinates. Over draws, draw ``s`` has weight ``p(x_i,obs | theta_s)`` (normalised
    over ``s``): the predictive of a new point conditioned on what it shows. ``sample=False``
    gives the conditional expectation ``sum_s sum_k q_sik mu_sk`` (``q_sik`` the joint weight of
    draw and component); ``sample=True`` draws ``(s, k)`` from ``q_si`` and adds
    ``N(0, sigma_s^2)`` noise, one draw per row.

    Parameters
    ----------
    rng_key : Array
        JAX PRNG key (used only when ``sample``).
    x : Array, shape (N, D)
        Points; unobserved entries may hold anything.
    draws : Draws
        ``S`` parameter draws, relabelled.
    observed : Array, shape (N, D)
        Nonzero where an entry of ``x`` is observed; those entries are returned unchanged.
    sample : bool, default False
        Draw instead of taking the expectation (static).

    Returns
    -------
    Array, shape (N, D)

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from probkm.inference.predictive import Draws, predictive_impute
    >>> point = Draws(jnp.array([[0.5, 0.5]]), jnp.array([[[0.0, 0.0], [4.0, 4.0]]]), jnp.array([1.0]))
    >>> x = jnp.array([[0.2, jnp.nan], [jnp.nan, 3.9]])
    >>> np.asarray(predictive_impute(jax.random.key(0), x, point, ~jnp.isnan(x)), float).round(2).tolist()
    [[0.2, 0.0], [4.0, 3.9]]
    """
    mask = jnp.asarray(observed) > 0
    x = jnp.where(mask, x, 0.0)
    # joint weight of (draw, component) per row: p(s | x_obs) r_sik, from each draw's log densities
    log_q = _map_draws(lambda w, m, s: component_scores(x, w, m, s, mask), draws)  # (S, N, K)
    log_q = log_q - jnp.sum(mask, axis=-1)[None, :, None] * jnp.log(draws.sigma)[:, None, None]
    q = jax.nn.softmax(jnp.moveaxis(log_q, 0, 1).reshape(x.shape[0], -1), axis=-1)  # (N, S K)
    means = draws.means.reshape(-1, x.shape[1])  # (S K, D)
    if sample:
        key_pick, key_noise = jax.random.split(rng_key)
        pick = jax.random.categorical(key_pick, jnp.log(q))
        sigma = jnp.repeat(draws.sigma, draws.means.shape[1])[pick]
        fill = means[pick] + sigma[:, None] * jax.random.normal(key_noise, x.shape, x.dtype)
    else:
        fill = q @ means
    return jnp.where(mask, x, fill)


def sample_predictive(rng_key: Array, n_samples: int, draws: Draws) -> tuple[Array, Array]:
    """``n_samples`` i.i.d. points from the posterior predictive, with their component labels.

    Each point takes a draw ``s`` uniformly at random, then ``z ~ Cat(w_s)`` and
    ``x ~ N(mu_{s,z}, sigma_s^2 I)``: i.i.d. draws from ``p(x_new | X)``. For a MAP point
    (``S = 1``) this is the plug-in mixture.

    Parameters
    ----------
    rng_key : Array
        JAX PRNG key.
    n_samples : int
        Number of points ``n``.
    draws : Draws
        ``S`` parameter draws.

    Returns
    -------
    x : Array, shape (n, D)
        The points.
    labels : Array of int32, shape (n,)
        Their components.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from probkm.inference.predictive import Draws, sample_predictive
    >>> point = Draws(jnp.array([[0.5, 0.5]]), jnp.array([[[0.0, 0.0], [40.0, 0.0]]]), jnp.array([1.0]))
    >>> x, labels = sample_predictive(jax.random.key(0), 10, point)
    >>> x.shape, bool(((x[:, 0] > 20) == (labels == 1)).all())
    ((10, 2), True)
    """
    key_draw, key_x = jax.random.split(rng_key)
    index = jax.random.randint(key_draw, (n_samples,), 0, draws.sigma.shape[0])
    return sample_mixture(key_x, draws.weights[index], draws.means[index], draws.sigma[index])
