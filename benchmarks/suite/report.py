"""``RESULTS.md`` and the README's benchmark block, written from the raw results alone."""

from __future__ import annotations

import glob
import json
import os

import numpy as np

ORDER = ("map", "kmeans", "hard", "nuts")
THREADS = ("1", "all")
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
TARGET_GMM, TARGET_KM, TARGET_NUMPYRO, TARGET_PYMC = 1.0, 0.5, 3.0, 10.0
INERTIA_SLACK = 1e-6  # float32 centres of the same partition score a hair apart in float64


def load(folder):
    """suite -> threads -> raw result."""
    raw = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path) as fh:
            r = json.load(fh)
        if not (isinstance(r, dict) and "suite" in r and "threads" in r):
            continue
        have = raw.setdefault(r["suite"], {}).get(r["threads"])
        if have is None:
            raw[r["suite"]][r["threads"]] = {**r, "parts": [r]}
        else:  # runs of one suite and thread setting saved under several tags: one table
            have["records"] = have["records"] + r["records"]
            have["first_calls"] = have.get("first_calls", []) + r.get("first_calls", [])
            have["parts"].append(r)
    return raw


# ---------------------------------------------------------------------------------------------
# small formatting helpers
# ---------------------------------------------------------------------------------------------
def _g(v, fmt):
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, fmt)


def mrange(values, fmt=".3g"):
    """'median [min, max]' of ``values``."""
    v = [x for x in values if x is not None and np.isfinite(x)]
    if not v:
        return "-"
    if len(v) == 1:
        return format(v[0], fmt)
    return f"{format(float(np.median(v)), fmt)} [{format(min(v), fmt)}, {format(max(v), fmt)}]"


def _med(values):
    v = [x for x in values if x is not None and np.isfinite(x)]
    return float(np.median(v)) if v else float("nan")


def _table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


# ---------------------------------------------------------------------------------------------
# per-seed comparisons
# ---------------------------------------------------------------------------------------------
def _by(records, *keys):
    out = {}
    for r in records:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def _cases(records):
    seen = []
    for r in records:
        key = (r["case"], r.get("group", ""))
        if key not in seen:
            seen.append(key)
    return seen


def clustering_pairs(raw):
    """For each (case, group, peer): per-seed probkm/peer time ratios and quality differences."""
    out = {}
    recs = raw["records"]
    firsts = {(f["case"], f["method"]): f["first"] for f in raw.get("first_calls", [])}
    for (case, group), rows in _by(recs, "case", "group").items():
        probkm = {r["seed"]: r for r in rows if r["role"] == "probkm"}
        for (method,), mrows in _by(rows, "method").items():
            mrows = sorted(mrows[0:], key=lambda r: r["seed"])
            entry = {"role": mrows[0]["role"], "warm": [r["warm"] for r in mrows], "seeds": [r["seed"] for r in mrows],
                     "first": firsts.get((case, method)), "note": mrows[0].get("note", "")}
            for q in ("loglik", "heldout_loglik", "inertia", "heldout_inertia_per_row"):
                if q in mrows[0]:
                    entry[q] = [r[q] for r in mrows]
            if mrows[0]["role"] != "probkm":
                entry["ratio"] = [probkm[r["seed"]]["warm"] / r["warm"] for r in mrows if r["seed"] in probkm]
                if group == "gmm":
                    entry["d_loglik"] = [probkm[r["seed"]]["loglik"] - r["loglik"] for r in mrows if r["seed"] in probkm]
                    entry["d_heldout"] = [probkm[r["seed"]]["heldout_loglik"] - r["heldout_loglik"] for r in mrows if r["seed"] in probkm]
                else:
                    entry["inertia_ratio"] = [probkm[r["seed"]]["inertia"] / r["inertia"] for r in mrows if r["seed"] in probkm]
            out[(case, group, method)] = entry
    return out


