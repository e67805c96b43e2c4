"""Pages of the probkm documentation that are generated from the code, not written by hand.

* ``api/``: one page per public module of :mod:`probkm` (found by walking the package, so a
  new module gets its page without editing anything), with an autosummary table of its
  classes, functions and constants; autosummary writes one page per object.
* ``gallery/``: the notebooks of ``notebooks/``, copied with their stored outputs, and an
  index with the first figure of each.
* the ``probkm-config`` directive: a table of every key of ``probkm run``'s configuration
  (:mod:`probkm.cli.config`), read from the ``setting(default, constraint, doc)`` of each
  field; ``probkm-identifiability-settings``: the same for ``probkm identifiability``.

The generated folders are rewritten on every build and are not kept in git.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import importlib
import inspect
import json
import pkgutil
import re
import shutil
import typing
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

PACKAGE = "probkm"
# the order of the API index: what a user reaches for first, then the layers top down
ORDER = ["probkm", "probkm.estimators", "probkm.datasets", "probkm.core", "probkm.algorithms", "probkm.inference",
         "probkm.studies", "probkm.reporting", "probkm.cli"]


# ----------------------------------------------------------------------------- public modules


def public_modules() -> list[str]:
    """``probkm`` and every module under it whose dotted name has no part starting with ``_``."""
    package = importlib.import_module(PACKAGE)
    names = [PACKAGE] + [info.name for info in pkgutil.walk_packages(package.__path__, prefix=PACKAGE + ".")]
    return [name for name in names if not any(part.startswith("_") for part in name.split("."))]


def defined_objects(module) -> dict[str, object]:
    """The classes and functions ``module`` defines (not imports) under public names."""
    return {
        name: obj
        for name, obj in vars(module).items()
        if not name.startswith("_") and callable(obj) and getattr(obj, "__module__", None) == module.__name__
    }


def defined_constants(module) -> list[str]:
    """Public UPPER_CASE names assigned at the top level of ``module``'s source, and the
    non-callable names of its ``__all__``."""
    names = []
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        tree = ast.Module(body=[], type_ignores=[])
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name) and target.id.isupper() and not target.id.startswith("_"):
                names.append(target.id)
    for name in getattr(module, "__all__", ()):
        if not callable(getattr(module, name, None)) and name not in names:
            names.append(name)
    return [name for name in dict.fromkeys(names) if hasattr(module, name)]


def reexports(module) -> dict[str, object]:
    """Names of ``module.__all__`` that are defined in another module."""
    found = {}
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name, None)
        if callable(obj) and getattr(obj, "__module__", module.__name__) != module.__name__:
            found[name] = obj
    return found


def canonical_name(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _summary(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


# ----------------------------------------------------------------------------- API pages


def _module_page(name: str) -> str:
    module = importlib.import_module(name)
    lines = [name, "=" * len(name), "", f".. automodule:: {name}", "   :no-members:", "", f".. currentmodule:: {name}", ""]
    objects = defined_objects(module)
    groups = {
        "Classes": sorted(n for n, o in objects.items() if inspect.isclass(o) and not issubclass(o, BaseException)),
        "Exceptions": sorted(n for n, o in objects.items() if inspect.isclass(o) and issubclass(o, BaseException)),
        "Functions": sorted(n for n, o in objects.items() if not inspect.isclass(o)),
        "Constants": defined_constants(module),
    }
    for title, names in groups.items():
        if names:
            lines += [title, "-" * len(title), "", ".. autosummary::", "   :toctree: generated", "", *[f"   {n}" for n in names], ""]
    imported = reexports(module)
    if imported:
        title = "Defined elsewhere, importable from here"
        lines += [title, "-" * len(title), "", ".. list-table::", "   :widths: 30 70", ""]
        for short, obj in imported.items():
            role = "class" if inspect.isclass(obj) else "func"
            lines += [f"   * - :{role}:`{name}.{short} <{canonical_name(obj)}>`", f"     - {_summary(obj)}"]
        lines.append("")
    submodules = [m for m in public_modules() if m.rpartition(".")[0] == name]
    if submodules:
        lines += ["Modules", "-------", "", ".. toctree::", "   :maxdepth: 1", "", *[f"   {m}" for m in submodules], ""]
    return "\n".join(lines)


def _api_index(modules: list[str]) -> str:
    top = [m for m in modules if m.count(".") <= 1]
    ordered = [m for m in ORDER if m in top] + sorted(m for m in top if m not in ORDER)
    lines = [
        "API reference",
        "=============",
        "",
        "Every public module of probkm, layer by layer (:doc:`../architecture`). The names most",
        "programs need are importable from :mod:`probkm` itself.",
        "",
        ".. list-table::",
        "   :widths: 30 70",
        "",
    ]
    for name in ordered:
        lines += [f"   * - :mod:`{name}`", f"     - {_summary(importlib.import_module(name))}"]
    lines += ["", ".. toctree::", "   :hidden:", "", *[f"   {m}" for m in ordered], ""]
    return "\n".join(lines)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_api_pages(srcdir: Path) -> list[str]:
    """Write ``api/index.rst`` and one page per public module; return their document names."""
    folder = srcdir / "api"
    folder.mkdir(exist_ok=True)
    modules = public_modules()
    pages = {"index": _api_index(modules), **{name: _module_page(name) for name in modules}}
    for stale in folder.glob("*.rst"):
        if stale.stem not in pages:
            stale.unlink()
    for name, text in pages.items():
        _write_if_changed(folder / f"{name}.rst", text)
    return [f"api/{name}" for name in pages]


# ----------------------------------------------------------------------------- the gallery


def _first_png(notebook: dict) -> bytes | None:
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/png")
            if data:
                return base64.b64decode("".join(data) if isinstance(data, list) else data)
    return None


def _title_and_blurb(notebook: dict) -> tuple[str, str]:
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
            title = paragraphs[0].lstrip("#").strip() if paragraphs else ""
            blurb = " ".join(paragraphs[1].split()) if len(paragraphs) > 1 else ""
            return title, blurb
    return "", ""


def write_gallery(srcdir: Path, notebook_dir: Path) -> None:
    """Copy the notebooks into ``gallery/`` and write its index, a card per notebook."""
    folder = srcdir / "gallery"
    thumbs = folder / "_thumbs"
    thumbs.mkdir(parents=True, exist_ok=True)
    notebooks = sorted(notebook_dir.glob("*.ipynb"), key=lambda p: (p.stem != "quickstart", p.stem))
    for stale in folder.glob("*.ipynb"):
        if stale.name not in {p.name for p in notebooks}:
            stale.unlink()
    lines = [
        "# Gallery",
        "",
        "The notebooks of the repository's `notebooks/` folder, shown with the outputs stored in them",
        "(`python notebooks/execute.py` runs them all again and stores the new outputs).",
        "",
        "```{toctree}",
        ":hidden:",
        "",
        *[p.stem for p in notebooks],
        "```",
        "",
    ]
    for path in notebooks:
        target = folder / path.name
        if not target.exists() or target.read_bytes() != path.read_bytes():
            shutil.copyfile(path, target)
        notebook = json.loads(path.read_text())
        title, blurb = _title_and_blurb(notebook)
        lines += [f"## [{title or path.stem}]({path.stem}.ipynb)", "", blurb, ""]
        png = _first_png(notebook)
        if png:
            thumb = thumbs / f"{path.stem}.png"
            if not thumb.exists() or thumb.read_bytes() != png:
                thumb.write_bytes(png)
            lines += [f"```{{image}} _thumbs/{path.stem}.png", f":alt: {title or path.stem}", ":width: 420px", f":target: {path.stem}.html", "```", ""]
    _write_if_changed(folder / "index.md", "\n".join(lines))


# ----------------------------------------------------------------------------- configuration tables


def _shown(value) -> str:
    """A default as it is written in YAML."""
    import yaml

    value = list(value) if isinstance(value, tuple) else value
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n").removesuffix("\n...")


def config_rows(cls=None, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """``(key, default, allowed, doc)`` for every key of ``probkm run``'s configuration, dotted."""
    from probkm.cli.config import RunConfig

    cls = cls or RunConfig
    rows = []
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[field.name]):
            rows += config_rows(hints[field.name], prefix + field.name + ".")
            continue
        rows.append((prefix + field.name, _shown(field.default), field.metadata["constraint"].allowed, field.metadata["doc"]))
    return rows


