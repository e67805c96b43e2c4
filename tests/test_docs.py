"""The documentation site builds without a warning, and its API reference covers every public
object of probkm.

One build (HTML, warnings as errors, no network: no intersphinx inventories, notebooks shown
with their stored outputs rather than executed) serves every test here. The notebooks'
cells are run by ``test_notebooks.py`` and ``test_identifiability.py``.
"""

from __future__ import annotations

import html
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("myst_nb")
pytest.importorskip("sphinxarg")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
import probkm_docs  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built HTML folder."""
    out = tmp_path_factory.mktemp("html")
    env = {**os.environ, "PROBKM_DOCS_OFFLINE": "1", "JAX_PLATFORMS": "cpu", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q", "-D", "nb_execution_mode=off",
               "-d", str(out / ".doctrees"), str(DOCS), str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"sphinx-build failed:\n{done.stdout[-5000:]}\n{done.stderr[-10000:]}"
    return out


def _inventory(site: Path) -> dict[str, dict]:
    from sphinx.util.inventory import InventoryFile

    with open(site / "objects.inv", "rb") as handle:
        inventory = InventoryFile.load(handle, "", lambda base, uri: uri)
    # Sphinx 8.2+ returns an Inventory object; older versions a plain dict of dicts
    data = getattr(inventory, "data", inventory)
    return {role: {name: item for name, item in items.items()} for role, items in data.items()}


def _documented_python_names(site: Path) -> set[str]:
    return {name for role, items in _inventory(site).items() if role.startswith("py:") for name in items}


def expected_names() -> set[str]:
    """What the API reference must hold: every public module, every class and function each
    one defines, and every name of each ``__all__`` (at its defining module)."""
    names = set()
    for module_name in probkm_docs.public_modules():
        module = importlib.import_module(module_name)
        names.add(module_name)
        names.update(f"{module_name}.{name}" for name in probkm_docs.defined_objects(module))
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            names.add(probkm_docs.canonical_name(obj) if callable(obj) else f"{module_name}.{name}")
    return names


def _text(page: Path) -> str:
    """A page's words, without tags, separated by single spaces."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.read_text())).split())


def test_every_public_object_has_an_api_entry(site):
    missing = sorted(expected_names() - _documented_python_names(site))
    assert not missing, f"no API entry for: {', '.join(missing)}"


def test_the_pages_a_reader_starts_from_exist(site):
    for page in ["index", "getting_started", "theory", "architecture", "shapes", "guide/generate", "guide/choosing_k",
                 "guide/known_parameters", "guide/nuts_arviz", "guide/identifiability", "guide/speed",
                 "reference/cli", "reference/config", "api/index", "gallery/index", "benchmarks/results"]:
        assert (site / f"{page}.html").is_file(), page


def test_every_notebook_is_in_the_gallery_with_its_figures(site):
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = site / "gallery" / f"{notebook.stem}.html"
        assert page.is_file(), notebook.name
        stored = json.loads(notebook.read_text())
        figures = sum("image/png" in out.get("data", {}) for cell in stored["cells"] for out in cell.get("outputs", []))
        assert figures > 0, f"{notebook.name} is stored without its figures: run python notebooks/execute.py"
        assert page.read_text().count("<img") >= figures, notebook.name


def test_cli_reference_lists_every_command_and_option(site):
    from probkm.cli.commands import build_parser

    text = (site / "reference" / "cli.html").read_text()
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        assert f'id="{name}"' in text or f">{name}<" in text, name
        for action in sub._actions:
            for option in action.option_strings:
                assert option in text, f"probkm {name} {option}"


def test_config_reference_lists_every_key_and_default(site):
    text = _text(site / "reference" / "config.html")
    for key, default, allowed, doc in probkm_docs.config_rows() + probkm_docs.identifiability_rows():
        assert f" {key} {default} {allowed} " in text, (key, default, allowed)
