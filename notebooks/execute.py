"""Execute the notebooks in place, so that the stored copies show their outputs and figures.

    python notebooks/execute.py                      # every notebook, full sizes
    python notebooks/execute.py quickstart.ipynb     # one notebook
    python notebooks/execute.py --smoke              # tiny sizes (PROBKM_SMOKE=1), a quick check

Each notebook runs top to bottom in a fresh ``python3`` kernel (ipykernel's, which resolves
to the interpreter running this script) inside a temporary working folder, so the files a
notebook writes do not land in the repository. A notebook is written back only if every cell
ran; the script exits non-zero, naming the notebook and the cell, if one failed. The kernels
share one JAX compilation cache, so a model compiled by one notebook is not compiled again by
the next.

The stored notebooks keep only what a reader needs: the outputs (PNG figures, text, tables),
without execution timings or widget state. ``CI`` and ``PYTEST_CURRENT_TEST`` are removed
from the kernels' environment, so a full run is a full run wherever it is started; the
documentation renders these stored outputs and does not execute the notebooks again.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _kernel_environment(smoke: bool, cache_dir: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "PYTEST_CURRENT_TEST", "PROBKM_SMOKE")}
    env.update({
        "JAX_PLATFORMS": env.get("JAX_PLATFORMS", "cpu"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "JAX_COMPILATION_CACHE_DIR": str(Path(cache_dir) / "jax"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
        "PYTHONHASHSEED": "0",
    })
    # the kernel imports probkm from the checkout this script belongs to
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if smoke:
        env["PROBKM_SMOKE"] = "1"
    return env


def _shrink_png(encoded: str) -> str:
    """A figure re-encoded with a palette of 256 colours, if that is smaller: a quarter of the
    bytes for matplotlib's plots, with no visible change."""
    import base64
    import io

    from PIL import Image

    raw = base64.b64decode(encoded)
    buffer = io.BytesIO()
    image = Image.open(io.BytesIO(raw)).convert("RGBA")
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(buffer, "PNG", optimize=True)
    smaller = buffer.getvalue()
    return base64.b64encode(smaller).decode("ascii") + "\n" if len(smaller) < len(raw) else encoded


def _tidy(notebook) -> None:
    """Drop what changes on every run and tells a reader nothing (timings, widget state), and
    shrink the figures."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                data.pop("application/vnd.jupyter.widget-view+json", None)
                if "image/png" in data:
                    data["image/png"] = _shrink_png(data["image/png"])


def execute(path: Path, *, smoke: bool, timeout: int, cache_dir: str) -> float:
    """Run ``path`` in a fresh kernel and write it back with its outputs; return the seconds taken."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(_kernel_environment(smoke, cache_dir))  # a kernel inherits this process's environment
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix=f"probkm-{path.stem}-") as workdir:
            client = nbclient.NotebookClient(
                notebook, timeout=timeout, kernel_name="python3", record_timing=False, resources={"metadata": {"path": workdir}}
            )
            client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    _tidy(notebook)
    nbformat.validate(notebook)
    nbformat.write(notebook, path)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Execute the notebooks in place, with their outputs.")
    parser.add_argument("notebooks", nargs="*", help="notebook files or names in notebooks/ (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (PROBKM_SMOKE=1): a quick check, not for committing")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds one cell may run (default 3600)")
    args = parser.parse_args(argv)

    import nbclient

    paths = [Path(p) if Path(p).exists() else HERE / p for p in args.notebooks] or sorted(HERE.glob("*.ipynb"))
    failed = []
    with tempfile.TemporaryDirectory(prefix="probkm-notebooks-") as cache_dir:
        for path in paths:
            print(f"{path.name}: running", flush=True)
            try:
                seconds = execute(path, smoke=args.smoke, timeout=args.timeout, cache_dir=cache_dir)
            except nbclient.exceptions.CellExecutionError as err:
                failed.append(path.name)
                print(f"{path.name}: FAILED, left unchanged\n{err}", file=sys.stderr, flush=True)
                continue
            print(f"{path.name}: done in {seconds:.0f} s, {path.stat().st_size / 1024:.0f} KiB", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
