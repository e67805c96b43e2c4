"""One benchmark driver: runs each suite at each thread setting in a fresh, pinned process,
saves raw results, and writes ``benchmarks/RESULTS.md`` and the README's table from them.

    python benchmarks/driver.py                                   # every suite, 1 thread and all cores, 5 seeds
    python benchmarks/driver.py --suites map,nuts --threads 1 --seeds 3
    python benchmarks/driver.py --quick --suites map --out /tmp/b  # a smoke run at tiny sizes
    python benchmarks/driver.py --report-only                     # rebuild the report from saved raw results

Each (suite, thread setting) runs in its own subprocess, started with the thread variables set
(``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``; for one thread also XLA's
``XLA_FLAGS``) and pinned with ``sched_setaffinity`` to one core or to every core before it
imports numpy or jax. First calls run in further fresh subprocesses (one per case, no persistent
compilation cache), each library's first fit timed once. Raw results:
``<out>/<suite>-<threads>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from suite import env as envmod  # no numpy/jax at import

SUITES = ("map", "kmeans", "hard", "nuts")


def _log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# child side: pinned before numpy / jax load
# ---------------------------------------------------------------------------------------------
def child(args):
    envmod.pin([int(c) for c in args.cores.split(",")])
    wall0, cpu0 = time.perf_counter(), envmod.process_cpu_seconds()
    seeds = list(range(args.seeds))
    out = {}
    if args.suite == "nuts":
        from suite import nuts

        if args.child == "first":
            out["first_calls"] = nuts.first_calls(args.case, args.quick, _log, _sizes(args), args.pymc_max_n)
        else:
            out["records"], out["extra"] = nuts.run(seeds, args.quick, _log, args.pymc_seeds, _sizes(args), args.pymc_max_n)
    else:
        from suite import clustering

        if args.child == "first":
            out["first_calls"] = clustering.first_calls(args.suite, args.case, args.quick, _log)
        else:
            out["records"] = clustering.run(args.suite, seeds, args.repeats, args.quick, _log)
            out["extra"] = {"matched": {"gmm_tol": clustering.GMM_MATCHED_TOL, "gmm_max_iter": clustering.GMM_MATCHED_MAX_ITER,
                                        "matched_repeats": clustering.MATCHED_REPEATS}}
            if args.suite == "hard":
                from suite.data import cached_large_sets

                out["extra"]["cached_large_sets"] = cached_large_sets()
    wall = time.perf_counter() - wall0
    out["cpu_over_wall"] = (envmod.process_cpu_seconds() - cpu0) / wall
    out["wall_s"] = wall
    with open(args.child_out, "w") as fh:
        json.dump(out, fh)


def _sizes(args):
    return [int(n) for n in args.nuts_sizes.split(",")] if args.nuts_sizes else None


def n_cases(suite, args):
    quick = args.quick
    if suite == "nuts":
        from suite import nuts

        return nuts.n_cases(quick, _sizes(args))
    from suite import clustering

    return len(clustering.cases(suite, quick))


def spawn(kind, suite, threads, args, case=0):
    env, cores = envmod.child_environment(threads)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    tmp = os.path.join(args.out, f".{suite}-{threads}-{kind}-{case}.json")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--suite", suite, "--cores", ",".join(map(str, cores)),
           "--seeds", str(args.seeds), "--repeats", str(args.repeats), "--case", str(case), "--child-out", tmp]
    for flag, value in (("--pymc-seeds", args.pymc_seeds), ("--pymc-max-n", args.pymc_max_n), ("--nuts-sizes", args.nuts_sizes)):
        if value is not None:
            cmd += [flag, str(value)]
    if args.quick:
        cmd.append("--quick")
    proc = subprocess.run(cmd, env=env, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{suite} at threads={threads} ({kind}) failed with exit code {proc.returncode}")
    with open(tmp) as fh:
        out = json.load(fh)
    os.remove(tmp)
    return out, cores, env


def run_suite(suite, threads, args, command):
    _log(f"== {suite}, threads={threads}")
    start = time.perf_counter()
    stamp = {"suite": suite, "threads": threads, "seeds": list(range(args.seeds)), "repeats": args.repeats, "quick": args.quick,
             "first_call_cases": "none" if args.no_first_call else (args.first_call_cases or "all"),
             "command": command, **envmod.commit_stamp(), "machine_start": envmod.machine_stamp(), "versions": envmod.library_versions()}
    first, child_cpu = [], []
    if not args.no_first_call:
        cases = n_cases(suite, args)
        for case in range(cases if args.first_call_cases is None else min(cases, args.first_call_cases)):
            out, _, _ = spawn("first", suite, threads, args, case)
            first += out["first_calls"]
            child_cpu.append({"kind": "first", "case": case, "cpu_over_wall": out["cpu_over_wall"], "wall_s": out["wall_s"]})
    out, cores, env = spawn("run", suite, threads, args)
    child_cpu.append({"kind": "run", "cpu_over_wall": out["cpu_over_wall"], "wall_s": out["wall_s"]})
    raw = {**stamp, "cores": cores,
           "thread_env": {k: env.get(k) for k in (*envmod.THREAD_VARS, "XLA_FLAGS", "JAX_ENABLE_COMPILATION_CACHE")},
           "children": child_cpu, "records": out["records"], "first_calls": first, "extra": out.get("extra", {}),
           "machine_end": envmod.machine_stamp(), "duration_s": time.perf_counter() - start}
    raw["tag"] = args.tag
    path = os.path.join(args.out, f"{suite}-{threads}{'-' + args.tag if args.tag else ''}.json")
    with open(path, "w") as fh:
        json.dump(raw, fh, indent=1)
    _log(f"== {suite}, threads={threads}: {raw['duration_s']:.0f} s -> {path}")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default=",".join(SUITES), help=f"comma-separated, from {', '.join(SUITES)}")
    parser.add_argument("--threads", default="1,all", help="comma-separated: 1 and/or all")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..n-1 for data and random_state")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved warm calls per seed")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--no-first-call", action="store_true", help="skip the first-call subprocesses")
    parser.add_argument("--first-call-cases", type=int, default=None,
                        help="first calls for the first n cases of each suite only (default: every case)")
    parser.add_argument("--pymc-seeds", type=int, default=None, help="nuts: run PyMC on the first n seeds only (default: all)")
    parser.add_argument("--pymc-max-n", type=int, default=None, help="nuts: run PyMC only at N up to this (default: every N)")
    parser.add_argument("--nuts-sizes", default=None, help="nuts: comma-separated N (default 1000,10000)")
    parser.add_argument("--tag", default="", help="suffix of the raw file names (the report merges files of one suite and thread setting)")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from saved raw results")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "raw"), help="folder of raw results")
    parser.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"), help="the report written")
    parser.add_argument("--readme", default=os.path.join(ROOT, "README.md"), help="README whose benchmark block is rewritten ('none' to skip)")
    parser.add_argument("--child", choices=("run", "first"), help=argparse.SUPPRESS)
    parser.add_argument("--suite", help=argparse.SUPPRESS)
    parser.add_argument("--cores", help=argparse.SUPPRESS)
    parser.add_argument("--case", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    os.makedirs(args.out, exist_ok=True)
    suites = [s for s in args.suites.split(",") if s]
    threads = [t for t in args.threads.split(",") if t]
    for s in suites:
        if s not in SUITES:
            parser.error(f"--suites must be among {', '.join(SUITES)}; got {s!r}.")
    for t in threads:
        if t not in ("1", "all"):
            parser.error(f"--threads must be 1 and/or all; got {t!r}.")
    command = "python benchmarks/driver.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if not args.report_only:
        _log(f"running suites {suites} at threads {threads}, seeds 0..{args.seeds - 1}, {args.repeats} warm repeats"
             f"{', quick sizes' if args.quick else ''}")
        for suite in suites:
            for t in threads:
                run_suite(suite, t, args, command)
    from suite import report

    report.write(args.out, args.results, None if args.readme == "none" else args.readme)
    _log(f"report: {args.results}" + ("" if args.readme == "none" else f"; README block: {args.readme}"))


if __name__ == "__main__":
    main()
