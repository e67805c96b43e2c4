"""NUTS effective samples per second: probkm vs a textbook NumPyro mixture vs PyMC.

Same data (a shared-sigma mixture, K=5, D=2 by default), same priors (Dirichlet(1) weights,
Normal(data mean, data sd) means, HalfNormal(pooled sd) sigma, from
``probkm.core.models.data_prior_defaults``), same settings (2 chains x (500 warmup + 500 draws),
target accept 0.8, every chain started at probkm's MAP point):

* ``probkm``: ``probkm.core.models.spherical_gmm``; ``textbook NumPyro``:
  ``dist.MixtureSameFamily(dist.Categorical(w), dist.MultivariateNormal(locs, scale_tril=sigma * I))``
  observed in a plate;
* ``fit_nuts``: both models through ``probkm.inference.nuts.fit_nuts`` (:mod:`probkm.inference.nuts`: NumPyro's own
  ``hmc`` kernel and adaptation in one kept, jitted ``lax.scan``), first call (compiles) and
  second call with a new key (warm: no compilation);
* ``MCMC.run``: both models through ``MCMC(NUTS(model)).run``, as a NumPyro user writes it; it
  traces and compiles on every call, even when the ``MCMC`` object is reused (``--mcmc-kept``
  shows it), so its times include compilation;
* ``PyMC``: ``pm.Mixture(w, pm.MvNormal.dist(mu=means, chol=sigma * I))``, ``pm.sample`` with
  its defaults (NUTS, ``jitter+adapt_diag`` from the MAP as ``initvals``), chains=2, cores=1
  (sequential, as NumPyro's ``chain_method="sequential"``), in a subprocess with
  ``OPENBLAS_NUM_THREADS=1``; PyTensor keeps its compiled C modules on disk, so a call in a
  fresh process is already warm (measured: 1st and 2nd call within 4%; ``--pymc-calls 2``).

Everything runs with ``OPENBLAS_NUM_THREADS=1`` (unless set otherwise): with OpenBLAS's default
threads on the shared 2-core machine, each value-and-gradient of the textbook model (whose
``MultivariateNormal`` calls LAPACK's triangular solve through OpenBLAS) stalled for ~16 ms
at N=1e3 instead of ~0.1 ms.

Effective samples: the minimum bulk ESS (ArviZ) over every scalar of ``weights``, ``means``
and ``sigma`` after relabelling each draw to the MAP means (``probkm.inference.relabel``), divided by the
wall time of the sampling call including warmup (and compilation, where it compiles). Steps per
draw is the mean number of leapfrog steps per post-warmup draw (the sampler's work, apart from the
cost of one gradient).

    python benchmarks/bench_nuts.py [--sizes 1000 10000] [--clusters 5] [--dim 2] [--no-pymc]
    python benchmarks/bench_nuts.py --quick      # N=1000, 200 + 200 draws
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: see the docstring

import numpy as np  # noqa: E402

WORKER_FLAG = "--pymc-worker"


# ---------------------------------------------------------------------------------------------
# PyMC, in its own process (OPENBLAS_NUM_THREADS must be set before numpy loads)
# ---------------------------------------------------------------------------------------------
def pymc_worker(in_path: str, out_path: str) -> None:
    import pymc as pm

    data = np.load(in_path)
    X, k = data["X"], int(data["k"])
    settings = json.loads(str(data["settings"]))
    n_dim = X.shape[1]
    with pm.Model() as model:
        weights = pm.Dirichlet("weights", a=np.ones(k))
        means = pm.Normal("means", mu=data["loc_center"], sigma=data["loc_scale"], shape=(k, n_dim))
        sigma = pm.HalfNormal("sigma", sigma=float(data["sigma_scale"]))
        comps = pm.MvNormal.dist(mu=means, chol=sigma * np.eye(n_dim), shape=(k, n_dim))
        pm.Mixture("x", w=weights, comp_dists=comps, observed=X)
        init = {"weights": data["init_weights"], "means": data["init_means"], "sigma": float(data["init_sigma"])}
        out = {"runs": settings["calls"]}
        logp_dlogp = model.logp_dlogp_function(ravel_inputs=True)
        logp_dlogp.set_extra_values({})
        point = model.initial_point()
        flat = np.concatenate([np.ravel(point[v.name]) for v in logp_dlogp._grad_vars])
        logp_dlogp(flat)
        times = []
        for _ in range(200):
            start = time.perf_counter()
            logp_dlogp(flat)
            times.append(time.perf_counter() - start)
        out["grad_seconds"] = float(np.median(times))
        for run in ("first", "second")[: settings["calls"]]:
            start = time.perf_counter()
            idata = pm.sample(
                draws=settings["num_samples"], tune=settings["num_warmup"], chains=settings["num_chains"],
                cores=settings["cores"], initvals=init, random_seed=settings["seed"] + len(out),
                target_accept=0.8, progressbar=False, compute_convergence_checks=False,
                discard_tuned_samples=False,
            )
            out[f"{run}_time"] = time.perf_counter() - start
            for name in ("weights", "means", "sigma"):
                out[f"{run}_{name}"] = idata.posterior[name].values
            out[f"{run}_n_steps"] = idata.sample_stats["n_steps"].values
            out[f"{run}_warmup_n_steps"] = idata.warmup_sample_stats["n_steps"].values
            out[f"{run}_diverging"] = idata.sample_stats["diverging"].values
    np.savez(out_path, **out)


def run_pymc(X, k, priors, map_point, args, seed):
    with tempfile.TemporaryDirectory() as tmp:
        in_path, out_path = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        settings = {"num_warmup": args.num_warmup, "num_samples": args.num_samples, "num_chains": args.num_chains,
                    "cores": args.pymc_cores, "seed": seed, "calls": args.pymc_calls}
        np.savez(
            in_path, X=X, k=k, settings=json.dumps(settings), loc_center=priors["loc_center"], loc_scale=priors["loc_scale"],
            sigma_scale=priors["sigma_scale"], init_weights=map_point["weights"], init_means=map_point["means"],
            init_sigma=map_point["sigma"],
        )
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), WORKER_FLAG, in_path, out_path],
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"PyMC worker failed:\n{proc.stderr[-4000:]}")
        res = np.load(out_path)
        return {key: res[key] for key in res.files}


# ---------------------------------------------------------------------------------------------
def main(argv=None):
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == WORKER_FLAG:
        warnings.filterwarnings("ignore")
        return pymc_worker(sys.argv[2], sys.argv[3])

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--clusters", type=int, default=5)
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--num-warmup", type=int, default=500)
    parser.add_argument("--num-samples", type=int, default=500)
    parser.add_argument("--num-chains", type=int, default=2)
    parser.add_argument("--pymc-cores", type=int, default=1, help="PyMC's cores (1: chains one after another)")
    parser.add_argument("--no-pymc", action="store_true")
    parser.add_argument("--pymc-calls", type=int, choices=(1, 2), default=1,
                        help="pm.sample calls per size (PyTensor caches its C modules on disk, so a 1st call in a fresh process is already compiled)")
    parser.add_argument("--mcmc-kept", action="store_true",
                        help="also run one MCMC object twice (warmup() then run()): shows it recompiles every call")
    parser.add_argument("--quick", action="store_true", help="N=1000, 200 warmup + 200 draws")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.num_warmup, args.num_samples = [1000], 200, 200

    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import collections
    import contextlib

    import arviz as az
    import jax
    import jax.monitoring
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS
    from numpyro.infer.initialization import init_to_value
    from numpyro.infer.util import initialize_model

    import probkm
    from probkm.inference.nuts import fit_nuts
    from probkm.core.models import data_prior_defaults, spherical_gmm
    from probkm.inference.relabel import relabel_samples

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_fit import make_data

    warnings.filterwarnings("ignore")
    compile_events = collections.defaultdict(float)
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, secs, **kw: compile_events.__setitem__(name, compile_events[name] + secs)
    )

    def compile_seconds():
        return sum(v for k, v in compile_events.items() if k.endswith(("jaxpr_trace_duration", "jaxpr_to_mlir_module_duration", "backend_compile_duration")))

    def textbook_gmm(x, *, n_components, loc_center, loc_scale, sigma_scale):
        n_dim = x.shape[1]
        weights = numpyro.sample("weights", dist.Dirichlet(jnp.ones(n_components)))
        with numpyro.plate("cluster", n_components):
            locs = numpyro.sample("means", dist.Normal(loc_center, loc_scale).to_event(1))
        sigma = numpyro.sample("sigma", dist.HalfNormal(sigma_scale))
        comps = dist.MultivariateNormal(locs, scale_tril=sigma * jnp.eye(n_dim))
        with numpyro.plate("obs", x.shape[0]):
            numpyro.sample("x", dist.MixtureSameFamily(dist.Categorical(weights), comps), obs=x)

    def min_ess(samples, reference):
        relabelled = relabel_samples({k: np.asarray(samples[k]) for k in ("weights", "means", "sigma")}, reference)
        ds = az.convert_to_dataset({k: np.asarray(v, dtype=float) for k, v in relabelled.items()})
        return min(float(v.min()) for v in az.ess(ds, method="bulk").values())

    print(f"{args.num_chains} chains x ({args.num_warmup} warmup + {args.num_samples} draws), K={args.clusters}, "
          f"D={args.dim}, jax {jax.__version__}, numpyro {numpyro.__version__}, {os.cpu_count()} CPUs", flush=True)
    rows, grads = [], []
    for n in args.sizes:
        k = args.clusters
        X = make_data(n, k, args.dim)
        x = jnp.asarray(X, jnp.float32)
        priors = data_prior_defaults(X)
        map_point = probkm.SphericalGMM(k, random_state=0).fit(X).map_
        init = {name: jnp.asarray(v, jnp.float32) for name, v in map_point.items()}
        model_kwargs = dict(n_components=k, **priors)
        settings = dict(num_warmup=args.num_warmup, num_samples=args.num_samples, num_chains=args.num_chains)

        grad_models = [("probkm", spherical_gmm, contextlib.nullcontext), ("textbook NumPyro", textbook_gmm, contextlib.nullcontext)]
        for tool, model, patch in grad_models:
            with patch():
                info = initialize_model(jax.random.key(0), model, model_args=(x,), model_kwargs=model_kwargs, init_strategy=init_to_value(values=init))
                value_and_grad = jax.jit(jax.value_and_grad(info.potential_fn))
                z = info.param_info.z
                jax.block_until_ready(value_and_grad(z))
                times = []
                for _ in range(200):
                    start = time.perf_counter()
                    jax.block_until_ready(value_and_grad(z))
                    times.append(time.perf_counter() - start)
                grads.append((n, tool, float(np.median(times))))

        def record(tool, mode, key, seconds, samples, steps, compiled, warmup_seconds=None, warmup_steps=None, div=0):
            ess = min_ess(samples, map_point["means"])
            row = dict(n=n, tool=tool, mode=mode, key=key, time=seconds, ess=ess, steps=float(np.mean(steps)),
                       compiled=compiled, div=div, warmup_time=warmup_seconds,
                       warmup_steps=None if warmup_steps is None else float(np.sum(warmup_steps)), sample_steps=float(np.sum(steps)))
            rows.append(row)
            print(f"N={n} {tool:<18} {mode:<36} {seconds:8.2f}s (compile {compiled:5.2f}s)  min ESS {ess:7.1f}  "
                  f"ESS/s {ess / seconds:8.2f}  steps/draw {row['steps']:5.1f}  divergences {div}", flush=True)

        def run_fit_nuts(tool, model, patch, seed, label, key):
            before = compile_seconds()
            start = time.perf_counter()
            with patch():
                result = fit_nuts(jax.random.key(seed), x, model, init_values=init, **settings, **model_kwargs)
                samples = jax.block_until_ready(result.get_samples(group_by_chain=True))
            seconds = time.perf_counter() - start
            fields = result.get_extra_fields(group_by_chain=True)
            record(tool, label, key, seconds, samples, fields["num_steps"], compile_seconds() - before,
                   div=int(np.sum(fields["diverging"])))

        def run_mcmc(tool, model, seed):
            before = compile_seconds()
            start = time.perf_counter()
            mcmc = MCMC(NUTS(model, init_strategy=init_to_value(values=init), target_accept_prob=0.8),
                        chain_method="sequential", progress_bar=False, **settings)
            mcmc.run(jax.random.key(seed), x, extra_fields=("num_steps", "diverging"), **model_kwargs)
            samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
            seconds = time.perf_counter() - start
            fields = mcmc.get_extra_fields(group_by_chain=True)
            record(tool, "MCMC.run (compiles every call)", "mcmc", seconds, samples, fields["num_steps"],
                   compile_seconds() - before, div=int(np.sum(fields["diverging"])))

        def kept(model):
            kernel = NUTS(model, init_strategy=init_to_value(values=init), target_accept_prob=0.8)
            return MCMC(kernel, chain_method="sequential", progress_bar=False, **settings)

        def run_kept(tool, mcmc, seed, label, key):
            """warmup() then run(), timed apart; warmup() restarts from the MAP every call."""
            before = compile_seconds()
            start = time.perf_counter()
            mcmc.warmup(jax.random.key(seed), x, extra_fields=("num_steps",), collect_warmup=True, **model_kwargs)
            warmup_steps = np.asarray(mcmc.get_extra_fields()["num_steps"])
            middle = time.perf_counter()
            mcmc.run(jax.random.key(seed + 100), x, extra_fields=("num_steps", "diverging"), **model_kwargs)
            samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
            end = time.perf_counter()
            fields = mcmc.get_extra_fields(group_by_chain=True)
            record(tool, label, key, end - start, samples, fields["num_steps"], compile_seconds() - before,
                   warmup_seconds=middle - start, warmup_steps=warmup_steps, div=int(np.sum(fields["diverging"])))

        if n == args.sizes[0]:
            # untimed: the first NUTS compile in a process pays one-off costs (measured 9 s vs 4.5 s
            # for the next); pay them on a tiny problem of another shape, for both models
            for model in (spherical_gmm, textbook_gmm):
                fit_nuts(jax.random.key(0), x[:50], model, init_values=init, num_warmup=5, num_samples=5,
                         num_chains=1, **model_kwargs)

        runs = [("probkm", spherical_gmm, contextlib.nullcontext), ("textbook NumPyro", textbook_gmm, contextlib.nullcontext)]
        # interleaved: 1st call of each model, then 2nd calls, then NumPyro's MCMC.run
        for tool, model, patch in runs:
            run_fit_nuts(tool, model, patch, 2, "fit_nuts, 1st call (compiles)", "first")
        for tool, model, patch in runs:
            run_fit_nuts(tool, model, patch, 3, "fit_nuts, 2nd call (warm)", "warm")
        run_mcmc("probkm", spherical_gmm, 1)
        run_mcmc("textbook NumPyro", textbook_gmm, 1)
        if args.mcmc_kept:
            kept_p, kept_t = kept(spherical_gmm), kept(textbook_gmm)
            run_kept("probkm", kept_p, 2, "MCMC kept, 1st call", "mcmc1")
            run_kept("textbook NumPyro", kept_t, 2, "MCMC kept, 1st call", "mcmc1")
            run_kept("probkm", kept_p, 3, "MCMC kept, 2nd call", "mcmc2")
            run_kept("textbook NumPyro", kept_t, 3, "MCMC kept, 2nd call", "mcmc2")

        if not args.no_pymc:
            res = run_pymc(X, k, priors, map_point, args, seed=4)
            grads.append((n, "PyMC", float(res["grad_seconds"])))
            calls = (("first", "pm.sample, 1st call in process", "warm" if args.pymc_calls == 1 else "first"),
                     ("second", "pm.sample, 2nd call", "warm"))[: args.pymc_calls]
            for run, label, key in calls:
                samples = {name: res[f"{run}_{name}"] for name in ("weights", "means", "sigma")}
                record(f"PyMC (cores={args.pymc_cores})", label, ("PyMC", key)[1], float(res[f"{run}_time"]), samples,
                       res[f"{run}_n_steps"], float("nan"), warmup_steps=res[f"{run}_warmup_n_steps"],
                       div=int(np.sum(res[f"{run}_diverging"])))
                rows[-1]["key"] = ("PyMC", key)

    print()
    print(f"### Target 3: NUTS, {args.num_chains} chains x ({args.num_warmup} + {args.num_samples}), K={args.clusters}, D={args.dim}")
    print()
    print("| N | tool | call | wall incl. warmup (s) | of which JAX compile (s) | warmup (s) | min bulk ESS | ESS/s | leapfrog steps/draw (sampling) | ms per leapfrog (warmup+sampling) | divergences |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        per_step = "-"
        if r["warmup_steps"] is not None:
            per_step = f"{1e3 * (r['time'] - (r['compiled'] if np.isfinite(r['compiled']) else 0)) / (r['warmup_steps'] + r['sample_steps']):.3f}"
        warm = "-" if r["warmup_time"] is None else f"{r['warmup_time']:.2f}"
        comp = "-" if not np.isfinite(r["compiled"]) else f"{r['compiled']:.2f}"
        print(f"| {r['n']} | {r['tool']} | {r['mode']} | {r['time']:.2f} | {comp} | {warm} | {r['ess']:.0f} | {r['ess'] / r['time']:.2f} | "
              f"{r['steps']:.1f} | {per_step} | {r['div']} |")
    print()
    print("| N | tool | one value-and-gradient of the log density (ms, median of 200 calls) |")
    print("|---|---|---|")
    for n, tool, sec in grads:
        print(f"| {n} | {tool} | {1e3 * sec:.3f} |")
    print()
    print("| N | ratio of ESS/s | value | target |")
    print("|---|---|---|---|")
    for n in args.sizes:
        rate = {r["key"] if isinstance(r["key"], tuple) else (r["tool"], r["key"]): r["ess"] / r["time"] for r in rows if r["n"] == n}
        first_p, warm_p, mcmc_p = rate[("probkm", "first")], rate[("probkm", "warm")], rate[("probkm", "mcmc")]
        warm_t, mcmc_t = rate[("textbook NumPyro", "warm")], rate[("textbook NumPyro", "mcmc")]
        print(f"| {n} | probkm fit_nuts, 2nd call / textbook NumPyro through fit_nuts, 2nd call (same driver, warm) | {warm_p / warm_t:.2f} | >= 2 |")
        print(f"| {n} | probkm fit_nuts, 2nd call / textbook NumPyro MCMC.run | {warm_p / mcmc_t:.2f} | >= 2 |")
        print(f"| {n} | probkm fit_nuts, 1st call / textbook NumPyro MCMC.run (both compile) | {first_p / mcmc_t:.2f} | >= 2 |")
        print(f"| {n} | probkm fit_nuts, 2nd call / probkm model through MCMC.run (fit_nuts before probkm.inference.nuts) | {warm_p / mcmc_p:.2f} | - |")
        if ("PyMC", "warm") in rate:
            warm_pm = rate[("PyMC", "warm")]
            print(f"| {n} | probkm fit_nuts, 1st call / PyMC | {first_p / warm_pm:.2f} | >= 5 |")
            print(f"| {n} | probkm fit_nuts, 2nd call / PyMC | {warm_p / warm_pm:.2f} | >= 5 |")

if __name__ == "__main__":
    main()