def nuts_pairs(raw):
    out = {}
    firsts = {(f["case"], f["method"]): f for f in raw.get("first_calls", [])}
    for (case,), rows in _by(raw["records"], "case").items():
        probkm = {r["seed"]: r for r in rows if r["method"].startswith("probkm")}
        first_p = firsts.get((case, next(iter(probkm.values()))["method"])) if probkm else None
        for (method,), mrows in _by(rows, "method").items():
            f = firsts.get((case, method))
            entry = {"warm": [r["warm"] for r in mrows], "ess_per_s": [r["ess_per_s"] for r in mrows],
                     "min_ess": [r["min_ess"] for r in mrows], "steps": [r["steps_per_draw"] for r in mrows],
                     "div": sum(r["divergences"] for r in mrows), "first": f["first"] if f else None,
                     "first_ess_per_s": f["ess_per_s"] if f else None}
            entry["ratio"] = [probkm[r["seed"]]["ess_per_s"] / r["ess_per_s"] for r in mrows if r["seed"] in probkm]
            if f and first_p:
                entry["first_ratio"] = first_p["ess_per_s"] / f["ess_per_s"]
            out[(case, method)] = entry
    return out


# ---------------------------------------------------------------------------------------------
# targets and losses
# ---------------------------------------------------------------------------------------------
def _time_target(group, role):
    if group == "gmm":
        return TARGET_GMM
    return TARGET_KM if role == "target" else 1.0


def loss_items(raw):
    """Every row where probkm misses a target or scores lower, as
    (suite, threads or None, peer, kind, case, text)."""
    items = []
    for suite in ORDER:
        for t in THREADS:
            r = raw.get(suite, {}).get(t)
            if not r:
                continue
            if suite == "nuts":
                for (case, method), e in nuts_pairs(r).items():
                    if method.startswith("probkm"):
                        continue
                    target = TARGET_PYMC if "PyMC" in method else TARGET_NUMPYRO if "NumPyro" in method else 1.0
                    if _med(e["ratio"]) < target:
                        items.append((suite, t, method, f"ESS/s below {target:g}x", case,
                                      f"nuts, {case}, threads={t}: probkm's ESS/s is {_med(e['ratio']):.2f}x {method}'s (target {target:g}x)"))
                continue
            for (case, group, method), e in clustering_pairs(r).items():
                if e["role"] == "probkm":
                    continue
                target = _time_target(group, e["role"])
                ratio = _med(e["ratio"])
                if ratio > target:
                    items.append((suite, t, method, f"time above {target:g}x", case,
                                  f"{suite}, {case}, threads={t}: probkm takes {ratio:.2f}x the time of {method} (target {target:g}x)"))
                if t != _first_threads(raw, suite):
                    continue
                if group == "gmm":
                    for key, label in (("d_heldout", "held-out"), ("d_loglik", "training")):
                        worse = sum(d < 0 for d in e[key])
                        if worse:
                            items.append((suite, None, method, f"{label} log-likelihood lower", case,
                                          (f"{suite}, {case}: {label} log-likelihood per row lower than {method}'s in {worse} of {len(e[key])} seeds "
                                           f"(difference {mrange(e[key], '+.2e')})")))
                else:
                    worse = sum(x > 1 + INERTIA_SLACK for x in e["inertia_ratio"])
                    if worse:
                        items.append((suite, None, method, "inertia higher", case,
                                      (f"{suite}, {case}: inertia higher than {method}'s in {worse} of {len(e['inertia_ratio'])} seeds "
                                       f"(probkm / theirs {mrange(e['inertia_ratio'], '.6f')})")))
    return items


def losses(raw):
    """Lines naming every row where probkm misses a time target or scores lower."""
    return [item[-1] for item in loss_items(raw)]


def loss_summary(raw):
    """The losses grouped by suite, peer, kind and threads, counting cases (for the README)."""
    n_cases = {}
    for suite, runs in raw.items():
        for r in runs.values():
            n_cases[suite] = len({rec["case"] for rec in r["records"]})
    groups = {}
    for suite, t, method, kind, case, _ in loss_items(raw):
        groups.setdefault((suite, method, kind, t), set()).add(case)
    out = []
    for (suite, method, kind, t), cases in groups.items():
        where = "" if t is None else (" (all cores)" if t == "all" else " (1 thread)")
        out.append(f"{suite}{where}: {kind} against {method} in {len(cases)} of {n_cases.get(suite, '?')} cases")
    return out


def _first_threads(raw, suite):
    """Quality does not depend on threads: report it once, from the first setting present."""
    return next((t for t in THREADS if t in raw.get(suite, {})), None)


