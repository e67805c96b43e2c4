"""How many clusters: probkm's K-scan beside R's mclust on the same model (EII: spherical, one shared variance).

mclust is a reference here, never a dependency (Debian: ``apt-get install -y r-cran-mclust``). It
runs through ``Rscript`` in a subprocess; probkm runs in this process. Both get the same cores
and threads (``--threads N``, default 1): the affinity mask ``0 .. N-1`` (inherited by every
child process), JAX through ``XLA_FLAGS="--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=N"`` (and a scan's fits run one per usable core at a time), R through
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS``. Four measurements:

1. **Log-likelihood per K = 1..12** on standardised (column mean 0, sd 1 with ddof=0) iris,
   wine, breast cancer and digits: probkm's ``SphericalGMM(K)`` MAP with default settings, and
   with the stronger starts ``select_n_components`` can ask for (``--strong``: ``n_init=10,
   map_restarts=3``), against ``Mclust(X, G=K, modelNames="EII")$loglik``. The gap is in
   nats per point (probkm minus mclust; negative means probkm found a lower maximum). probkm's
   MAP carries weak priors, so its log-likelihood at the MAP may sit a hair below the MLE.
2. **Time of a BIC scan K = 1..16** on N = 10,000, D = 4: ``select_n_components(X, range(1, 17))``
   (which gives BIC, AIC and ICL) in a fresh process with an empty compilation cache (first
   call, then warm calls) and in a second fresh process with that cache filled, ``--repeats``
   times, against ``mclustBIC`` plus ``mclustICL`` over the same ``G`` in one R process (first
   call, then warm calls). Kept per thread count: run it with ``--threads 1`` and ``--threads 2``.
3. **K recovery** on shared-sigma mixtures, K = 2..15 well separated (``separation=12``,
   sigma 1, D = 2, N = 1,000), 10 seeds each, by BIC (probkm and mclust, scanning K = 1..16) and
   by the annealing staircase (K_max = 16); and a confusion table (true K against chosen K) for
   overlapping clusters (``separation=4``, K = 2..8).
4. **LOO and stacking on overlapping clusters** (the data of part 3's overlap rows, K = 2..5,
   3 seeds, scanning K = 1..K+3): the K of the highest PSIS-LOO elpd, the K that
   ``select_n_components(criterion="loo")`` chooses (by default the smallest K whose elpd is
   within one standard error of its difference from the best), the one BIC chooses on the same
   scan, the stacking weight on the true K and the stack's mean K.

    python benchmarks/bench_select.py                # everything (about an hour on 2 cores)
    python benchmarks/bench_select.py --parts 1      # one part; --quick for a smoke run
    python benchmarks/bench_select.py --parts 4      # LOO and stacking (about 15 minutes on 2 cores)

Raw results go to ``benchmarks/results/select.json`` and the tables to
``benchmarks/results/select.md``, both stamped with the git commit.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATASETS = ("iris", "wine", "breast_cancer", "digits")


def _set_threads(n: int) -> dict[str, str]:
    """Thread settings for both sides; JAX reads XLA_FLAGS at import, so call this first."""
    env = {"OMP_NUM_THREADS": str(n), "OPENBLAS_NUM_THREADS": str(n), "MKL_NUM_THREADS": str(n)}
    os.environ.update(env)
    os.environ["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={n}"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    # the same cores for both sides: this process and every child (Rscript, the timing children)
    os.sched_setaffinity(0, set(range(min(n, os.cpu_count() or n))))
    return {**os.environ, **env}


def _rscript(code: str, env: dict[str, str]) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as handle:
        handle.write(code)
    try:
        run = subprocess.run(["Rscript", "--vanilla", handle.name], capture_output=True, text=True, env=env, check=False)
    finally:
        os.unlink(handle.name)
    if run.returncode:
        raise RuntimeError(f"Rscript failed:\n{run.stderr[-3000:]}")
    return run.stdout


def _write_csvs(folder: Path, arrays: dict[str, "np.ndarray"]) -> None:
    import numpy as np

    for name, X in arrays.items():
        np.savetxt(folder / f"{name}.csv", X, delimiter=",", fmt="%.17g")


def _standardised(name: str):
    import numpy as np

    from probkm.datasets import load_bundled

    X = load_bundled(name).X
    sd = X.std(axis=0)  # ddof=0, like StandardScaler
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _probkm_fit(X, k: int, **params):
    import probkm

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gmm = probkm.SphericalGMM(k, random_state=0, **params).fit(X)
    return gmm, sorted({str(w.message)[:60] for w in caught if "ArviZ" not in str(w.message)})


def _map_from(gmm, X, weights, means, sigma) -> tuple[float, float]:
    """probkm's MAP optimiser started at (weights, means, sigma) in units of X, with ``gmm``'s
    priors: (log joint, log-likelihood) of the optimum it reaches, both in standardised units
    for the log joint (comparable with :func:`_log_joint`) and units of X for the likelihood."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from scipy.special import logsumexp

    from probkm.core.models import spherical_gmm
    from probkm.inference.map import fit_map

    scaling, k = gmm.scaling_, len(weights)
    kwargs = {a: b for a, b in scaling.model_kwargs(gmm.model_kwargs_).items() if a != "n_components"}
    init = {"weights": jnp.asarray(weights)[None], "means": jnp.asarray(scaling.forward(np.asarray(means)))[None],
            "sigma": jnp.asarray([sigma / scaling.scale])}
    found = fit_map(jax.random.key(0), jnp.asarray(scaling.forward(X)), spherical_gmm, init, num_steps=1, n_components=k, **kwargs)
    w, m, s = (np.asarray(found.params[name], dtype=float) for name in ("weights", "means", "sigma"))
    m, s = scaling.backward(m), float(s) * scaling.scale
    d = ((X[:, None, :] - m[None]) ** 2).sum(-1)
    ll = logsumexp(np.log(w)[None] - 0.5 * d / s**2 - 0.5 * X.shape[1] * np.log(2 * np.pi * s**2), axis=1).sum()
    return -float(found.loss), float(ll)


