"""The mathematics of probkm, written once.

Every model, estimator and diagnostic in probkm evaluates the shared-sigma spherical
mixture through the functions here (DESIGN section 1). ``x`` is ``(n_obs, n_dim)``,
``weights`` is ``(n_clusters,)`` on the simplex, ``locs`` is ``(n_clusters, n_dim)`` and
``sigma`` is a positive scalar in the units of ``x``. Leading batch dimensions on the
parameters broadcast.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

_LOG_2PI = 1.8378770664093453  # log(2 pi)


def squared_distances(x: Array, locs: Array) -> Array:
    """Squared Euclidean distances ``d_ik = ||x_i - mu_k||^2``, shape ``(..., n_obs, n_clusters)``.

    Uses the expanded form ``|x|^2 - 2 x.mu + |mu|^2``: it needs an ``(n_obs, n_clusters)``
    intermediate only (never ``n_obs x n_clusters x n_dim``) and runs as one matrix product.
    Rounding can make the expanded form slightly negative for points on a centroid,
    so it is clipped at zero.
    """
    x_sq = jnp.sum(x * x, axis=-1)[..., :, None]
    locs_sq = jnp.sum(locs * locs, axis=-1)[..., None, :]
    cross = jnp.einsum("...nd,...kd->...nk", x, locs)
    return jnp.maximum(x_sq - 2.0 * cross + locs_sq, 0.0)


def component_scores(x: Array, weights: Array, locs: Array, sigma: Array) -> Array:
    """``a_ik = log w_k - d_ik / (2 sigma^2)``, shape ``(..., n_obs, n_clusters)``."""
    sigma = jnp.asarray(sigma)[..., None, None]
    log_w = jnp.log(weights)[..., None, :]
    return log_w - squared_distances(x, locs) / (2.0 * sigma**2)


def _log_normaliser(sigma: Array, n_dim: int) -> Array:
    """``(D / 2) log(2 pi sigma^2)``, the per-point Gaussian normalising constant."""
    return 0.5 * n_dim * (_LOG_2PI + 2.0 * jnp.log(sigma))


def annealed_log_likelihood(
    x: Array, weights: Array, locs: Array, sigma: Array, temperature: Array = 1.0
) -> Array:
    """Pointwise annealed log-likelihood, shape ``(..., n_obs)``.

    ``l_T,i = T * logsumexp_k [a_ik / T] - (D / 2) log(2 pi sigma^2)``. At ``T = 1`` this is
    the marginal log-density of the shared-sigma spherical Gaussian mixture; as ``T -> 0``
    it tends to the classification log-likelihood ``max_k a_ik - (D/2) log(2 pi sigma^2)``.
    ``T * logsumexp(a / T)`` is evaluated as ``max a + T * log sum exp((a - max a) / T)``,
    which stays finite for any ``T > 0``.
    """
    temperature = jnp.asarray(temperature)[..., None]
    scores = component_scores(x, weights, locs, sigma)
    top = jnp.max(scores, axis=-1)
    soft = temperature * jnp.log(
        jnp.sum(jnp.exp((scores - top[..., None]) / temperature[..., None]), axis=-1)
    )
    return top + soft - _log_normaliser(jnp.asarray(sigma)[..., None], x.shape[-1])


def mixture_log_likelihood(x: Array, weights: Array, locs: Array, sigma: Array) -> Array:
    """Pointwise marginal log-density of the shared-sigma mixture, shape ``(..., n_obs)``.

    This *is* :func:`annealed_log_likelihood` at ``T = 1``.
    """
    return annealed_log_likelihood(x, weights, locs, sigma, 1.0)


def responsibilities(
    x: Array, weights: Array, locs: Array, sigma: Array, temperature: Array = 1.0
) -> Array:
    """Posterior assignment probabilities ``p(z_i = k | x_i)`` at temperature ``T``.

    Shape ``(..., n_obs, n_clusters)``; rows sum to one. At ``T = 1`` these are the mixture's
    responsibilities; as ``T -> 0`` they become one-hot nearest-centroid assignments
    (for equal weights).
    """
    temperature = jnp.asarray(temperature)[..., None, None]
    return jax.nn.softmax(component_scores(x, weights, locs, sigma) / temperature, axis=-1)


def log_sigma_derivatives(x: Array, weights: Array, locs: Array, sigma: Array) -> tuple[Array, Array]:
    """First and second derivatives of ``sum_i mixture_log_likelihood`` in ``u = log sigma``.

    With ``s = 1 / (2 sigma^2)`` and responsibilities ``r``: ``l' = 2 s sum_i E_r[d_i] - N D``
    and ``l'' = sum_i (4 s^2 Var_r[d_i] - 4 s E_r[d_i])``. Written out because the
    autodiff Hessian of the log-sum-exp overflows in float32 for far-apart clusters.
    """
    s = 1.0 / (2.0 * jnp.asarray(sigma) ** 2)
    dist = squared_distances(x, locs)
    resp = responsibilities(x, weights, locs, sigma)
    mean_d = jnp.sum(resp * dist, axis=-1)
    var_d = jnp.sum(resp * (dist - mean_d[..., None]) ** 2, axis=-1)
    n_obs, n_dim = x.shape[-2:]
    first = 2.0 * s * jnp.sum(mean_d, axis=-1) - n_obs * n_dim
    second = jnp.sum(4.0 * s**2 * var_d - 4.0 * s * mean_d, axis=-1)
    return first, second


def kmeans_objective_pointwise(x: Array, locs: Array) -> Array:
    """Each point's contribution to the k-means objective, ``min_k d_ik``, shape ``(..., n_obs)``."""
    return jnp.min(squared_distances(x, locs), axis=-1)


def nearest_centroid(x: Array, locs: Array) -> Array:
    """Index of each point's nearest centroid, shape ``(..., n_obs)``, dtype int32."""
    return jnp.argmin(squared_distances(x, locs), axis=-1).astype(jnp.int32)


def plugin_sigma(inertia: Array, n_obs: int, n_dim: int) -> Array:
    """Classification-likelihood MLE of sigma for a k-means solution: ``sqrt(J / (N D))``."""
    return jnp.sqrt(inertia / (n_obs * n_dim))


def sample_mixture(
    rng_key: Array, weights: Array, locs: Array, sigma: Array, sample_shape: tuple = ()
) -> tuple[Array, Array]:
    """Draw from the generative story ``z ~ Cat(w)``, ``x ~ N(mu_z, sigma^2 I)``.

    Returns ``(x, z)`` with shapes ``sample_shape + batch + (n_dim,)`` and
    ``sample_shape + batch``; the draws are i.i.d., so their order is already random.
    """
    key_z, key_x = jax.random.split(rng_key)
    batch = jnp.broadcast_shapes(weights.shape[:-1], locs.shape[:-2], jnp.shape(sigma))
    shape = tuple(sample_shape) + batch
    z = jax.random.categorical(key_z, jnp.log(weights), shape=shape)
    locs_b = jnp.broadcast_to(locs, shape + locs.shape[-2:])
    centre = jnp.take_along_axis(locs_b, z[..., None, None], axis=-2)[..., 0, :]
    noise = jax.random.normal(key_x, centre.shape, dtype=centre.dtype)
    return centre + jnp.asarray(sigma)[..., None] * noise, z.astype(jnp.int32)
