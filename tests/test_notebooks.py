"""Run each user notebook top to bottom, in smoke mode (tiny sizes), and check that it finished.

The identifiability notebook has its own test in ``test_identifiability.py``. Every other
notebook ends with a code cell that asserts its results and prints ``"<notebook name>: OK"``.
The kernel is ipykernel's ``python3``, which resolves to the interpreter running the tests.
Most of a smoke run is XLA compilation, and the notebooks fit the same models to data of the
same shapes, so the kernels share one JAX persistent compilation cache for the session.
"""

from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.glob("*.ipynb") if p.name != "identifiability.ipynb")


def _output_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") in ("execute_result", "display_data"):
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_notebooks_found():
    names = {p.name for p in NOTEBOOKS}
    assert {"quickstart.ipynb", "generate_from_kmeans.ipynb", "nuts_workflow.ipynb"} <= names


@pytest.fixture(scope="session")
def jax_cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jax_compilation_cache")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch, jax_cache_dir):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # the kernel inherits the test process's environment when it starts
    monkeypatch.setenv("PROBKM_SMOKE", "1")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(jax_cache_dir))
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first cell that fails

    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    errors = [o for c in code_cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    last = _output_text(code_cells[-1])
    assert f"{path.stem}: OK" in last, last
