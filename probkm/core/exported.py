"""Traced programs kept on disk, so a fresh process skips tracing and lowering.

JAX's persistent compilation cache (:mod:`probkm.inference.compilation_cache`) keeps the
*compiled* executable, but a fresh process must still trace the Python function and lower it
to StableHLO before it can look the executable up. For a whole MAP fit that is most of a
cached first call: about 1.8 s of CPU on iris, against 0.04 s for a warm fit.
:class:`DiskProgram` keeps the lowered program too, serialised with :mod:`jax.export`, in a
folder beside the compilation cache; a fresh process deserialises it (milliseconds) and the
compilation cache supplies the executable.

It is active only while JAX's compilation cache folder is set (the ``probkm`` command sets it;
so does :func:`probkm.inference.compilation_cache.enable_compilation_cache`), and only for calls
whose arguments live on one device. Anything it cannot serialise or read back is compiled the
ordinary way. A stored program is found again only by a process with the same probkm sources,
JAX version, platform and precision, the same static arguments and the same argument shapes,
dtypes and tree structure: the file name hashes all of them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

log = logging.getLogger(__name__)

_typeof = getattr(jax, "typeof", None) or jax.core.get_aval  # jax.typeof from JAX 0.4.36 on

FOLDER = "probkm-exported"  # beside JAX's own cache files, inside its cache folder


@lru_cache(maxsize=1)
def _sources_digest() -> str:
    """Hash of every probkm source file: a stored program is stale once any of them changes."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _stable(value: Any) -> str | None:
    """A text that names ``value`` the same way in every process, or ``None`` if there is none."""
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        parts = [_stable(v) for v in value]
        return None if None in parts else f"{type(value).__name__}({','.join(parts)})"
    if isinstance(value, dict):
        parts = [(_stable(k), _stable(v)) for k, v in sorted(value.items(), key=lambda kv: repr(kv[0]))]
        return None if any(None in p for p in parts) else "{" + ",".join(f"{k}:{v}" for k, v in parts) + "}"
    if callable(value) and getattr(value, "__qualname__", "<").find("<") < 0 and getattr(value, "__module__", None):
        return f"{value.__module__}.{value.__qualname__}"  # a module-level function, not a lambda or closure
    return None


def _aval(leaf: Any) -> str | None:
    """Shape, dtype and weak type of one dynamic argument; ``None`` for a tracer or a sharded array."""
    if isinstance(leaf, jax.core.Tracer):
        return None
    if isinstance(leaf, jax.Array) and len(leaf.sharding.device_set) != 1:
        return None  # a program exported for one device cannot take rows split over several
    aval = _typeof(leaf)
    return f"{aval.str_short()}{'w' if getattr(aval, 'weak_type', False) else ''}"


def _folder() -> Path | None:
    cache_dir = jax.config.jax_compilation_cache_dir
    return Path(cache_dir) / FOLDER if cache_dir else None


