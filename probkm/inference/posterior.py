"""NUTS on standardised data, draws relabelled and reported in the units of X.

The one path from data to posterior draws that every NUTS fit in probkm takes (the
estimator, the identifiability study and the main job): standardise ``X``
(:class:`probkm.core.scaling.Scaling`), carry the priors over exactly, run the compiled NUTS
driver (:func:`probkm.inference.nuts.fit_nuts`), relabel the draws (Stephens' algorithm or
Hungarian matching to a reference, :mod:`probkm.inference.relabel`) and map the draws and the sampler's energies back to
the units of ``X``. NUTS on raw float32 data far from the origin loses every digit of the
squared distances (at an offset of 1e6, sigma came out 30x too large with no warning).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from probkm.core.likelihood import observed_mask
from probkm.core.models import kmeans_objective_model, likelihood_is_density
from probkm.inference.nuts import fit_nuts
from probkm.inference.relabel import DEFAULT_RELABEL, permute_samples, relabel_permutations
from probkm.core.scaling import Scaling, as_jax
from probkm.core.shapes import pad_rows

_ENERGIES = ("potential_energy", "energy")


class Posterior(NamedTuple):
    """Relabelled NUTS draws in the units of ``X``.

    Attributes
    ----------
    samples : dict of str to numpy.ndarray
        Site name to ``(num_chains, num_samples, ...)`` float64 draws.
    sample_stats : dict of str to numpy.ndarray
        NumPyro's extra fields ``(num_chains, num_samples)``; the energies are those of the
        problem in the units of ``X`` (the standardised ones plus a constant).

    Examples
    --------
    >>> import jax, numpy as np
    >>> from probkm.core.models import spherical_gmm
    >>> from probkm.inference.posterior import sample_posterior
    >>> rng = np.random.default_rng(0)
    >>> X = 1000.0 + 100.0 * np.vstack([rng.normal(-2.0, 0.5, (20, 2)), rng.normal(2.0, 0.5, (20, 2))])
    >>> means = np.array([[800.0, 800.0], [1200.0, 1200.0]])
    >>> start = {"weights": np.full(2, 0.5), "means": means, "sigma": 50.0}
    >>> post = sample_posterior(jax.random.key(0), X, spherical_gmm, init_values=start, reference=means,
    ...                         num_warmup=50, num_samples=50, num_chains=1, n_components=2)
    >>> post.samples["means"].shape, post.sample_stats["diverging"].shape
    ((1, 50, 2, 2), (1, 50))
    """

    samples: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]


def sample_posterior(
    rng_key: jax.Array,
    X: np.ndarray,
    model: Callable,
    *,
    init_values: dict[str, Any],
    reference: np.ndarray,
    scaling: Scaling | None = None,
    num_warmup: int = 500,
    num_samples: int = 1000,
    num_chains: int = 2,
    chain_method: str = "sequential",
    target_accept_prob: float = 0.8,
    sample_weight: np.ndarray | None = None,
    progress_bar: bool = False,
    relabel: str = DEFAULT_RELABEL,
    **model_kwargs: Any,
) -> Posterior:
    """NUTS on ``model`` for the data ``X``, computed on standardised data.

    Parameters
    ----------
    rng_key : jax.Array
        JAX PRNG key.
    X : numpy.ndarray, shape (n_obs, n_dim)
        Data, in its own units; NaN entries are missing, marginalised out by the model
        (through its ``observed`` mask).
    model : callable
        A probkm model (or one with the same sites).
    init_values : dict of str to array_like
        Where every chain starts, site name to value in units of ``X``.
    reference : numpy.ndarray, shape (n_clusters, n_dim)
        Means in units of ``X`` that draws are relabelled to (Hungarian), or whose labelling
        Stephens' algorithm starts from.
    scaling : Scaling, optional
        The standardisation; ``Scaling.of(X, sample_weight)`` by default.
    num_warmup, num_samples, num_chains, chain_method, target_accept_prob
        As in :func:`probkm.inference.nuts.fit_nuts`.
    sample_weight : numpy.ndarray, shape (n_obs,), optional
        Weight of each row of ``X`` (an integer weight counts the row that many times).
    progress_bar : bool, default False
        One progress bar per chain, as in :func:`probkm.inference.nuts.fit_nuts`.
    relabel : {"stephens", "hungarian"}, default :data:`probkm.inference.relabel.DEFAULT_RELABEL`
        How draws are relabelled (:mod:`probkm.inference.relabel`): Stephens' KL algorithm on
        the classification probabilities of the data, or Hungarian matching of the means to
        ``reference``.
    **model_kwargs
        The model's keyword arguments in units of ``X`` (prior settings, ``tau``, a fixed
        ``sigma`` or fixed ``means``); their standardised counterparts give the same priors.
        With fixed means the draws keep their labels.

    Returns
    -------
    Posterior

    Examples
    --------
    >>> import jax, numpy as np
    >>> from probkm.core.models import spherical_gmm
    >>> from probkm.inference.posterior import sample_posterior
    >>> rng = np.random.default_rng(0)
    >>> X = 1000.0 + 100.0 * np.vstack([rng.normal(-2.0, 0.5, (20, 2)), rng.normal(2.0, 0.5, (20, 2))])
    >>> means = np.array([[800.0, 800.0], [1200.0, 1200.0]])
    >>> start = {"weights": np.full(2, 0.5), "means": means, "sigma": 50.0}
    >>> post = sample_posterior(jax.random.key(0), X, spherical_gmm, init_values=start, reference=means,
    ...                         num_warmup=50, num_samples=50, num_chains=1, n_components=2)
    >>> bool(np.allclose(post.samples["means"].mean(axis=(0, 1)), means, atol=50.0))  # in units of X
    True
    """
    X = np.asarray(X, dtype=float)
    scaling = Scaling.of(X, sample_weight) if scaling is None else scaling
    std_init = {k: jnp.asarray(v, dtype=jnp.result_type(float)) for k, v in scaling.params_forward(init_values).items()}
    # rows padded to a bucket, weighted by sample_weight: one compiled sampler serves many N
    x, rows = pad_rows(np.nan_to_num(scaling.forward(X), nan=0.0, copy=False), sample_weight)
    observed = observed_mask(X)
    n_entries = float(np.sum(rows)) * X.shape[1]
    if observed is not None:  # missing entries (0 in x) marginalised out; padding rows count as observed
        weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        n_entries = float(weights @ observed.sum(axis=1))
        observed = as_jax(np.concatenate([observed, np.ones((x.shape[0] - X.shape[0], X.shape[1]))]))
        model_kwargs = {**model_kwargs, "observed": observed}
    std_kwargs = scaling.model_kwargs(model_kwargs)
    result = fit_nuts(
        rng_key, as_jax(x), model, num_warmup=num_warmup, num_samples=num_samples,
        num_chains=num_chains, chain_method=chain_method, init_values=std_init,
        target_accept_prob=target_accept_prob, progress_bar=progress_bar, row_weights=as_jax(rows), **std_kwargs,
    )
    std_samples = {k: np.asarray(v, dtype=float) for k, v in result.get_samples(group_by_chain=True).items()}
    samples = scaling.params_backward(std_samples)
    if "means" in std_samples:  # fixed means name the components: nothing to relabel
        # relabelled on the standardised data (a permutation: the same in any units)
        perms = relabel_permutations(
            std_samples, scaling.forward(reference), method=relabel, x=x, row_weights=rows,
            fixed={k: std_kwargs[k] for k in ("weights", "sigma") if std_kwargs.get(k) is not None},
            temperature=float(std_kwargs.get("temperature", 1.0)), hard=model is kmeans_objective_model,
            observed=None if observed is None else np.asarray(observed),
        )
        samples = permute_samples(samples, perms)
    stats = {k: np.asarray(v) for k, v in result.get_extra_fields(group_by_chain=True).items()}
    shift = _potential_shift(
        scaling, (n_entries / X.shape[1], X.shape[1]), int(model_kwargs["n_components"]), "means" in samples, likelihood_is_density(model)
    )
    for name in _ENERGIES:
        if name in stats:
            stats[name] = np.asarray(stats[name], dtype=float) + shift
    return Posterior(samples, stats)


def _potential_shift(scaling: Scaling, shape: tuple[int, int], n_components: int, sampled_means: bool, x_is_density: bool) -> float:
    """``U_X - U_std``: the potential energy in units of X minus the standardised one.

    The potential energy is the negative log joint in NUTS's unconstrained coordinates. The
    log densities gain :meth:`Scaling.log_jacobians` (the means' only when they are sampled);
    sigma's unconstrained coordinate ``log sigma`` gains ``log scale``, whose Jacobian term
    cancels sigma's.
    """
    n_obs, n_dim = shape
    jac = scaling.log_jacobians(n_dim, n_components, x_is_density=x_is_density)
    # sigma's -log scale and its coordinate's +log scale cancel
    return -float(n_obs * jac["x"] + (jac["means"] if sampled_means else 0.0))