def _log_joint(gmm, X) -> float:
    """``gmm``'s MAP log joint in standardised units (the objective its optimiser maximises)."""
    import jax.numpy as jnp

    from probkm.core.models import spherical_gmm
    from probkm.inference.map import negative_log_joints

    scaling, k = gmm.scaling_, gmm.n_components
    kwargs = {"n_components": k, **{a: b for a, b in scaling.model_kwargs(gmm.model_kwargs_).items() if a != "n_components"}}
    point = {"weights": jnp.asarray(gmm.weights_)[None], "means": jnp.asarray(scaling.forward(gmm.means_))[None], "sigma": jnp.asarray([gmm.sigma_ / scaling.scale])}
    return -float(negative_log_joints(jnp.asarray(scaling.forward(X)), point, kwargs, spherical_gmm)[0])


def part_loglik(env, k_max: int, strong: bool, datasets, save=lambda rows: None) -> list[dict]:
    """Measurement 1: log-likelihood per K against mclust's EII maximum, and the log joint of
    probkm's MAP against the MAP probkm's optimiser reaches from mclust's optimum (which
    separates the starts, judged by the objective they serve, from the prior's pull)."""
    import numpy as np

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        data = {name: _standardised(name) for name in datasets}
        _write_csvs(Path(folder), data)
        code = f"""suppressMessages(library(mclust))
for (name in c({", ".join(repr(n) for n in datasets)})) {{
  X <- as.matrix(read.csv(file.path("{folder}", paste0(name, ".csv")), header = FALSE))
  for (k in 1:{k_max}) {{
    t0 <- proc.time()[["elapsed"]]
    fit <- Mclust(X, G = k, modelNames = "EII", verbose = FALSE)
    ll <- if (is.null(fit)) NA else fit$loglik
    secs <- proc.time()[["elapsed"]] - t0
    cat(name, k, sprintf("%.10f", ll), secs, sprintf("%.17g", fit$parameters$variance$sigmasq), "|",
        sprintf("%.17g", fit$parameters$pro), "|", sprintf("%.17g", fit$parameters$mean), "\\n")
  }}
}}
"""
        mclust = {}
        for line in _rscript(code, env).splitlines():
            head, pro, mean = line.split("|")
            name, k, ll, secs, s2 = head.split()
            k = int(k)
            d = data[name].shape[1]
            mclust[(name, k)] = dict(ll=float(ll) if ll != "NA" else float("nan"), secs=float(secs), sigma=float(np.sqrt(float(s2))),
                                     weights=np.array(pro.split(), float), means=np.array(mean.split(), float).reshape(d, k, order="F").T)
    for name, X in data.items():
        n = X.shape[0]
        for k in range(1, k_max + 1):
            ref = mclust[(name, k)]
            t0 = time.perf_counter()
            gmm, notes = _probkm_fit(X, k)
            seconds = time.perf_counter() - t0
            ll = float(np.sum(gmm.score_samples(X)))
            joint = _log_joint(gmm, X)
            ref_joint, ref_ll = _map_from(gmm, X, ref["weights"], ref["means"], ref["sigma"])
            row = {"data": name, "n": n, "d": X.shape[1], "k": k, "mclust_loglik": ref["ll"], "mclust_s": ref["secs"],
                   "probkm_loglik": ll, "probkm_s": seconds, "gap_per_point": (ll - ref["ll"]) / n, "n_moves": gmm.n_moves_,
                   "joint_gap_per_point": (joint - ref_joint) / n, "prior_gap_per_point": (ref_ll - ref["ll"]) / n, "warnings": notes}
            if strong:
                strong_fit, _ = _probkm_fit(X, k, n_init=10, map_restarts=3)
                ll_s = float(np.sum(strong_fit.score_samples(X)))
                row.update(strong_loglik=ll_s, strong_gap_per_point=(ll_s - ref["ll"]) / n)
            rows.append(row)
            save(rows)  # written after every cell, so a long run can be read (or stopped) part way
            print(f"[loglik] {name} K={k}: gap {row['gap_per_point']:+.2e} nats/point, log joint {row['joint_gap_per_point']:+.2e}, "
                  f"prior {row['prior_gap_per_point']:+.2e}" + (f", strong {row['strong_gap_per_point']:+.2e}" if strong else ""), flush=True)
    return rows