def identifiability_rows() -> list[tuple[str, str, str, str]]:
    """``(key, default, allowed, doc)`` for every setting of ``probkm identifiability``."""
    from numpydoc.docscrape import FunctionDoc

    from probkm.studies.identifiability import SETTINGS, run_identifiability

    defaults = run_identifiability.__kwdefaults__ or {}
    docs = {}
    for item in FunctionDoc(run_identifiability)["Parameters"]:
        for name in item.name.split(","):
            docs[name.strip()] = " ".join(" ".join(item.desc).split())
    rows = []
    for key, constraint in SETTINGS.items():
        rows.append((key, _shown(defaults[key]) if key in defaults else "", constraint.allowed, docs.get(key, "")))
    rows.append(("output", "probkm-identifiability", "a folder", "output folder (``--out`` wins)"))
    return rows


_MARKUP = re.compile(r"``(.+?)``|:\w+:`~?([^`]+)`")


def _inline(text: str) -> list[nodes.Node]:
    """Plain text with its ``code`` and :role:`targets` set as code (the last part of a ``~`` target)."""
    parts, last = [], 0
    for match in _MARKUP.finditer(text):
        parts.append(nodes.Text(text[last:match.start()]))
        code = match.group(1) if match.group(1) is not None else match.group(2)
        if match.group(0).startswith(":") and "`~" in match.group(0):
            code = code.rpartition(".")[2]
        parts.append(nodes.literal(text=code))
        last = match.end()
    parts.append(nodes.Text(text[last:]))
    return [part for part in parts if part.astext()]


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], literal_columns: tuple[int, ...], widths: tuple[int, ...]) -> nodes.table:
    """A docutils table of plain text, with ``literal_columns`` set as code."""
    table = nodes.table(classes=["probkm-config"])
    group = nodes.tgroup(cols=len(header))
    table += group
    group += [nodes.colspec(colwidth=w) for w in widths]

    def row(cells, literal):
        entry_row = nodes.row()
        for j, text in enumerate(cells):
            content = [nodes.literal(text=text)] if literal and j in literal_columns and text else _inline(text)
            entry_row += nodes.entry("", nodes.paragraph("", "", *content))
        return entry_row

    group += nodes.thead("", row(header, False))
    group += nodes.tbody("", *[row(cells, True) for cells in rows])
    return table