def targets(raw):
    """Rows of the summary table."""
    rows = []

    def per_threads(suite, fn):
        cells, oks = [], []
        for t in THREADS:
            r = raw.get(suite, {}).get(t)
            if not r:
                cells.append("not run")
                continue
            cell, ok = fn(r)
            cells.append(cell)
            oks.append(ok)
        if not oks:
            met = "-"
        elif any(ok is False for ok in oks):
            met = "**no**"
        elif any(ok is None for ok in oks):
            met = "not fully measured (see the cells)"
        else:
            met = "**yes**"
        return cells, met

    def cmd(suites):
        found = [raw[s][t]["command"] for s in suites for t in THREADS if raw.get(s, {}).get(t)]
        return f"`{found[0]}`" if found else "-"

    def t1(r):
        pairs = [(k, e) for k, e in clustering_pairs(r).items() if k[1] == "gmm" and e["role"] == "default"]
        ratios = [x for _, e in pairs for x in e["ratio"]]
        meds = [_med(e["ratio"]) for _, e in pairs]
        dh = [x for _, e in pairs for x in e["d_heldout"]]
        dl = [x for _, e in pairs for x in e["d_loglik"]]
        ok = bool(meds) and max(meds) <= TARGET_GMM and min(dh) >= 0
        return (f"time {mrange(ratios, '.2f')}x (per-config medians {', '.join(f'{m:.2f}' for m in meds)}); "
                f"held-out loglik/row probkm - sklearn {mrange(dh, '+.1e')}; training {mrange(dl, '+.1e')}"), ok

    def t2(r):
        pairs = [(k, e) for k, e in clustering_pairs(r).items() if k[1] == "kmeans" and e["role"] == "target"]
        ratios = [x for _, e in pairs for x in e["ratio"]]
        meds = [_med(e["ratio"]) for _, e in pairs]
        inr = [x for _, e in pairs for x in e["inertia_ratio"]]
        ok = bool(meds) and max(meds) <= TARGET_KM and max(inr) <= 1 + INERTIA_SLACK
        return f"time {mrange(ratios, '.2f')}x (worst case median {max(meds):.2f}); inertia probkm / sklearn {mrange(inr, '.5f')}", ok

    def t3(r):
        parts, ok = [], True
        pairs = nuts_pairs(r)
        for case in dict.fromkeys(c for c, _ in pairs):
            if not any(m.startswith("PyMC") for c, m in pairs if c == case):
                parts.append(f"{case.split()[0]} PyMC: not run")
                ok = None if ok else ok
        for (case, method), e in pairs.items():
            if method.startswith("probkm"):
                continue
            target = TARGET_PYMC if "PyMC" in method else TARGET_NUMPYRO if "NumPyro" in method else None
            m = _med(e["ratio"])
            if target is not None and m < target:
                ok = False
            parts.append(f"{case.split()[0]} {method.split(' (')[0].replace(' NUTS on probkm' + chr(39) + 's density', '')}: {mrange(e['ratio'], '.2f')}x")
        return "; ".join(parts), ok

    for num, text, suites, fn in (
        (1, "MAP `SphericalGMM` at N = 1e5, D = 2, 10, K = 5, 10: at most 1.0x `GaussianMixture(spherical)` (defaults), warm, held-out log-likelihood at least as high", ("map",), t1),
        (2, "`AnnealedKMeans`: at most 0.5x `KMeans(n_init=10)`, inertia at most as high (N = 1e5 blobs and the harder data)", ("kmeans", "hard"), None),
        (3, "NUTS ESS/s at N = 1e3, 1e4: at least 3x warm NumPyro (both forms), at least 10x PyMC", ("nuts",), t3),
    ):
        if num == 2:
            cells, oks = [], []
            for t in THREADS:
                parts, ok_t, any_run = [], True, False
                for s in suites:
                    r = raw.get(s, {}).get(t)
                    if r:
                        any_run = True
                        c, ok = t2(r)
                        parts.append(f"{s}: {c}")
                        ok_t = ok_t and ok
                cells.append("; ".join(parts) if any_run else "not run")
                if any_run:
                    oks.append(ok_t)
            met = "-" if not oks else ("**yes**" if all(oks) else "**no**")
        else:
            cells, met = per_threads(suites[0], fn)
        rows.append([num, text, *cells, met, cmd(suites)])
    return rows


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------
def clustering_table(suite, runs):
    pairs = {t: clustering_pairs(runs[t]) for t in THREADS if t in runs}
    qual_t = next(iter(pairs))
    keys = list(pairs[qual_t])
    lines = []
    for group in ("gmm", "kmeans"):
        gkeys = [k for k in keys if k[1] == group]
        if not gkeys:
            continue
        if group == "gmm":
            qhead = ["held-out loglik/row", "probkm - this, held-out", "training loglik/row (own model)", "probkm - this, training"]
        else:
            qhead = ["inertia", "probkm / this inertia", "held-out inertia/row"]
        header = ["case", "estimator"]
        for t in pairs:
            header += [f"first call (s), {t} thr", f"warm (s), {t} thr", f"probkm / this time, {t} thr"]
        header += qhead
        rows = []
        for key in gkeys:
            case, _, method = key
            row = [case, method]
            for t, tpairs in pairs.items():
                e = tpairs.get(key)
                if e is None:
                    row += ["-", "-", "-"]
                    continue
                row += [_g(e["first"], ".2f"), mrange(e["warm"], ".3f"), mrange(e.get("ratio", []), ".2f") if e["role"] != "probkm" else "1"]
            e = pairs[qual_t][key]
            if group == "gmm":
                row += [mrange(e["heldout_loglik"], ".5f"), mrange(e.get("d_heldout", []), "+.1e"), mrange(e["loglik"], ".5f"), mrange(e.get("d_loglik", []), "+.1e")]
            else:
                row += [mrange(e["inertia"], ".6g"), mrange(e.get("inertia_ratio", []), ".6f"), mrange(e["heldout_inertia_per_row"], ".5f")]
            rows.append(row)
        lines += [f"**{'Gaussian mixtures' if group == 'gmm' else 'k-means'}** (quality from the {qual_t}-thread run)", ""]
        lines += _table(header, rows) + [""]
    return lines