TIMING_CHILD = """
import json, sys, time, warnings
from probkm.inference.compilation_cache import enable_compilation_cache
enable_compilation_cache(sys.argv[1])
import probkm
from probkm.datasets import synthetic_mixture
n, k_max = int(sys.argv[3]), int(sys.argv[4])
X = synthetic_mixture(n, n_components=6, n_features=4, sigma=1.0, separation=8.0, seed=0).X
out = {}
for label in sys.argv[2].split(","):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scan = probkm.select_n_components(X, range(1, k_max + 1), "bic", random_state=0)
    out.setdefault(label, []).append(time.perf_counter() - t0)
out["k"] = int(scan.n_components_)
print("RESULT " + json.dumps(out))
"""


def part_timing(env, n: int, k_max: int, threads: int, repeats: int) -> dict:
    """Measurement 2: a BIC (and ICL) scan K = 1..k_max, ``repeats`` times: each in a fresh
    process with an empty compilation cache (first call, then ``repeats`` warm calls) and in a
    second fresh process with that cache filled; mclust's first call and ``repeats`` warm calls
    in one R process. Both sides run on the same ``threads`` cores (the affinity mask, which the
    children inherit; probkm's scan runs one fit per usable core at a time)."""
    import numpy as np

    from probkm.datasets import synthetic_mixture

    X = synthetic_mixture(n, n_components=6, n_features=4, sigma=1.0, separation=8.0, seed=0).X
    result = {"n": n, "d": 4, "k_max": k_max, "threads": threads, "cores": sorted(os.sched_getaffinity(0))}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            child_env = {**env, "PROBKM_CACHE_DIR": cache, "PYTHONPATH": str(HERE.parent) + os.pathsep + env.get("PYTHONPATH", "")}
            for labels in (",".join(["first"] + ["warm"] * repeats), "cached"):
                run = subprocess.run([sys.executable, "-c", TIMING_CHILD, cache, labels, str(n), str(k_max)], capture_output=True, text=True, env=child_env, check=False)
                lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
                if run.returncode or not lines:
                    raise RuntimeError(f"the timing child failed:\n{run.stderr[-3000:]}")
                found = json.loads(lines[-1][len("RESULT "):])
                for label in set(labels.split(",")):
                    result.setdefault(f"probkm_{label}_s", []).extend(found[label])
                result["probkm_k"] = found["k"]
    first, cached, warm = (result[f"probkm_{label}_s"] for label in ("first", "cached", "warm"))
    print(f"[timing] probkm, {threads} thread(s): first {min(first):.1f}-{max(first):.1f} s, cached {min(cached):.1f}-{max(cached):.1f} s, "
          f"warm {min(warm):.2f}-{max(warm):.2f} s", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        np.savetxt(Path(folder) / "x.csv", X, delimiter=",", fmt="%.17g")
        labels = ", ".join(['"first"'] + ['"warm"'] * repeats)
        code = f"""suppressMessages(library(mclust))
X <- as.matrix(read.csv(file.path("{folder}", "x.csv"), header = FALSE))
for (label in c({labels})) {{
  t0 <- proc.time()[["elapsed"]]
  b <- mclustBIC(X, G = 1:{k_max}, modelNames = "EII", verbose = FALSE)
  i <- mclustICL(X, G = 1:{k_max}, modelNames = "EII", verbose = FALSE)
  cat(label, proc.time()[["elapsed"]] - t0, which.max(b[, "EII"]), "\\n")
}}
"""
        for line in _rscript(code, env).splitlines():
            label, secs, k = line.split()
            result.setdefault(f"mclust_{label}_s", []).append(float(secs))
            result["mclust_k"] = int(k)
    print(f"[timing] mclust: first {result['mclust_first_s'][0]:.1f} s, warm {min(result['mclust_warm_s']):.1f}-{max(result['mclust_warm_s']):.1f} s", flush=True)
    return result


def part_recovery(env, ks, seeds, separation: float, n: int, k_scan: int, with_mclust: bool) -> list[dict]:
    """Measurement 3: the chosen K by BIC (probkm, mclust) and by the staircase."""
    import numpy as np

    import probkm
    from probkm.datasets import synthetic_mixture

    data = {f"k{k}_s{s}": synthetic_mixture(n, n_components=k, n_features=2, sigma=1.0, separation=separation, seed=s).X for k in ks for s in seeds}
    rows = []
    for k in ks:
        for s in seeds:
            X = data[f"k{k}_s{s}"]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                bic = probkm.select_n_components(X, range(1, k_scan + 1), "bic", random_state=s)
                t1 = time.perf_counter()
                stairs = probkm.select_n_components(X, range(1, k_scan + 1), "annealing", random_state=s, n_bootstrap=0)
                t2 = time.perf_counter()
            rows.append({"true_k": k, "seed": s, "separation": separation, "bic_k": int(bic.n_components_), "icl_k": int(bic.candidates_[np.nanargmin([r["icl"] for r in bic.table_])]),
                         "staircase_k": int(stairs.n_components_), "bic_s": t1 - t0, "staircase_s": t2 - t1})
            print(f"[recovery sep={separation}] K={k} seed={s}: BIC {rows[-1]['bic_k']}, ICL {rows[-1]['icl_k']}, staircase {rows[-1]['staircase_k']}", flush=True)
    if with_mclust:
        with tempfile.TemporaryDirectory() as folder:
            _write_csvs(Path(folder), data)
            code = f"""suppressMessages(library(mclust))
for (f in list.files("{folder}", pattern = "csv$")) {{
  X <- as.matrix(read.csv(file.path("{folder}", f), header = FALSE))
  b <- mclustBIC(X, G = 1:{k_scan}, modelNames = "EII", verbose = FALSE)
  cat(sub(".csv", "", f), which.max(b[, "EII"]), "\\n")
}}
"""
            chosen = dict(line.split() for line in _rscript(code, env).splitlines())
        for row in rows:
            row["mclust_bic_k"] = int(chosen[f"k{row['true_k']}_s{row['seed']}"])
    return rows


def part_loo(ks, seeds, separation: float, n: int, extra_k: int) -> list[dict]:
    """Measurement 4: what PSIS-LOO and stacking choose on overlapping clusters, beside BIC on the same scan."""
    import numpy as np

    import probkm
    from probkm.datasets import synthetic_mixture

    rows = []
    for k in ks:
        for s in seeds:
            X = synthetic_mixture(n, n_components=k, n_features=2, sigma=1.0, separation=separation, seed=s).X
            scan = range(1, k + extra_k + 1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                loo = probkm.select_n_components(X, scan, "loo", random_state=s)
                secs = time.perf_counter() - t0
                bic = probkm.select_n_components(X, scan, "bic", random_state=s)
            frame = loo.to_frame()
            weights = {int(kk): float(w) for kk, w in loo.stacking_weights_.items()}
            rows.append({
                "true_k": k, "seed": s, "separation": separation, "n": n, "k_scan": int(scan[-1]),
                "loo_k": int(frame["elpd_loo"].idxmax()), "bic_k": int(bic.n_components_), "loo_1se_k": int(loo.n_components_),
                "weight_true": weights.get(k, 0.0), "stack_mean_k": float(sum(kk * w for kk, w in weights.items())),
                "weights": weights, "elpd": {int(kk): float(v) for kk, v in frame["elpd_loo"].items()},
                "se": {int(kk): float(v) for kk, v in frame["se"].items()}, "dse": {int(kk): float(v) for kk, v in frame["dse"].items()}, "loo_s": secs,
            })
            print(f"[loo sep={separation}] K={k} seed={s}: LOO {rows[-1]['loo_k']}, 1-SE {rows[-1]['loo_1se_k']}, BIC {rows[-1]['bic_k']}, "
                  f"weight on true K {rows[-1]['weight_true']:.2f}, stack mean K {rows[-1]['stack_mean_k']:.2f} ({secs:.0f} s)", flush=True)
    return rows


def _commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        # the code that ran: probkm and the benchmarks, not the results they write
        dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain", "--", "../probkm", ".", ":(exclude)results", ":(exclude)RESULTS.md"], capture_output=True, text=True).stdout
        return head + ("+uncommitted" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _r_version(env) -> str:
    try:
        return _rscript('cat(R.version.string, "; mclust", as.character(packageVersion("mclust")), "\\n")', env).strip()
    except (OSError, RuntimeError):
        return "unavailable"


def markdown(results: dict) -> str:
    """The tables of ``results`` (the JSON this script writes)."""
    import numpy as np

    lines = [f"# K selection: probkm against mclust (EII)", "", f"{results['r']}; threads per side in parts 1, 3 and 4: {results.get('threads', '-')}; part 2 says its own "
             f"(XLA_FLAGS intra_op_parallelism_threads, OMP/OPENBLAS/MKL_NUM_THREADS). Each part names the commit it measured and its command.", ""]

    def stamp(key):
        """Parts run at different times; each keeps the commit and command that produced it."""
        made = results.get("stamps", {}).get(key, {"commit": results.get("commit", "unknown"), "command": results.get("command", "")})
        cores = f" Both sides pinned to cores {made['cores']}." if made.get("cores") else ""
        return [f"Commit {made['commit']}. Command: `{made['command']}`.{cores}", ""]

    loglik = results.get("loglik")
    if loglik:
        strong = "strong_gap_per_point" in loglik[0]
        lines += ["## 1. Log-likelihood at each K: probkm minus mclust, nats per point", "",
                  *stamp("loglik"), "Standardised data (ddof=0). Negative: probkm's maximum is lower than mclust's; the target is never below -1e-3.",
                  "Default: `SphericalGMM(K, random_state=0)`." + (" Strong: `n_init=10, map_restarts=3`." if strong else ""), ""]
        names = list(dict.fromkeys(r["data"] for r in loglik))
        head = ["K"] + [f"{n} default" for n in names] + ([f"{n} strong" for n in names] if strong else [])
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for k in sorted({r["k"] for r in loglik}):
            by = {r["data"]: r for r in loglik if r["k"] == k}
            # a run written part way has no row yet for the later data sets' K
            cells = [f"{by[n]['gap_per_point']:+.1e}" + (" **miss**" if by[n]["gap_per_point"] < -1e-3 else "") if n in by else "" for n in names]
            if strong:
                cells += [f"{by[n]['strong_gap_per_point']:+.1e}" + (" **miss**" if by[n]["strong_gap_per_point"] < -1e-3 else "") if n in by else "" for n in names]
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        misses = [r for r in loglik if r["gap_per_point"] < -1e-3]
        lines += ["", f"Cells below -1e-3 with default settings: {len(misses)} of {len(loglik)}" + (": " + ", ".join(f"{r['data']} K={r['k']} ({r['gap_per_point']:+.1e})" for r in misses) if misses else "") + "."]
        if strong:
            misses = [r for r in loglik if r["strong_gap_per_point"] < -1e-3]
            lines += [f"With strong starts: {len(misses)} of {len(loglik)}" + (": " + ", ".join(f"{r['data']} K={r['k']} ({r['strong_gap_per_point']:+.1e})" for r in misses) if misses else "") + "."]
        if "joint_gap_per_point" in loglik[0]:
            # the MAP is not the MLE: split each gap into the starts' share and the prior's
            lines += ["", "### 1b. The starts, judged by the objective they serve", "",
                      "probkm's MAP log joint minus the log joint of the MAP that probkm's own optimiser reaches from mclust's optimum (same priors), "
                      "nats per point: negative means mclust's start leads to a better MAP than probkm's default starts did. "
                      "In brackets: the log-likelihood of that MAP minus mclust's maximum, the part of the gap above that is the prior's pull "
                      "(weak normal priors on the means, scale 1 pooled sd), which no start can remove. Moves: split-and-merge moves kept.", "",
                      "| K | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
            for k in sorted({r["k"] for r in loglik}):
                by = {r["data"]: r for r in loglik if r["k"] == k}
                cells = [f"{by[n]['joint_gap_per_point']:+.1e}" + (" **miss**" if by[n]["joint_gap_per_point"] < -1e-3 else "")
                         + f" ({by[n]['prior_gap_per_point']:+.1e}; {by[n]['n_moves']} moves)" if n in by else "" for n in names]
                lines.append(f"| {k} | " + " | ".join(cells) + " |")
            misses = [r for r in loglik if r["joint_gap_per_point"] < -1e-3]
            prior = [r for r in loglik if r["gap_per_point"] < -1e-3 and r["joint_gap_per_point"] >= -1e-3]
            lines += ["", f"Log joint below the MAP from mclust's optimum by more than 1e-3 per point: {len(misses)} of {len(loglik)}"
                      + (": " + ", ".join(f"{r['data']} K={r['k']} ({r['joint_gap_per_point']:+.1e})" for r in misses) if misses else "") + ". "
                      + f"Log-likelihood misses whose MAP is as good as mclust's start gives (the prior's): {len(prior)}"
                      + (": " + ", ".join(f"{r['data']} K={r['k']} (prior {r['prior_gap_per_point']:+.1e})" for r in prior) if prior else "") + "."]
        secs_p, secs_m = sum(r["probkm_s"] for r in loglik), sum(r["mclust_s"] for r in loglik)
        lines += [f"Total fit time: probkm {secs_p:.0f} s (default settings; includes compiling one program per data set), mclust {secs_m:.0f} s.", ""]
    timing = results.get("timing")
    if timing:
        def spread(values):
            values = np.asarray(values, dtype=float)
            return f"{np.median(values):.2f} [{values.min():.2f}, {values.max():.2f}]" if values.size > 1 else f"{values[0]:.2f}"

        runs = [timing[t] for t in sorted(timing, key=int)]
        lines += ["## 2. Time of a scan K = 1..{k_max} on N = {n}, D = {d}".format(**runs[0]), "",
                  "probkm: first call in a fresh process with an empty compilation cache (every program compiles), a fresh process with "
                  "that cache filled, and the first process again (warm). mclust compiles nothing: its first call is its cached one. "
                  "Both sides run on the same cores (the affinity mask) with the same thread counts; probkm's scan runs one fit per "
                  "usable core at a time. Seconds, median [range] over the runs.", ""]
        for run in runs:
            ratio = np.median(run["probkm_first_s"]) / np.median(run["mclust_warm_s"])
            lines += [*stamp(f"timing_{run['threads']}"), f"**{run['threads']} thread(s)**, cores {run['cores']}: probkm's first call is "
                      f"{ratio:.2f}x mclust's warm time; warm, {np.median(run['probkm_warm_s']) / np.median(run['mclust_warm_s']):.2f}x.", "",
                      "| | first call, empty cache | fresh process, cache filled | warm | chosen K |", "|---|---|---|---|---|",
                      f"| probkm `select_n_components` (BIC, AIC and ICL) | {spread(run['probkm_first_s'])} | {spread(run['probkm_cached_s'])} | "
                      f"{spread(run['probkm_warm_s'])} | {run['probkm_k']} |",
                      f"| mclust `mclustBIC` + `mclustICL` | {spread(run['mclust_first_s'])} | {spread(run['mclust_first_s'])} | "
                      f"{spread(run['mclust_warm_s'])} | {run['mclust_k']} |", ""]
    for key, title in (("recovery", "well separated"), ("overlap", "overlapping")):
        rec = results.get(key)
        if not rec:
            continue
        methods = [m for m in ("bic_k", "icl_k", "staircase_k", "mclust_bic_k") if m in rec[0]]
        lines += [f"## 3. K recovery, {title} clusters (separation {rec[0]['separation']}, sigma 1, D = 2)", "",
                  *stamp(key), "Correct out of seeds, per true K; in brackets the chosen K when wrong.", "",
                  "| true K | " + " | ".join(m.replace("_k", "") for m in methods) + " |", "|---|" + "---|" * len(methods)]
        for k in sorted({r["true_k"] for r in rec}):
            rows = [r for r in rec if r["true_k"] == k]
            cells = []
            for m in methods:
                wrong = sorted(r[m] for r in rows if r[m] != k)
                cells.append(f"{len(rows) - len(wrong)}/{len(rows)}" + (f" ({', '.join(map(str, wrong))})" if wrong else ""))
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        total = {m: sum(r[m] == r["true_k"] for r in rec) for m in methods}
        lines += ["| all | " + " | ".join(f"{total[m]}/{len(rec)}" for m in methods) + " |", ""]
        if key == "overlap":
            for m in methods:
                ks = sorted({r["true_k"] for r in rec})
                chosen = sorted({r[m] for r in rec})
                lines += [f"Confusion ({m.replace('_k', '')}): rows true K, columns chosen K.", "", "| true \\ chosen | " + " | ".join(map(str, chosen)) + " |", "|---|" + "---|" * len(chosen)]
                lines += [f"| {k} | " + " | ".join(str(sum(1 for r in rec if r['true_k'] == k and r[m] == c) or "") for c in chosen) + " |" for k in ks]
                lines += [""]
    loo = results.get("loo")
    if loo:
        lines += [f"## 4. LOO and stacking, overlapping clusters (separation {loo[0]['separation']}, sigma 1, D = 2, N = {loo[0]['n']})", "",
                  *stamp("loo"), f"NUTS at each K of the scan K = 1..K+{loo[0]['k_scan'] - loo[0]['true_k']} (default `SphericalGMM(inference=\"mcmc\")` settings), "
                  "PSIS-LOO and stacking weights by `arviz.compare`. LOO: the K of the highest elpd; 1-SE: the K `select_n_components` chooses, "
                  "the smallest K whose elpd is within one standard error of its difference from the highest (`elpd_diff <= dse`); BIC: the MAP scan over the same K. Weight: the stacking weight on the true K; "
                  "mean K: the stack's average K.", "",
                  "| true K | seed | LOO | 1-SE | BIC | weight on true K | stack mean K | true K's elpd below the best (dse) | time (s) |", "|---|---|---|---|---|---|---|---|---|"]
        for r in loo:
            def at(field, k):  # JSON keys are strings
                return r[field].get(str(k), r[field].get(k)) if field in r else None

            below, dse = max(r["elpd"].values()) - at("elpd", r["true_k"]), at("dse", r["true_k"])
            lines.append(f"| {r['true_k']} | {r['seed']} | {r['loo_k']} | {r['loo_1se_k']} | {r['bic_k']} | {r['weight_true']:.2f} | "
                         f"{r['stack_mean_k']:.2f} | {below:.1f}" + (f" ({dse:.1f})" if dse is not None else "") + f" | {r['loo_s']:.0f} |")
        count = {m: sum(r[m] == r["true_k"] for r in loo) for m in ("loo_k", "loo_1se_k", "bic_k")}
        lines += ["", f"Correct: LOO {count['loo_k']}/{len(loo)}, 1-SE {count['loo_1se_k']}/{len(loo)}, BIC {count['bic_k']}/{len(loo)}; "
                  f"median stacking weight on the true K {float(np.median([r['weight_true'] for r in loo])):.2f}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="1,2,3,4", help="comma list of 1 (log-likelihood), 2 (timing), 3 (recovery), 4 (LOO and stacking)")
    parser.add_argument("--threads", type=int, default=1, help="threads per side, and the cores 0..threads-1 both run on")
    parser.add_argument("--repeats", type=int, default=3, help="part 2: fresh processes, and warm calls in each")
    parser.add_argument("--strong", action="store_true", help="part 1: also n_init=10, map_restarts=3")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes")
    parser.add_argument("--datasets", default=None, help="part 1: comma list of iris, wine, breast_cancer, digits (default all)")
    parser.add_argument("--k-max", type=int, default=12, help="part 1: largest K")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    env = _set_threads(args.threads)
    parts = {int(p) for p in args.parts.split(",")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    previous = out / "select.json"
    results = json.loads(previous.read_text()) if previous.exists() else {}
    made = {"commit": _commit(), "command": " ".join(["python benchmarks/bench_select.py", *(argv if argv is not None else sys.argv[1:])]),
            "cores": sorted(os.sched_getaffinity(0))}
    stamps = results.setdefault("stamps", {})
    for key in ("loglik", "timing", "recovery", "overlap"):  # results from before per-part stamps
        if key in results and key not in stamps:
            stamps[key] = {"commit": results.get("commit", "unknown"), "command": results.get("command", "")}
    results["r"] = _r_version(env)
    if parts - {2}:  # part 2 keeps its thread count with each run
        results["threads"] = args.threads
    results.pop("commit", None), results.pop("command", None)
    for part, keys in ((1, ("loglik",)), (2, (f"timing_{args.threads}",)), (3, ("recovery", "overlap")), (4, ("loo",))):
        if part in parts:
            stamps.update({key: made for key in keys})
    if 2 in parts:  # first, so its first call really is the process's first compile of that shape
        timing = results.get("timing", {})
        if "n" in timing:  # one run from before runs were kept per thread count: measured again
            timing = {}
            stamps.pop("timing", None)
        timing[str(args.threads)] = part_timing(env, 2_000 if args.quick else 10_000, 4 if args.quick else 16, args.threads, 1 if args.quick else args.repeats)
        results["timing"] = timing
    def save(key):
        from probkm._files import atomic_write

        def write(rows):
            results[key] = rows
            atomic_write(out / "select.json", lambda tmp: tmp.write_text(json.dumps(results, indent=1)))
            atomic_write(out / "select.md", lambda tmp: tmp.write_text(markdown(results) + "\n"))
        return write

    if 1 in parts:
        names = args.datasets.split(",") if args.datasets else (DATASETS[:1] if args.quick else DATASETS)
        results["loglik"] = part_loglik(env, 3 if args.quick else args.k_max, args.strong, names, save=save("loglik"))
    if 3 in parts:
        ks, seeds = (range(2, 4), range(2)) if args.quick else (range(2, 16), range(10))
        k_scan = 5 if args.quick else 16
        results["recovery"] = part_recovery(env, ks, seeds, 12.0, 1_000, k_scan, with_mclust=True)
        results["overlap"] = part_recovery(env, range(2, 4) if args.quick else range(2, 9), seeds, 4.0, 1_000, k_scan, with_mclust=True)
    if 4 in parts:
        results["loo"] = part_loo(range(2, 4) if args.quick else range(2, 6), range(1) if args.quick else range(3), 4.0, 300 if args.quick else 1_000, 1 if args.quick else 3)
    from probkm._files import atomic_write

    atomic_write(out / "select.json", lambda tmp: tmp.write_text(json.dumps(results, indent=1)))
    text = markdown(results)
    atomic_write(out / "select.md", lambda tmp: tmp.write_text(text + "\n"))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
