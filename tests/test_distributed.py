"""Past one machine: the MAP and NUTS over ``jax.distributed``, two processes on localhost.

Two processes (two CPU devices each, gloo collectives over TCP) each hold half of the rows;
``tests/distributed_worker.py`` builds the global row-sharded array from them and fits. The
results must be those of one process holding all rows on one device.
"""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("distributed_worker.py")
TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def run_together(commands: list[list[str]], env: dict) -> None:
    """Run ``commands`` at once; fail with their output if any fails or all take past :data:`TIMEOUT_S`.

    On the first failure the others are killed: a process whose peer died would wait for it
    in a collective.
    """
    with contextlib.ExitStack() as stack:
        # output to files, not pipes: an unread pipe that fills up would block its writer
        logs = [stack.enter_context(tempfile.TemporaryFile(mode="w+")) for _ in commands]
        procs = [subprocess.Popen(c, env=env, stdout=log, stderr=subprocess.STDOUT, text=True) for c, log in zip(commands, logs)]
        deadline = time.monotonic() + TIMEOUT_S
        try:
            while True:
                codes = [p.poll() for p in procs]  # every one: any() would stop at the first running
                if all(c is not None for c in codes) or any(c not in (None, 0) for c in codes) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
        failures = []
        for command, p, log in zip(commands, procs, logs):
            if p.returncode != 0:
                log.seek(0)
                failures.append(f"{' '.join(command[1:])} exited with {p.returncode}:\n{log.read()[-3000:]}")
    assert not failures, f"(-9: killed after {TIMEOUT_S} s, or when another failed)\n" + "\n".join(failures)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``(distributed, one_process)`` results, in float64.

    float64 because in float32 the log density (about 1,550 nats here) differs by about one
    ulp (1e-4 nats) between the two orders of summation; that moves NUTS's acceptance and its
    choice of point in the tree, and in 50 warmup steps the chains separate (measured: the
    first kept draws of sigma 0.03 apart, a posterior standard deviation), so only summaries
    could be compared. In float64 the same key and the same log density up to rounding give
    the same draws. The code is the same in both precisions.
    """
    folder = tmp_path_factory.mktemp("distributed")
    env = {
        **os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "JAX_PLATFORMS": "cpu", "JAX_ENABLE_X64": "1",
        "XLA_FLAGS": "",  # the worker sets its devices: two per process, one for the single process
    }
    port = free_port()
    distributed = [[sys.executable, str(WORKER), "2", str(i), str(port), str(folder / "two.npz")] for i in range(2)]
    one = [sys.executable, str(WORKER), "1", "0", "0", str(folder / "one.npz")]
    run_together([*distributed, one], env)
    return dict(np.load(folder / "two.npz")), dict(np.load(folder / "one.npz"))


@pytest.mark.slow
def test_map_over_two_processes_equals_one_process(runs):
    two, one = runs
    # the sums over rows run in another order (per process, then across processes)
    for name in ("map_means", "map_weights", "map_sigma", "map_loss"):
        assert two[name].dtype == one[name].dtype == np.float64
        np.testing.assert_allclose(two[name], one[name], rtol=1e-9, atol=1e-11, err_msg=name)


@pytest.mark.slow
def test_nuts_over_two_processes_equals_one_process(runs):
    two, one = runs
    assert two["nuts_sigma"].shape == one["nuts_sigma"].shape == (1, 50)
    # every draw and every tree the same; the draws drift apart by 1e-8 over the 100 steps
    for name in ("nuts_means", "nuts_weights", "nuts_sigma", "nuts_potential_energy", "nuts_accept_prob"):
        np.testing.assert_allclose(two[name], one[name], rtol=1e-6, atol=1e-6, err_msg=name)
    for name in ("nuts_num_steps", "nuts_diverging"):
        np.testing.assert_array_equal(two[name], one[name], err_msg=name)