def nuts_table(runs):
    pairs = {t: nuts_pairs(runs[t]) for t in THREADS if t in runs}
    qual_t = next(iter(pairs))
    header = ["case", "sampler"]
    for t in pairs:
        header += [f"first call (s), {t} thr", f"warm (s), {t} thr", f"ESS/s warm, {t} thr", f"probkm / this ESS/s, {t} thr", f"probkm / this, first calls, {t} thr"]
    header += ["min bulk ESS", "leapfrog steps/draw", "divergences (all seeds)"]
    rows = []
    for key in pairs[qual_t]:
        case, method = key
        row = [case, method]
        for t, tpairs in pairs.items():
            e = tpairs.get(key)
            if e is None:
                row += ["-"] * 5
                continue
            row += [_g(e["first"], ".2f"), mrange(e["warm"], ".2f"), mrange(e["ess_per_s"], ".1f"),
                    mrange(e["ratio"], ".2f") if not method.startswith("probkm") else "1", _g(e.get("first_ratio"), ".2f")]
        e = pairs[qual_t][key]
        row += [mrange(e["min_ess"], ".0f"), mrange(e["steps"], ".1f"), e["div"]]
        rows.append(row)
    return _table(header, rows) + [""]


def scaling_lines(suite, runs):
    """Warm time at all cores over warm time at one thread, per estimator (same case and seed)."""
    if not all(t in runs for t in THREADS):
        return []
    key = "warm"
    one = {(r["case"], r["method"], r["seed"]): r[key] for r in runs["1"]["records"]}
    ratios = {}
    for r in runs["all"]["records"]:
        k = (r["case"], r["method"], r["seed"])
        if k in one and one[k] > 0:
            ratios.setdefault(r["method"], []).append(r[key] / one[k])
    if not ratios:
        return []
    rows = [[m, mrange(v, ".2f")] for m, v in ratios.items()]
    lines = [("Warm time at all cores over warm time at one thread, same case and seed (above 1: the extra core made it slower, "
              "as spinning OpenMP or OpenBLAS threads do on a loaded machine; such a slowdown flatters probkm in the all-core columns):"), ""]
    return lines + _table(["estimator", "all cores / 1 thread"], rows) + [""]


