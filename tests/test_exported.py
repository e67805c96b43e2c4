"""Programs kept on disk (probkm.core.exported): found again without tracing, equal results, safe files."""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from probkm.core.exported import FOLDER
from probkm.core.programs import compiled

TRACES = []


@compiled(on_disk=True, static_argnames=("power",))
def _raise(x, shift, *, power):
    TRACES.append(power)  # runs only while JAX traces
    return (x + shift) ** power


@pytest.fixture
def cache_dir(tmp_path):
    before = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", str(tmp_path))
    _raise.clear_cache()
    TRACES.clear()
    yield tmp_path
    jax.config.update("jax_compilation_cache_dir", before)
    _raise.clear_cache()


def _files(folder):
    return sorted((folder / FOLDER).glob("*.jaxexport"))


def test_a_stored_program_is_read_back_instead_of_traced(cache_dir):
    x = jnp.arange(4.0)
    first = _raise(x, 1.0, power=2)
    assert len(_files(cache_dir)) == 1 and TRACES == [2]
    _raise.clear_cache()  # as a fresh process: nothing in memory, the file on disk
    again = _raise(x, 1.0, power=2)
    assert TRACES == [2]  # read back, not traced
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(first, (np.arange(4.0) + 1.0) ** 2)


def test_other_static_values_and_shapes_get_their_own_files(cache_dir):
    _raise(jnp.arange(4.0), 1.0, power=2)
    _raise(jnp.arange(4.0), 1.0, power=3)
    _raise(jnp.arange(5.0), 1.0, power=2)
    assert len(_files(cache_dir)) == 3 and TRACES == [2, 3, 2]


def test_a_damaged_file_is_replaced_and_the_answer_stays_right(cache_dir):
    _raise(jnp.arange(3.0), 2.0, power=2)
    [path] = _files(cache_dir)
    path.write_bytes(b"not a program")
    _raise.clear_cache()
    np.testing.assert_array_equal(_raise(jnp.arange(3.0), 2.0, power=2), [4.0, 9.0, 16.0])
    assert path.stat().st_size > len(b"not a program")


def test_nothing_is_stored_without_a_cache_folder(tmp_path):
    before = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", None)
    try:
        np.testing.assert_array_equal(_raise(jnp.arange(2.0), 0.0, power=2), [0.0, 1.0])
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
    assert not (tmp_path / FOLDER).exists()


def test_calls_inside_a_trace_use_the_jitted_function(cache_dir):
    outer = jax.jit(lambda x: _raise(x, 1.0, power=2) + 1.0)
    np.testing.assert_array_equal(outer(jnp.arange(2.0)), [2.0, 5.0])
    assert _files(cache_dir) == []


def test_a_fresh_process_fits_without_tracing_the_map_program(tmp_path):
    """The whole MAP fit, in two fresh processes: the second reads the program and gets the same fit."""
    script = tmp_path / "fit.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        from probkm.inference.compilation_cache import enable_compilation_cache
        enable_compilation_cache({str(tmp_path / "cache")!r})
        import numpy as np, probkm
        from probkm.inference import kmeans_start
        traced = []
        body = kmeans_start._map_from_kmeans.__wrapped__
        kmeans_start._map_from_kmeans._jitted = __import__("jax").jit(
            lambda *a, **k: (traced.append(1), body(*a, **k))[1],
            static_argnames=tuple(kmeans_start._map_from_kmeans._static))
        X = np.random.default_rng(0).normal(size=(40, 2)) + np.repeat([[0.0, 0.0], [5.0, 5.0]], 20, axis=0)
        gmm = probkm.SphericalGMM(2, n_temperatures=5, random_state=0).fit(X)
        print(json.dumps({{"traced": len(traced), "means": gmm.means_.tolist(), "sigma": gmm.sigma_}}))
    """))
    runs = [subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
    first, second = (__import__("json").loads(run.stdout.strip().splitlines()[-1]) for run in runs)
    assert first["traced"] == 1 and second["traced"] == 0
    assert first["means"] == second["means"] and first["sigma"] == second["sigma"]