class DiskProgram:
    """A jitted function whose traced programs are also kept on disk (see the module docstring).

    Calls inside another traced function, with arguments on several devices, or while no
    compilation cache folder is set go to the jitted function unchanged.

    Parameters
    ----------
    fun : callable
        The Python function.
    jitted : callable
        ``jax.jit(fun, static_argnames=...)``, or an object whose ``default`` attribute is one
        (it then also runs the calls no stored program serves).
    static_argnames : tuple of str
        Its static keyword arguments (passed by keyword only).
    options : callable, optional
        ``(args, kwargs)`` to XLA's compiler options for the program stored for them.

    Examples
    --------
    :func:`probkm.core.programs.compiled` makes them (``on_disk=True``). With a cache folder
    set, the first call stores the program; a process that has it traces nothing:

    >>> import jax, jax.numpy as jnp, tempfile
    >>> from probkm.core.programs import compiled
    >>> @compiled(on_disk=True, static_argnames=("power",))
    ... def raise_to(x, *, power):
    ...     return x**power
    >>> before = jax.config.jax_compilation_cache_dir
    >>> jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp())
    >>> float(raise_to(jnp.asarray(3.0), power=2))
    9.0
    >>> raise_to.clear_cache()  # as in a new process: the program is read back from disk
    >>> float(raise_to(jnp.asarray(4.0), power=2))
    16.0
    >>> jax.config.update("jax_compilation_cache_dir", before)
    """

    def __init__(self, fun: Callable, jitted: Callable, static_argnames: tuple[str, ...], options: Callable | None = None):
        self._name = f"{fun.__module__}.{fun.__qualname__}"
        self._jitted = jitted
        self._options = options  # (args, kwargs) to XLA's compiler options for the loaded program
        self._static = frozenset(static_argnames)
        self._loaded: dict[str, Callable] = {}  # file key to jax.jit(exported.call)
        self.__wrapped__ = fun
        self.__doc__ = fun.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        folder = _folder()
        key = None if folder is None else self._key(args, kwargs)
        if key is None:
            return self._jitted(*args, **kwargs)
        dynamic = {k: v for k, v in kwargs.items() if k not in self._static}
        call = self._loaded.get(key) or self._load(folder / f"{key}.jaxexport", args, kwargs)
        if call is None:
            return self._jitted(*args, **kwargs)
        self._loaded[key] = call
        return call(*args, **dynamic)

    def _key(self, args: tuple, kwargs: dict) -> str | None:
        static = _stable({k: v for k, v in kwargs.items() if k in self._static})
        leaves, tree = jax.tree.flatten((args, {k: v for k, v in kwargs.items() if k not in self._static}))
        avals = [_aval(leaf) for leaf in leaves]
        if static is None or None in avals:
            return None
        text = "|".join([
            self._name, static, str(tree), ",".join(avals), _sources_digest(), jax.__version__,
            jax.default_backend(), str(jax.config.jax_enable_x64),
        ])
        return f"{self._name.rsplit('.', 1)[-1].strip('_')}-{hashlib.sha256(text.encode()).hexdigest()[:40]}"

    def _load(self, path: Path, args: tuple, kwargs: dict) -> Callable | None:
        """The stored program, or a new one exported and stored; ``None`` if neither works."""
        from jax import export

        try:
            exported = export.deserialize(bytearray(path.read_bytes()))
        except FileNotFoundError:
            exported = None
        except Exception as error:  # a truncated or foreign file: export again over it
            log.debug("could not read %s: %s", path, error)
            exported = None
        if exported is None:
            try:
                exported = export.export(getattr(self._jitted, "default", self._jitted))(*args, **kwargs)
                _write(path, exported.serialize())
            except Exception as error:  # not serialisable (a host callback, say) or no flatbuffers
                log.debug("%s is not kept on disk: %s", self._name, error)
                return None
        return jax.jit(exported.call, compiler_options=None if self._options is None else self._options(args, kwargs))

    def clear_cache(self) -> None:
        """Drop every program this function holds in memory (the files stay)."""
        self._jitted.clear_cache()
        for call in self._loaded.values():
            call.clear_cache()
        self._loaded.clear()

    def _cache_size(self) -> int:
        return self._jitted._cache_size() + sum(call._cache_size() for call in self._loaded.values())


def serializable(cls: type) -> type:
    """Class decorator: let a ``NamedTuple`` of arrays be the result of a program kept on disk.

    Examples
    --------
    >>> from typing import NamedTuple
    >>> from probkm.core.exported import serializable
    >>> @serializable
    ... class Pair(NamedTuple):
    ...     first: object
    ...     second: object
    >>> Pair(1, 2).second
    2
    """
    from jax import export

    return export.register_namedtuple_serialization(cls, serialized_name=f"{cls.__module__}.{cls.__qualname__}")


def _write(path: Path, blob: bytes | bytearray) -> None:
    """Write ``blob`` to ``path`` atomically: a concurrent reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(blob)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


__all__ = ["DiskProgram", "FOLDER", "serializable"]