def _stamp_lines(raw):
    runs = [p for s in ORDER for r in raw.get(s, {}).values() for p in r["parts"]]
    commits = sorted({r["commit"] + (" (with uncommitted changes)" if r.get("dirty") else "") for r in runs})
    versions = runs[0]["versions"]
    mach = runs[0]["machine_start"]
    lines = []
    if len(commits) == 1:
        lines.append(f"**Commit** `{commits[0]}`.")
    else:
        lines.append(f"**Commits differ between suites:** {', '.join(f'`{c}`' for c in commits)} (each table's run says which).")
    lines.append(f"**Machine** {mach['cpu']}, {mach['cores']} cores, {mach['memory_gib']} GiB, {mach['platform']}; shared with other jobs "
                 "(load averages per run below), so compare the ratios (measured in one process, calls interleaved) more than the seconds.")
    lines.append("**Libraries** " + ", ".join(f"{k} {v}" for k, v in versions.items() if v) +
                 (("; not installed: " + ", ".join(k for k, v in versions.items() if not v)) if any(not v for v in versions.values()) else "") + ".")
    lines.append("")
    lines += _table(["suite", "threads", "part", "commit", "cores pinned", "thread variables", "CPU time / wall (run)", "seeds", "warm repeats",
                     "load avg start -> end", "duration (s)", "started (UTC)"],
                    [[r["suite"], r["threads"], r.get("tag") or "-", r["commit"] + ("+" if r.get("dirty") else ""), ",".join(map(str, r["cores"])),
                      "; ".join(f"{k}={v}" for k, v in r["thread_env"].items() if v and k != "JAX_ENABLE_COMPILATION_CACHE"),
                      _g(next((c["cpu_over_wall"] for c in r["children"] if c["kind"] == "run"), None), ".2f"),
                      len(r["seeds"]), r["repeats"],
                      f"{r['machine_start']['load_average'][0]:.1f} -> {r['machine_end']['load_average'][0]:.1f}",
                      f"{r['duration_s']:.0f}", r["machine_start"]["time_utc"]]
                     for s in ORDER for t in THREADS for merged in [raw.get(s, {}).get(t)] if merged for r in merged["parts"]])
    if any(r.get("quick") for r in runs):
        lines += ["", "**Quick (smoke-test) sizes**: these figures are not the benchmark."]
    return lines


NOTES = [
    (
        "- **Equal hardware.** Each suite runs at each thread setting in a fresh process pinned (`sched_setaffinity`) to one core or to all of them "
        "before numpy and jax load, with `OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS` and `MKL_NUM_THREADS` set to the number of cores; at one thread "
        "also `XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`. The pinning is what bounds every library: the column "
        "*CPU time / wall* above is the child's measured ratio (at most 1 at one core)."
    ),
    (
        "- **Warm and first call.** Warm: the median over seeds of each seed's median of interleaved calls (probkm, peer, peer, probkm, ...), "
        "after one untimed call of probkm's estimators and scikit-learn's defaults on the first seed (later seeds reuse the compiled programs; "
        "the matched-work peers compile nothing and run once per seed). First call: a fresh process per case (the cases the stamp's "
        "`first_call_cases` names; '-' elsewhere) with JAX's persistent compilation cache off, each library's first fit on seed 0 timed once "
        "(probkm's first, so JAX's runtime start is charged to probkm). scikit-learn and PyMC compile nothing of their own per shape "
        "(PyTensor's C modules are cached on disk from any earlier run)."
    ),
    (
        "- **Matched work.** probkm's estimators score one annealed start and `n_init = 3` k-means++ starts and keep the best; the matched rows "
        "give scikit-learn as many starts (`n_init = 4`). probkm's MAP (BFGS) stops when the largest gradient entry of the per-row objective is "
        "below 1e-5 or after 10 steps in a row that change it by less than 8 float32 epsilons; EM's `tol` is the change of the per-row lower bound, so the "
        "matched rows use `tol = 1e-5`, `max_iter = 1000` (default: `tol = 1e-3`, `n_init = 1`). probkm's Lloyd runs until the inertia stops decreasing: "
        "`KMeans(tol=0)`. The targets are judged against the defaults named in them; the other rows are beside them."
    ),
    (
        "- **Quality** is recomputed in float64 NumPy on every row from each model's fitted parameters (not by probkm): the mean log-likelihood per "
        "row of each model as its own model (probkm: one shared variance; scikit-learn's spherical model: one variance per component, K - 1 more "
        "parameters), on the training rows and on held-out rows (synthetic: N/4 fresh draws from the same mixture; real data: a random 20% split per "
        "seed); the inertia of the means or centres on the training rows."
    ),
    (
        "- **Concurrency.** On this shared machine suites and thread settings may run at the same time (the stamp table gives each "
        "run's start, duration and load); every ratio compares calls made in one process, interleaved, so they share the same conditions."
    ),
    (
        "- **Seeds.** Seed s draws the data (or the split) and is every estimator's `random_state`; cells are median [min, max] over seeds; "
        "*probkm / this* is computed per seed, then summarised."
    ),
    (
        "- **NUTS.** One chain of 500 warm-up + 500 draws, target acceptance 0.8, every sampler started at probkm's MAP point of that seed, the same "
        "priors. probkm: `fit_nuts`; NumPyro: one `MCMC` object per form reused for every call with `jit_model_args=True` (so its warm calls do not "
        "compile), `MultivariateNormal` and `Normal(...).to_event(1)` components; BlackJAX: its NUTS and window adaptation on the potential of probkm's "
        "own model (same likelihood, another sampler); PyMC: `pm.sample` defaults, `chains=1`, `cores=1`. ESS: minimum bulk ESS (ArviZ) over every "
        "scalar of weights, means and sigma after relabelling the draws to the MAP means; per second of the whole call, warm-up included. "
        "Not separated here: how much of NumPyro's warm call is its kernel's re-initialisation (each `MCMC.run` with a new key calls "
        "`NUTS.init` again) rather than sampling."
    ),
]


