"""The benchmark driver: a quick run saves stamped raw results, and the report comes from them alone."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, "benchmarks", "driver.py")


def _driver(*args, cwd):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, DRIVER, *args], check=False, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_quick_run_is_stamped_and_report_follows_raw_results(tmp_path):
    out, results, readme = tmp_path / "raw", tmp_path / "RESULTS.md", tmp_path / "README.md"
    readme.write_text("intro\n<!-- benchmarks:start -->\nold table\n<!-- benchmarks:end -->\nafter\n")
    _driver("--quick", "--suites", "kmeans", "--threads", "all", "--seeds", "2", "--repeats", "1", "--no-first-call",
            "--out", str(out), "--results", str(results), "--readme", str(readme), cwd=tmp_path)

    raw_path = out / "kmeans-all.json"
    raw = json.loads(raw_path.read_text())
    assert raw["commit"] and isinstance(raw["dirty"], bool)
    assert raw["machine_start"]["cores"] >= 1 and len(raw["machine_end"]["load_average"]) == 3
    assert raw["versions"]["jax"] and raw["versions"]["scikit-learn"] and raw["versions"]["numpyro"]
    assert raw["thread_env"]["OMP_NUM_THREADS"] == str(len(raw["cores"])) == raw["thread_env"]["OPENBLAS_NUM_THREADS"]
    assert raw["thread_env"]["XLA_FLAGS"] is None
    run_child = next(c for c in raw["children"] if c["kind"] == "run")
    assert 0 < run_child["cpu_over_wall"] <= len(raw["cores"]) + 0.1
    assert {r["seed"] for r in raw["records"]} == {0, 1}
    assert {r["role"] for r in raw["records"]} == {"probkm", "target", "default", "matched"}
    assert all(r["inertia"] > 0 and r["times"] for r in raw["records"])

    report = results.read_text()
    assert raw["commit"] in report and "| 2 |" in report and "not run" in report  # targets 1 and 3: suites not run
    block = readme.read_text()
    assert block.startswith("intro\n<!-- benchmarks:start -->") and block.endswith("<!-- benchmarks:end -->\nafter\n")
    assert "old table" not in block and "KMeans(n_init=10)" in block

    # the report is rebuilt from the raw results alone: make probkm 1000x slower there
    for rec in raw["records"]:
        if rec["role"] == "probkm":
            rec["times"] = [t * 1000 for t in rec["times"]]
            rec["warm"] *= 1000
    raw_path.write_text(json.dumps(raw))
    _driver("--report-only", "--out", str(out), "--results", str(results), "--readme", "none", cwd=tmp_path)
    again = results.read_text()
    assert again != report
    assert "probkm takes" in again and "the time of sklearn KMeans n_init=10" in again


def test_one_thread_environment_pins_one_core_and_every_thread_pool():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from suite.env import child_environment

    env, cores = child_environment("1", base={"JAX_COMPILATION_CACHE_DIR": "/somewhere", "PROBKM_CACHE_DIR": "/else"})
    assert len(cores) == 1
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert "--xla_cpu_multi_thread_eigen=false" in env["XLA_FLAGS"] and "intra_op_parallelism_threads=1" in env["XLA_FLAGS"]
    assert "JAX_COMPILATION_CACHE_DIR" not in env and "PROBKM_CACHE_DIR" not in env
    env_all, cores_all = child_environment("all", base={"XLA_FLAGS": "--x"})
    assert cores_all == sorted(os.sched_getaffinity(0)) and "XLA_FLAGS" not in env_all
    assert env_all["OMP_NUM_THREADS"] == str(len(cores_all))
