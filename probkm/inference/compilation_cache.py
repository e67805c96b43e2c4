"""JAX's persistent compilation cache, switched on for probkm's programs.

A fresh Python process spends most of its first fit compiling XLA programs (about 4 s of a
5 s first MAP fit at N = 1e4 on two CPU cores). With the persistent cache the compiled
programs of an earlier process are loaded from disk instead. probkm's compiled functions
trace to the same graph in every process (:class:`probkm.inference.map._SortedTraceELBO` exists for
that), so they hit the cache. The library never switches it on by itself; the ``probkm``
command does, and a user's program can call :func:`enable_compilation_cache` or set JAX's own
``JAX_COMPILATION_CACHE_DIR``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "PROBKM_CACHE_DIR"


def default_cache_dir() -> Path:
    """The folder probkm keeps compiled programs in.

    Returns
    -------
    pathlib.Path
        ``$PROBKM_CACHE_DIR``, else ``$XDG_CACHE_HOME/probkm/jax``, else ``~/.cache/probkm/jax``.

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> from probkm.inference.compilation_cache import default_cache_dir
    >>> with mock.patch.dict(os.environ, {"PROBKM_CACHE_DIR": "", "XDG_CACHE_HOME": "/home/me/.cache"}):
    ...     print(default_cache_dir().as_posix())
    /home/me/.cache/probkm/jax
    """
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "probkm" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None, min_compile_time_s: float = 0.0) -> Path | None:
    """Point JAX's persistent compilation cache at ``path`` (default :func:`default_cache_dir`).

    Call it before the process's first JAX computation: JAX decides once, at its first
    compilation, whether the cache is in use.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The cache folder, created if need be. ``None``: a folder already set through JAX's
        own ``JAX_COMPILATION_CACHE_DIR`` is kept, else :func:`default_cache_dir`.
    min_compile_time_s : float, default 0.0
        Cache only programs that took at least this long to compile. JAX's default (1 s)
        skips the many sub-second programs a first fit compiles, which together cost most of
        its time; 0 caches every one.

    Returns
    -------
    pathlib.Path or None
        The folder in use; ``None`` if it could not be created (the cache then stays off and
        nothing else changes).

    Examples
    --------
    The example puts this process's setting back after it:

    >>> import jax, tempfile
    >>> from probkm.inference.compilation_cache import enable_compilation_cache
    >>> before = jax.config.jax_compilation_cache_dir
    >>> folder = enable_compilation_cache(tempfile.mkdtemp())
    >>> folder.is_dir(), jax.config.jax_compilation_cache_dir == str(folder)
    (True, True)
    >>> jax.config.update("jax_compilation_cache_dir", before)
    """
    import jax

    current = jax.config.jax_compilation_cache_dir
    folder = Path(current) if current and path is None else Path(path or default_cache_dir())
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_s))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)  # no size floor
    return folder


__all__ = ["default_cache_dir", "enable_compilation_cache", "ENV_VAR"]