def _copied_lines(folder, name, title, command):
    """The tables a stand-alone script wrote to ``name`` beside the raw results' folder, as it wrote them."""
    path = os.path.join(os.path.dirname(os.path.abspath(folder)), name)
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        table = [line for line in fh.read().strip().splitlines() if not line.startswith("# ")]
    # the script's own sections become subsections here
    table = ["#" + line if line.startswith("## ") else line for line in table]
    raw = name.replace(".md", ".json")
    return [f"## {title}", "", f"Written by `{command}` from its raw results (`results/{raw}`) and copied here as that script wrote it.", ""] + table + [""]


def _shape_lines(folder):
    return _copied_lines(folder, "bench_shapes.md", "shapes: a new N or K in a compiled bucket, a K-scan in a fresh process, the process's growth",
                         "python benchmarks/bench_shapes.py --baseline-tree OLD_CHECKOUT --repeats 3")


def _select_lines(folder):
    return _copied_lines(folder, "select.md", "choosing K: probkm's scan against R's mclust (EII)", "python benchmarks/bench_select.py")


def write(folder, results_path, readme_path=None):
    """Write ``results_path`` (and the README block) from the raw results in ``folder``."""
    raw = load(folder)
    if not raw:
        raise FileNotFoundError(f"no raw results in {folder}")
    rel = os.path.relpath(folder, os.path.dirname(os.path.abspath(results_path)))
    lines = ["# probkm benchmarks", "",
             f"<!-- Written by benchmarks/driver.py from the raw results in {rel}/*.json; edits here are overwritten. -->", "",
             ("Every figure below is computed by `benchmarks/driver.py` from the raw results it saved "
              f"(`{rel}/`, one JSON file per suite and thread setting, with every timing, seed and quality figure). "
              "Rebuild this file from them with `python benchmarks/driver.py --report-only`."), ""]
    lines += _stamp_lines(raw) + ["", "## Targets", ""]
    lines += _table(["#", "target", "1 thread", "all cores", "met?", "command"], targets(raw))
    lines += ["", ("Target 4 (the README's table generated from these raw results, with the first-call column and the caveats) is the block "
                   "between `<!-- benchmarks:start -->` and `<!-- benchmarks:end -->` in README.md, written by the same command."), ""]
    lost = losses(raw)
    lines += ["## Where probkm loses", ""]
    lines += [f"- {x}" for x in lost] if lost else ["- nowhere in these runs."]
    lines += ["", "## How it was measured", ""] + NOTES + [""]
    titles = {"map": "MAP fit against scikit-learn's GaussianMixture(spherical)", "kmeans": "AnnealedKMeans against scikit-learn's KMeans",
              "hard": "Harder data: imbalanced, unequal variances, overlap, real data sets", "nuts": "NUTS: effective samples per second"}
    for suite in ORDER:
        runs = raw.get(suite)
        if not runs:
            continue
        lines += [f"## {suite}: {titles[suite]}", ""]
        any_run = next(iter(runs.values()))
        notes = sorted({r.get("note", "") for r in any_run["records"] if r.get("note")})
        if notes:
            lines += ["Data: " + "; ".join(notes) + ".", ""]
        if suite == "nuts":
            for t, merged in runs.items():
                for part in merged["parts"]:
                    extra = part.get("extra", {})
                    sizes_run = sorted({rec["n_obs"] for rec in part["records"]})
                    limits = []
                    if extra.get("pymc_seeds") is not None:
                        limits.append(f"PyMC on the first {extra['pymc_seeds']} seed(s) only")
                    if extra.get("pymc_max_n") is not None:
                        limits.append(f"PyMC only at N <= {extra['pymc_max_n']}")
                    if extra.get("peers_missing"):
                        limits.append(f"not installed: {', '.join(extra['peers_missing'])}")
                    lines += [f"Run at {t} thread(s), N = {', '.join(map(str, sizes_run))}, seeds {part['seeds'][0]}..{part['seeds'][-1]}"
                              + (f": {'; '.join(limits)} (its calls take minutes here; its ratios use those runs)" if limits else "") + ".", ""]
            lines += nuts_table(runs)
            lines += scaling_lines(suite, runs)
        else:
            lines += clustering_table(suite, runs)
            lines += scaling_lines(suite, runs)
            cached = any_run.get("extra", {}).get("cached_large_sets")
            if cached is not None:
                have = [k for k, v in cached["found"].items() if v]
                lines += [("Larger scikit-learn data sets on disk: " + ", ".join(have)) if have else
                          f"No larger scikit-learn data set (covtype, kddcup99, california_housing) is cached in `{cached['folder']}`, and the driver downloads nothing: "
                          "the real data here are the four sets scikit-learn ships.", ""]
    lines += _shape_lines(folder)
    lines += _select_lines(folder)
    with open(results_path, "w") as fh:
        fh.write("\n".join(lines).rstrip() + "\n")
    if readme_path:
        write_readme_block(raw, readme_path, results_path)


