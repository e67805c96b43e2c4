"""Atomic writes: a file or a folder appears whole under its name, or not at all.

Each is built under a temporary name in the destination's folder and renamed into place, so
an interrupted run leaves the previous file (or folder), never half of one. The result gets
the permissions an ordinary ``open`` or ``mkdir`` would give under the user's umask (a
temporary file starts private, ``0600``, and would otherwise keep that).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` in one rename.

    Parameters
    ----------
    path : str or os.PathLike
        The destination; its folder is created if need be.
    write : callable
        Called with a temporary path in the destination's folder, which it must write.

    Returns
    -------
    pathlib.Path
        ``path``; its mode is ``0666`` less the umask.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from probkm._files import atomic_write
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     written = atomic_write(Path(folder) / "note.txt", lambda tmp: tmp.write_text("hello"))
    ...     print(written.name, written.read_text(), sorted(p.name for p in Path(folder).iterdir()))
    note.txt hello ['note.txt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_folder(path: str | os.PathLike, fill: Callable[[Path], None]) -> Path:
    """Call ``fill(staging)`` on an empty staging folder, then put it in place of ``path``.

    An existing ``path`` is replaced only after ``fill`` succeeded (the caller decides
    whether replacing is allowed).

    Parameters
    ----------
    path : str or os.PathLike
        The destination folder.
    fill : callable
        Called with the staging folder, which it fills.

    Returns
    -------
    pathlib.Path
        ``path``. The folder's mode is ``0777`` less the umask, its files' whatever ``fill``
        gave them.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from probkm._files import atomic_folder
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     run = atomic_folder(Path(folder) / "run", lambda staging: (staging / "a.txt").write_text("1"))
    ...     run = atomic_folder(run, lambda staging: (staging / "b.txt").write_text("2"))  # replaces it
    ...     print(sorted(p.name for p in run.iterdir()), sorted(p.name for p in Path(folder).iterdir()))
    ['b.txt'] ['run']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        fill(staging)
        os.chmod(staging, 0o777 & ~_umask())
        if path.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, backup / "previous")
            os.replace(staging, path)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path