class _TableDirective(SphinxDirective):
    has_content = False

    def rows(self) -> list[tuple[str, str, str, str]]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        return [_table(("key", "default", "allowed values", "meaning"), self.rows(), (0, 1), (22, 16, 24, 38))]


class ConfigTable(_TableDirective):
    """Every key of ``probkm run``'s YAML configuration."""

    def rows(self):
        return config_rows()


class IdentifiabilitySettingsTable(_TableDirective):
    """Every key of ``probkm identifiability``'s YAML settings."""

    def rows(self):
        return identifiability_rows()


# ----------------------------------------------------------------------------- docstrings


def _skip_member(app, what, name, obj, skip, options):
    """scikit-learn's metadata-routing methods (``set_fit_request`` and the like) are set on
    every estimator class by scikit-learn itself; their docstrings belong to scikit-learn."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


# ----------------------------------------------------------------------------- the extension


def _generate(app) -> None:
    srcdir = Path(app.srcdir)
    pages = write_api_pages(srcdir)
    write_gallery(srcdir, (Path(app.confdir) / app.config.probkm_notebook_dir).resolve())
    # autosummary writes the object pages of the tables on these pages (and only these)
    app.config.autosummary_generate = pages


def setup(app):
    app.add_config_value("probkm_notebook_dir", "../notebooks", "env")
    app.connect("builder-inited", _generate, priority=400)  # before autosummary's handler (500)
    app.connect("autodoc-skip-member", _skip_member)
    app.add_directive("probkm-config", ConfigTable)
    app.add_directive("probkm-identifiability-settings", IdentifiabilitySettingsTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
