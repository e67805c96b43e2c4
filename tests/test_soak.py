"""A long session in short: many data shapes fitted in one process keep its compiled code bounded,
and a shape fitted late gives what a fresh process gives.

``benchmarks/soak.py`` runs the shapes; here with few of them and a small program budget, so
the trimming happens within a minute or two. ``PROBKM_SOAK_SHAPES`` asks for more (the
benchmark's default is 300).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"
N_SHAPES = int(os.environ.get("PROBKM_SOAK_SHAPES", "8"))
BUDGET = 6  # programs kept before trimming: small, so that a short soak trims several times


def _soak(*args: str) -> dict:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("PROBKM_CACHE_DIR", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    run = subprocess.run([sys.executable, str(SOAK), "--shapes", str(N_SHAPES), *args], capture_output=True, text=True, env=env, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def soaked():
    return _soak("--max-programs", str(BUDGET))


def test_every_shape_is_fitted_with_finite_results(soaked):
    records = soaked["records"]
    assert len(records) == N_SHAPES
    kinds = {r["kind"] for r in records}
    assert kinds == {"gmm", "kmeans", "nuts"}
    for record in records:
        assert all(isinstance(v, (int, float)) and v == v for v in record["result"].values()), record


def test_compiled_programs_and_mappings_stay_bounded(soaked):
    records = soaked["records"]
    # each fit starts by trimming: at most the budget, plus what one fit compiles, is ever held
    assert max(r["programs"] for r in records) <= BUDGET + 8
    # the mappings stop growing: they rise and fall with the programs held, and the second half
    # of the session peaks within a fit's worth of programs of the first (without trimming, each
    # new shape adds hundreds for good)
    half = len(records) // 2
    first, second = max(r["maps"] for r in records[:half]), max(r["maps"] for r in records[half:])
    assert second <= 1.5 * first, [r["maps"] for r in records]
    assert min(r["maps"] for r in records[half:]) < second  # trimming gave some back


def test_a_shape_fitted_late_in_a_session_equals_a_fresh_process(soaked):
    records = soaked["records"]
    late = [r["index"] for r in records[-2:]]
    fresh = {r["index"]: r["result"] for r in _soak("--only", ",".join(map(str, late)))["records"]}
    for index in late:
        session = next(r["result"] for r in records if r["index"] == index)
        for name, value in session.items():
            assert fresh[index][name] == pytest.approx(value, rel=1e-6, abs=1e-9), (index, name)
