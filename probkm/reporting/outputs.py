"""Writing results: an output folder that is never overwritten by accident, and files that
are written atomically (to a temporary file in the same folder, then renamed), so an
interrupted run leaves either the previous file or the new one, never half of one."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from probkm._checks import InputError
from probkm._files import atomic_write as atomic_write


class OutputExistsError(InputError, FileExistsError):
    """The output folder exists and ``force`` was not given.

    An :class:`~probkm._checks.InputError` (the command line reports it in one line) and a
    ``FileExistsError``.

    Examples
    --------
    >>> import os, tempfile
    >>> from probkm.reporting.outputs import OutputExistsError, prepare_output_dir
    >>> folder = tempfile.mkdtemp()
    >>> open(os.path.join(folder, "old.txt"), "w").close()
    >>> try:
    ...     prepare_output_dir(folder)
    ... except FileExistsError as err:
    ...     print(type(err).__name__)
    OutputExistsError
    """


def prepare_output_dir(path: str | Path, *, force: bool = False) -> Path:
    """Create ``path``; if it already holds files, refuse unless ``force`` (then empty it).

    Parameters
    ----------
    path : str or pathlib.Path
        The output folder; its parents are created as needed.
    force : bool
        Empty a folder that already holds files instead of refusing.

    Returns
    -------
    pathlib.Path
        The empty folder.

    Raises
    ------
    OutputExistsError
        ``path`` is a file, or a non-empty folder and ``force`` is false.

    Examples
    --------
    >>> import os, tempfile
    >>> from probkm.reporting.outputs import prepare_output_dir
    >>> out = prepare_output_dir(os.path.join(tempfile.mkdtemp(), "run", "out"))
    >>> open(out / "old.txt", "w").close()
    >>> os.listdir(prepare_output_dir(out, force=True))
    []
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{path} exists and is not a folder; choose another output path.")
    if path.exists() and any(path.iterdir()):
        if not force:
            raise OutputExistsError(f"{path} already exists and is not empty; pass --force to overwrite it, or choose another --out.")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically.

    Parameters
    ----------
    path : str or pathlib.Path
        The file; its folder must exist.
    text : str

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> from probkm.reporting.outputs import write_text
    >>> path = write_text(os.path.join(tempfile.mkdtemp(), "note.md"), "# probkm")
    >>> path.read_text()
    '# probkm'
    """
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_csv(path: str | Path, X: np.ndarray, labels: np.ndarray | None = None, *, names: Sequence[str] | None = None) -> Path:
    """Write ``X (N, D)`` (and a ``label`` column) as CSV with a header, atomically.

    Parameters
    ----------
    path : str or pathlib.Path
    X : array_like, shape (N, D)
        Written with 10 significant digits (``NA`` where missing) under the header
        ``names``, by default ``x0, ..., x{D-1}``.
    labels : array_like of int, shape (N,), optional
        Written as a last column, ``label``.
    names : sequence of str, optional
        The features' names, quoted where the CSV needs it.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from probkm.reporting.outputs import write_csv
    >>> path = write_csv(os.path.join(tempfile.mkdtemp(), "data.csv"), np.array([[0.5, 1.0], [2.0, 3.0]]), [0, 1])
    >>> path.read_text().splitlines()
    ['x0,x1,label', '0.5,1,0', '2,3,1']
    >>> path = write_csv(path, np.array([[0.5, np.nan]]), names=["a", "b, c"])
    >>> path.read_text().splitlines()
    ['a,"b, c"', '0.5,NA']
    """
    X = np.asarray(X, dtype=float)
    header = [f"x{j}" for j in range(X.shape[1])] if names is None else [_csv_field(str(n)) for n in names]
    columns = [X]
    if labels is not None:
        header.append("label")
        columns.append(np.asarray(labels, dtype=float)[:, None])
    table = np.hstack(columns)
    fmt = ["%.10g"] * X.shape[1] + (["%d"] if labels is not None else [])

    def write(tmp: Path) -> None:
        np.savetxt(tmp, table, delimiter=",", header=",".join(header), comments="", fmt=fmt)
        if np.isnan(X).any():  # missing entries as R writes them
            tmp.write_text(re.sub(r"(?<![^,\n])nan(?![^,\n])", "NA", tmp.read_text()))

    return atomic_write(path, write)


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def write_netcdf(path: str | Path, idata) -> Path:
    """Write an ``arviz.InferenceData`` to netCDF, atomically.

    Parameters
    ----------
    path : str or pathlib.Path
    idata : arviz.InferenceData

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> import arviz as az, numpy as np
    >>> from probkm.reporting.outputs import write_netcdf
    >>> path = write_netcdf(os.path.join(tempfile.mkdtemp(), "fit.nc"), az.from_dict(posterior={"sigma": np.ones((2, 10))}))
    >>> az.from_netcdf(path).posterior["sigma"].shape
    (2, 10)
    """
    return atomic_write(path, lambda tmp: idata.to_netcdf(str(tmp)))


def write_figure(path: str | Path, fig) -> Path:
    """Save a matplotlib figure as PNG, atomically.

    Parameters
    ----------
    path : str or pathlib.Path
    fig : matplotlib.figure.Figure
        Saved at 110 dpi with a tight bounding box.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> from matplotlib.figure import Figure
    >>> from probkm.reporting.outputs import write_figure
    >>> path = write_figure(os.path.join(tempfile.mkdtemp(), "empty.png"), Figure())
    >>> path.read_bytes()[1:4]
    b'PNG'
    """
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
