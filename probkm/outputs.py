"""Writing results: an output folder that is never overwritten by accident, and files that
are written atomically (to a temporary file in the same folder, then renamed), so an
interrupted run leaves either the previous file or the new one, never half of one."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np


class OutputExistsError(FileExistsError):
    """The output folder exists and ``force`` was not given."""


def prepare_output_dir(path: str | Path, *, force: bool = False) -> Path:
    """Create ``path``; if it already holds files, refuse unless ``force`` (then empty it)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{path} exists and is not a folder; choose another output path.")
    if path.exists() and any(path.iterdir()):
        if not force:
            raise OutputExistsError(f"{path} already exists and is not empty; pass --force to overwrite it, or choose another --out.")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_csv(path: str | Path, X: np.ndarray, labels: np.ndarray | None = None) -> Path:
    """Write ``X (N, D)`` (and a ``label`` column) as CSV with a header, atomically."""
    X = np.asarray(X, dtype=float)
    header = [f"x{j}" for j in range(X.shape[1])]
    columns = [X]
    if labels is not None:
        header.append("label")
        columns.append(np.asarray(labels, dtype=float)[:, None])
    table = np.hstack(columns)
    fmt = ["%.10g"] * X.shape[1] + (["%d"] if labels is not None else [])
    return atomic_write(path, lambda tmp: np.savetxt(tmp, table, delimiter=",", header=",".join(header), comments="", fmt=fmt))


def write_netcdf(path: str | Path, idata) -> Path:
    """Write an ``arviz.InferenceData`` to netCDF, atomically."""
    return atomic_write(path, lambda tmp: idata.to_netcdf(str(tmp)))


def write_figure(path: str | Path, fig) -> Path:
    """Save a matplotlib figure as PNG, atomically."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
