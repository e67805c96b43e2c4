"""The folder tree is the architecture: imports only point down a layer, and no module imports
itself back through another (the contracts are declared once, in ``pyproject.toml``)."""

from __future__ import annotations

import itertools
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold(capsys):
    exit_code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    report = capsys.readouterr().out
    assert exit_code == 0, report
    assert "2 kept, 0 broken" in report


def test_no_import_cycles_between_modules():
    graph = grimp.build_graph("probkm", cache_dir=None)
    modules = sorted(m for m in graph.modules if not graph.find_children(m))
    cycles = [
        (a, b)
        for a, b in itertools.combinations(modules, 2)
        if graph.direct_import_exists(importer=a, imported=b) and graph.chain_exists(importer=b, imported=a)
        or graph.direct_import_exists(importer=b, imported=a) and graph.chain_exists(importer=a, imported=b)
    ]
    assert not cycles, f"modules that import each other (directly or through others): {cycles}"
