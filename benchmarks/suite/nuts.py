"""The nuts suite: effective samples per second of probkm's NUTS against NumPyro, PyMC and BlackJAX.

Same data (blobs, K = 3, D = 2), the same priors (``probkm.core.models.data_prior_defaults``),
one chain of ``num_warmup`` adaptation steps and ``num_samples`` draws, target acceptance 0.8,
every sampler started at probkm's MAP point for that seed:

* ``probkm fit_nuts``: ``probkm.inference.nuts.fit_nuts`` on ``probkm.core.models.spherical_gmm``;
* ``NumPyro MVN`` / ``NumPyro Normal``: the textbook model,
  ``MixtureSameFamily(Categorical(w), MultivariateNormal(locs, scale_tril=sigma * I))`` or
  ``... Normal(locs, sigma).to_event(1)``, through one ``MCMC(NUTS(model), jit_model_args=True)``
  object reused for every call (warm: no recompilation after its first call);
* ``BlackJAX on probkm's density``: BlackJAX's NUTS with its window adaptation on the potential
  of ``spherical_gmm`` (NumPyro's ``potential_energy``), the whole run in one jitted function
  reused for every call: the same likelihood as probkm, another sampler;
* ``PyMC``: ``pm.Mixture`` of ``pm.MvNormal``, ``pm.sample`` with its default NUTS, chains=1,
  cores=1. PyTensor keeps compiled C modules on disk, so its warm calls only rebuild its graph.

Metric: the minimum bulk ESS (ArviZ) over every scalar of weights, means and sigma after
relabelling each draw to the MAP means, divided by the wall time of the whole call (warm-up
included).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from . import data as datasets

K, D = 3, 2


def settings(quick):
    return {"num_warmup": 100, "num_samples": 100} if quick else {"num_warmup": 500, "num_samples": 500}


def sizes(quick, override=None):
    if override:
        return list(override)
    return [500] if quick else [1_000, 10_000]


def _textbook(form):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    def model(x, *, loc_center, loc_scale, sigma_scale, n_components=K):
        # K is bound here, not passed: with jit_model_args every argument is traced
        n_dim = x.shape[1]
        weights = numpyro.sample("weights", dist.Dirichlet(jnp.ones(n_components)))
        with numpyro.plate("cluster", n_components):
            locs = numpyro.sample("means", dist.Normal(loc_center, loc_scale).to_event(1))
        sigma = numpyro.sample("sigma", dist.HalfNormal(sigma_scale))
        if form == "mvn":
            comps = dist.MultivariateNormal(locs, scale_tril=sigma * jnp.eye(n_dim))
        else:
            comps = dist.Normal(locs, sigma).to_event(1)
        with numpyro.plate("obs", x.shape[0]):
            numpyro.sample("x", dist.MixtureSameFamily(dist.Categorical(weights), comps), obs=x)

    return model


def min_ess(samples, reference):
    """Minimum bulk ESS over all scalars after relabelling to ``reference`` (one chain)."""
    import arviz as az

    from probkm.inference.relabel import relabel_samples

    relabelled = relabel_samples({k: np.asarray(samples[k], float) for k in ("weights", "means", "sigma")}, reference)
    ds = az.convert_to_dataset({k: v[None] for k, v in relabelled.items()})
    return min(float(v.min()) for v in az.ess(ds, method="bulk").values())


class Samplers:
    """Every sampler, built once per data shape and reused (warm) for every seed."""

    def __init__(self, n_obs, cfg, available):
        import jax
        import jax.numpy as jnp
        from numpyro.infer import MCMC, NUTS
        from numpyro.infer.util import constrain_fn, potential_energy

        from probkm.core.models import spherical_gmm

        self.cfg, self.available = cfg, available
        self.mcmc = {}
        for form in ("mvn", "normal"):
            kernel = NUTS(_textbook(form), target_accept_prob=0.8)
            self.mcmc[form] = MCMC(kernel, num_chains=1, progress_bar=False, jit_model_args=True, **cfg)
        if "blackjax" in available:
            import blackjax

            def run_blackjax(key, x, z0, loc_center, loc_scale, sigma_scale):
                kw = {"n_components": K, "loc_center": loc_center, "loc_scale": loc_scale, "sigma_scale": sigma_scale}

                def logdensity(z):
                    return -potential_energy(spherical_gmm, (x,), kw, z)

                key_warm, key_draw = jax.random.split(key)
                adapt = blackjax.window_adaptation(blackjax.nuts, logdensity, target_acceptance_rate=0.8)
                (state, params), _ = adapt.run(key_warm, z0, num_steps=cfg["num_warmup"])
                kernel = blackjax.nuts(logdensity, **params)

                def step(state, key):
                    state, info = kernel.step(key, state)
                    return state, (state.position, info.num_integration_steps, info.is_divergent)

                _, (pos, steps, div) = jax.lax.scan(step, state, jax.random.split(key_draw, cfg["num_samples"]))
                draws = jax.vmap(lambda z: constrain_fn(spherical_gmm, (x,), kw, z))(pos)
                return {k: draws[k] for k in ("weights", "means", "sigma")}, steps, div

            self.blackjax = jax.jit(run_blackjax)
        self.jnp = jnp

    def probkm(self, key, x, init, kw):
        import jax

        from probkm.core.models import spherical_gmm
        from probkm.inference.nuts import fit_nuts

        result = fit_nuts(key, x, spherical_gmm, init_values=init, num_chains=1, target_accept_prob=0.8, **self.cfg, **kw)
        samples = jax.block_until_ready(result.get_samples())
        fields = result.get_extra_fields()
        return samples, np.asarray(fields["num_steps"]), int(np.sum(fields["diverging"]))

    def numpyro(self, form, key, x, init_z, kw):
        import jax

        mcmc = self.mcmc[form]
        traced = {k: v for k, v in kw.items() if k != "n_components"}
        mcmc.run(key, x, init_params=init_z, extra_fields=("num_steps", "diverging"), **traced)
        samples = jax.block_until_ready(mcmc.get_samples())
        fields = mcmc.get_extra_fields()
        return samples, np.asarray(fields["num_steps"]), int(np.sum(fields["diverging"]))

    def run_blackjax(self, key, x, init_z, kw):
        import jax

        samples, steps, div = jax.block_until_ready(self.blackjax(key, x, init_z, kw["loc_center"], kw["loc_scale"], kw["sigma_scale"]))
        return samples, np.asarray(steps), int(np.sum(div))


def pymc_sample(X, kw, init, cfg, seed):
    """One ``pm.sample`` call (model built for this data), as a PyMC user writes it."""
    import pymc as pm

    with pm.Model():
        weights = pm.Dirichlet("weights", a=np.ones(K))
        means = pm.Normal("means", mu=np.asarray(kw["loc_center"]), sigma=np.asarray(kw["loc_scale"]), shape=(K, X.shape[1]))
        sigma = pm.HalfNormal("sigma", sigma=float(kw["sigma_scale"]))
        comps = pm.MvNormal.dist(mu=means, chol=sigma * np.eye(X.shape[1]), shape=(K, X.shape[1]))
        pm.Mixture("x", w=weights, comp_dists=comps, observed=X)
        idata = pm.sample(draws=cfg["num_samples"], tune=cfg["num_warmup"], chains=1, cores=1,
                          initvals={k: np.asarray(v) for k, v in init.items()}, random_seed=seed, target_accept=0.8,
                          progressbar=False, compute_convergence_checks=False)
    samples = {k: idata.posterior[k].values[0] for k in ("weights", "means", "sigma")}
    return samples, idata.sample_stats["n_steps"].values[0], int(idata.sample_stats["diverging"].values.sum())


def available_peers():
    out = {}
    for name in ("pymc", "blackjax"):
        try:
            __import__(name)
            out[name] = True
        except ImportError:
            out[name] = False
    return [k for k, v in out.items() if v]


TOOLS = ("probkm fit_nuts", "NumPyro MVN (reused MCMC)", "NumPyro Normal.to_event (reused MCMC)", "BlackJAX NUTS on probkm's density", "PyMC pm.sample")


def _problem(n_obs, seed):
    import jax.numpy as jnp
    from numpyro.infer.util import unconstrain_fn

    import probkm
    from probkm.core.models import data_prior_defaults, spherical_gmm

    X, _, _, _ = datasets.blobs(n_obs, K, D, seed)
    x = jnp.asarray(X, jnp.float32)
    kw = {"n_components": K, **data_prior_defaults(X)}
    kw = {k: (jnp.asarray(v, jnp.float32) if k != "n_components" else v) for k, v in kw.items()}
    map_point = probkm.SphericalGMM(K, random_state=seed).fit(X).map_
    init = {k: jnp.asarray(v, jnp.float32) for k, v in map_point.items()}
    init_z = unconstrain_fn(spherical_gmm, (x,), kw, init)
    np_kw = {k: v for k, v in kw.items()}
    return X, x, kw, np_kw, init, init_z, np.asarray(map_point["means"])


def _calls(samplers, X, x, kw, init, init_z, seed, cfg, peers):
    import jax

    key = jax.random.key(seed)
    calls = {
        TOOLS[0]: lambda: samplers.probkm(key, x, init, kw),
        TOOLS[1]: lambda: samplers.numpyro("mvn", key, x, init_z, kw),
        TOOLS[2]: lambda: samplers.numpyro("normal", key, x, init_z, kw),
    }
    if "blackjax" in peers:
        calls[TOOLS[3]] = lambda: samplers.run_blackjax(key, x, init_z, kw)
    if "pymc" in peers:
        calls[TOOLS[4]] = lambda: pymc_sample(X, kw, init, cfg, seed)
    return calls


def _record(n_obs, seed, tool, seconds, out, reference, kind):
    samples, steps, div = out
    ess = min_ess(samples, reference)
    return {"suite": "nuts", "case": f"N={n_obs} K={K} D={D}", "n_obs": n_obs, "seed": seed, "method": tool, kind: seconds,
            "min_ess": ess, "ess_per_s": ess / seconds, "steps_per_draw": float(np.mean(steps)), "divergences": div}


def run(seeds, quick, log, pymc_seeds=None, n_sizes=None, pymc_max_n=None):
    """Warm calls: each JAX sampler once untimed on the first seed, then one timed call per seed.

    PyMC runs on the first ``pymc_seeds`` seeds only (default all; its calls take minutes), at
    N <= ``pymc_max_n`` only (default every N), and without an untimed call: PyTensor's compiled
    modules are on disk from the first-call process.
    """
    warnings.filterwarnings("ignore")
    cfg, peers = settings(quick), available_peers()
    records = []
    for n_obs in sizes(quick, n_sizes):
        samplers = Samplers(n_obs, cfg, peers)
        for seed in seeds:
            X, x, kw, _, init, init_z, reference = _problem(n_obs, seed)
            calls = _calls(samplers, X, x, kw, init, init_z, seed, cfg, peers)
            if (pymc_seeds is not None and seed not in seeds[:pymc_seeds]) or (pymc_max_n is not None and n_obs > pymc_max_n):
                calls.pop(TOOLS[4], None)
            if seed == seeds[0]:
                for tool, fn in calls.items():
                    if tool != TOOLS[4]:
                        fn()
            for tool, fn in calls.items():
                start = time.perf_counter()
                out = fn()
                rec = _record(n_obs, seed, tool, time.perf_counter() - start, out, reference, "warm")
                records.append(rec)
                log(f"nuts N={n_obs} seed={seed} {tool}: {rec['warm']:.2f}s ESS {rec['min_ess']:.0f} ESS/s {rec['ess_per_s']:.1f} div {rec['divergences']}")
    return records, {"settings": {**cfg, "num_chains": 1, "K": K, "D": D, "target_accept": 0.8}, "pymc_seeds": pymc_seeds, "pymc_max_n": pymc_max_n,
                     "peers_missing": sorted({"pymc", "blackjax"} - set(peers))}


def first_calls(case_index, quick, log, n_sizes=None, pymc_max_n=None):
    """The first call of every sampler for one N, seed 0, in this fresh process (after the MAP start)."""
    warnings.filterwarnings("ignore")
    cfg, peers = settings(quick), available_peers()
    n_obs = sizes(quick, n_sizes)[case_index]
    X, x, kw, _, init, init_z, reference = _problem(n_obs, 0)
    samplers = Samplers(n_obs, cfg, peers)
    records = []
    calls = _calls(samplers, X, x, kw, init, init_z, 0, cfg, peers)
    if pymc_max_n is not None and n_obs > pymc_max_n:
        calls.pop(TOOLS[4], None)
    for tool, fn in calls.items():
        start = time.perf_counter()
        out = fn()
        rec = _record(n_obs, 0, tool, time.perf_counter() - start, out, reference, "first")
        records.append(rec)
        log(f"first call nuts N={n_obs} {tool}: {rec['first']:.2f}s ESS/s {rec['ess_per_s']:.1f}")
    return records


def n_cases(quick, n_sizes=None):
    return len(sizes(quick, n_sizes))