def readme_block(raw, results_link):
    rows = []

    def ratio_cell(suite, pick):
        cells = []
        for t in THREADS:
            r = raw.get(suite, {}).get(t)
            if not r:
                cells.append("-")
                continue
            vals, _ = pick(r)
            cells.append(f"{mrange(vals, '.2f')}x" if vals else "-")
        return cells

    def first_cell(suite, pick_first):
        r = raw.get(suite, {}).get("1") or next(iter(raw.get(suite, {}).values()), None)
        return pick_first(r) if r else "-"

    def clus(suite, group, role):
        def pick(r):
            es = [e for k, e in clustering_pairs(r).items() if k[1] == group and e["role"] == role]
            return [x for e in es for x in e["ratio"]], None
        return pick

    def clus_first(group, role):
        def pick(r):
            es = [e for k, e in clustering_pairs(r).items() if k[1] == group and e["role"] in ("probkm", role)]
            p = [e["first"] for e in es if e["role"] == "probkm" and e["first"] is not None]
            o = [e["first"] for e in es if e["role"] == role and e["first"] is not None]
            return f"{mrange(p, '.1f')} s / {mrange(o, '.2f')} s" if p else "-"
        return pick

    def qual_gmm(suite, role):
        r = next(iter(raw.get(suite, {}).values()), None)
        if not r:
            return "-"
        es = [e for k, e in clustering_pairs(r).items() if k[1] == "gmm" and e["role"] == role]
        d = [x for e in es for x in e["d_heldout"]]
        return f"held-out loglik/row, probkm - theirs: {mrange(d, '+.1e')}"

    def qual_km(suite, role):
        r = next(iter(raw.get(suite, {}).values()), None)
        if not r:
            return "-"
        es = [e for k, e in clustering_pairs(r).items() if k[1] == "kmeans" and e["role"] == role]
        d = [x for e in es for x in e["inertia_ratio"]]
        return f"inertia probkm / theirs: {mrange(d, '.5f')}"

    for suite, group, role, label, peer, qual in (
        ("map", "gmm", "default", "MAP fit, N = 1e5, D = 2, 10, K = 5, 10 (time)", "`GaussianMixture(spherical)` defaults", qual_gmm),
        ("map", "gmm", "matched", "", "the same, `n_init=4, tol=1e-5`", qual_gmm),
        ("kmeans", "kmeans", "target", "`AnnealedKMeans`, same data (time)", "`KMeans(n_init=10)`", qual_km),
        ("kmeans", "kmeans", "matched", "", "`KMeans(n_init=4, tol=0)`", qual_km),
        ("hard", "gmm", "default", "MAP fit, harder and real data (time)", "`GaussianMixture(spherical)` defaults", qual_gmm),
        ("hard", "kmeans", "target", "`AnnealedKMeans`, harder and real data (time)", "`KMeans(n_init=10)`", qual_km),
    ):
        if suite not in raw:
            continue
        rows.append([label, peer, *ratio_cell(suite, clus(suite, group, role)), first_cell(suite, clus_first(group, role)), qual(suite, role)])
    if "nuts" in raw:
        r0 = raw["nuts"].get("1") or next(iter(raw["nuts"].values()))
        methods = [m for (_, m) in nuts_pairs(r0) if not m.startswith("probkm")]
        for i, method in enumerate(dict.fromkeys(methods)):
            for case in dict.fromkeys(c for (c, _) in nuts_pairs(r0)):
                cells = []
                for t in THREADS:
                    r = raw["nuts"].get(t)
                    e = nuts_pairs(r).get((case, method)) if r else None
                    cells.append(f"{mrange(e['ratio'], '.2f')}x" if e else "-")
                e = nuts_pairs(r0).get((case, method))
                first = _g(e.get("first_ratio") if e else None, ".2f")
                rows.append([f"NUTS ESS/s, {case.split()[0]} (probkm's over theirs)", method, *cells,
                             f"{first}x (ESS/s of both first calls)" if first != "-" else "-", f"divergences: {e['div'] if e else '-'}"])
    lines = [START, "", f"Generated by `benchmarks/driver.py` from its raw results (the full tables, stamps and notes: [{os.path.basename(results_link)}]({results_link})).", ""]
    lines += _stamp_lines(raw)[:3] + [""]
    lines += _table(["task", "against", "warm, 1 thread: probkm / theirs", "warm, all cores: probkm / theirs",
                     "first call in a fresh process (1 thread): probkm / theirs", "quality (float64, outside probkm)"], rows)
    lines += ["", ("Times: probkm's time over theirs (below 1: probkm faster); NUTS: probkm's effective samples per second over theirs "
                   "(above 1: probkm faster). Median [min, max] over seeds and cases.")]
    summary = loss_summary(raw)
    lines += ["", "Where probkm loses (each row in the report): " + ("; ".join(summary) if summary else "nowhere in these runs") + "."]
    lines += ["", ("Caveats: every library pinned to the same cores with the same thread counts (OpenMP, OpenBLAS, MKL, XLA); "
              "scikit-learn's defaults do less work than probkm (one start, `tol=1e-3`), so matched-work rows stand beside them; the first call "
              "includes JAX's compilation (probkm's persistent compilation cache was off); quality is each model scored as itself in float64 on all "
              "rows, held-out included, since scikit-learn's spherical model has K - 1 more variance parameters; the machine is shared, so compare "
              "ratios."), "", END]
    return "\n".join(lines)


def write_readme_block(raw, readme_path, results_path):
    with open(readme_path) as fh:
        text = fh.read()
    if START not in text or END not in text:
        raise ValueError(f"{readme_path} has no {START} ... {END} block")
    link = os.path.relpath(results_path, os.path.dirname(os.path.abspath(readme_path)))
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    with open(readme_path, "w") as fh:
        fh.write(head + readme_block(raw, link) + tail)
