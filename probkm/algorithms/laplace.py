"""The Laplace approximation of sigma's posterior under the mixture, in ``log sigma``."""

from __future__ import annotations


import jax
import jax.numpy as jnp

from probkm.core.likelihood import log_sigma_derivatives_from_distances, observed_counts, squared_distances
from probkm.core.models import sigma_prior_distribution
from probkm.core.programs import compiled


@compiled(static_argnames=("prior_name",))
def log_sigma_laplace(x, weights, means, start, prior_scale, prior_name, tol=1e-6, max_iter=50, row_weights=None, observed=None):
    """Mode and sd of the mixture's posterior of ``u = log sigma``, with the means and weights held.

    Damped Newton steps from ``log start`` until a step is below ``tol``; the curvature at
    the mode gives the Laplace sd. One dimension, so the approximation is accurate for all
    but tiny data sets.

    Parameters
    ----------
    x : Array, shape (N, D)
        Data.
    weights : Array, shape (K,)
        Mixture weights, held.
    means : Array, shape (K, D)
        Means, held.
    start : float or Array
        A positive sigma to start from (the plug-in, say).
    prior_scale, prior_name
        Sigma's prior (:func:`probkm.core.models.sigma_prior_distribution`); ``prior_name``
        is static.
    tol : float, default 1e-6
        Stop once a Newton step is below this.
    max_iter : int, default 50
        Most Newton steps.
    row_weights : Array, shape (N,), optional
        Weight of each row (``sample_weight``; 0 on padding rows).
    observed : Array, shape (N, D), optional
        Nonzero where an entry is observed; the others are marginalised out (partial
        distances, each row counting its observed coordinates).

    Returns
    -------
    mode, sd : Array, shape ()
        Of ``log sigma``, in log units of ``x``.

    Examples
    --------
    With one cluster, the mode solves ``sum_i d_i / sigma^2 = N D - 1`` (the ``- 1`` is the
    Jacobian of ``log sigma``; this prior is almost flat), here ``sigma^2 = 4 / 7``:

    >>> import jax.numpy as jnp
    >>> from probkm.algorithms.laplace import log_sigma_laplace
    >>> x = jnp.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    >>> mode, sd = log_sigma_laplace(x, jnp.ones(1), jnp.zeros((1, 2)), 1.0, 100.0, "halfnormal")
    >>> round(float(mode), 3), round(0.5 * float(jnp.log(4 / 7)), 3), round(float(sd), 3)
    (-0.28, -0.28, 0.267)
    """
    prior = sigma_prior_distribution(prior_name, prior_scale)
    dist = squared_distances(x, means, observed)  # the same for every sigma
    n_dim = observed_counts(observed, x.shape[1])
    log_weights = jnp.log(weights)[None, :]

    def log_prior(u):  # density of u = log sigma: the prior on sigma times the Jacobian e^u
        return prior.log_prob(jnp.exp(u)) + u

    def derivatives(u):
        first, second = log_sigma_derivatives_from_distances(dist, log_weights, jnp.exp(u), n_dim, row_weights)
        return first + jax.grad(log_prior)(u), second + jax.hessian(log_prior)(u)

    def newton(carry):
        u, _, it = carry
        first, second = derivatives(u)
        step = jnp.clip(first / jnp.minimum(second, -1e-6), -0.5, 0.5)
        return u - step, jnp.abs(step), it + 1

    def keep_going(carry):
        _, step, it = carry
        return (step > tol) & (it < max_iter)

    u0 = jnp.log(jnp.asarray(start, x.dtype))
    mode, _, _ = jax.lax.while_loop(keep_going, newton, (u0, jnp.asarray(jnp.inf, x.dtype), 0))
    return mode, 1.0 / jnp.sqrt(jnp.maximum(-derivatives(mode)[1], 1e-12))
