"""Sphinx configuration of the probkm documentation.

Build it with ``python -m sphinx docs docs/_build/html`` (``pip install ".[docs]"`` first).
The notebooks are rendered with the outputs stored in them (``python notebooks/execute.py``
refreshes those); set ``PROBKM_DOCS_EXECUTE=1`` to have myst-nb execute them during the build
instead, with its cache in ``docs/_build/.jupyter_cache``.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # the probkm of this checkout, installed or not
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import probkm  # noqa: E402

project = "probkm"
author = "the probkm developers"
copyright = "the probkm developers"
release = probkm.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
    "sphinxarg.ext",
    "probkm_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
templates_path = ["_templates"]

# ---- API reference (probkm_docs writes api/*.rst; autosummary one page per object)
autosummary_generate = True  # probkm_docs narrows this to its API pages
autosummary_generate_overwrite = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_preserve_defaults = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()

# ---- prose and notebooks
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "cache" if os.environ.get("PROBKM_DOCS_EXECUTE") == "1" else "off"
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
nb_execution_timeout = 3600
nb_execution_raise_on_error = True
nb_execution_in_temp = True  # files a notebook writes go to a temporary folder
nb_merge_streams = True
probkm_notebook_dir = "../notebooks"

# ---- cross-references to other projects; the tests build with -D intersphinx_disabled_reftypes=*
# or an empty mapping, so no build needs the network
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "jax": ("https://docs.jax.dev/en/latest", None),
    "numpyro": ("https://num.pyro.ai/en/stable", None),
    "arviz": ("https://python.arviz.org/en/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
}
if os.environ.get("PROBKM_DOCS_OFFLINE") == "1":
    intersphinx_mapping = {}

# ---- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"probkm {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
smartquotes = False  # options such as --set stay as typed
