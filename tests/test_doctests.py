"""The examples in the docstrings: every module's run and print what they show, and the
documented modules give every public function and class one."""

import doctest
import importlib
import io
import pkgutil
import re

import pytest

import probkm

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

MODULES = ["probkm"] + sorted(info.name for info in pkgutil.walk_packages(probkm.__path__, prefix="probkm."))

# every module (not the packages' __init__): its public functions and classes each carry an
# ``Examples`` section
DOCUMENTED_MODULES = [
    name for name in MODULES if name != "probkm" and not hasattr(importlib.import_module(name), "__path__")
]

EXAMPLES_SECTION = re.compile(r"^[ \t]*Examples[ \t]*\n[ \t]*-{8,}[ \t]*$", re.MULTILINE)


def public_objects(module):
    """The functions and classes ``module`` defines (not imports) under names without a leading underscore."""
    return {
        name: obj
        for name, obj in vars(module).items()
        if not name.startswith("_") and callable(obj) and getattr(obj, "__module__", None) == module.__name__
    }


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report = io.StringIO()
    failed = 0
    for test in doctest.DocTestFinder().find(module, name):
        failed += runner.run(test, out=report.write).failed
    if failed:
        pytest.fail(f"{failed} example(s) failed in {name}:\n{report.getvalue()}", pytrace=False)


@pytest.mark.parametrize("name", DOCUMENTED_MODULES)
def test_public_names_have_examples(name):
    module = importlib.import_module(name)
    objects = public_objects(module)
    missing = sorted(n for n, obj in objects.items() if not EXAMPLES_SECTION.search(obj.__doc__ or ""))
    assert not missing, f"{name}: no Examples section in the docstring of {', '.join(missing)}"


def test_documented_modules_exist():
    assert set(DOCUMENTED_MODULES) <= set(MODULES)
