"""Sphinx configuration: python -m sphinx -W -b html docs docs/_build/html."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import skconv  # noqa: E402

project = "skconv"
author = "the skconv developers"
copyright = "2026, the skconv developers"
version = release = skconv.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = [
    "_build",
    "defaults.md",
    "auto_examples/*.ipynb",
    "auto_examples/*.py.md5",
    "auto_examples/*.zip",
]
root_doc = "index"
# sphinx-gallery's configuration holds a function (reset_argv): not cacheable,
# which only means a full rebuild each time.
suppress_warnings = ["config.cache"]

autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# No network at build time: no intersphinx inventories are fetched.
intersphinx_mapping = {}

html_theme = "pydata_sphinx_theme"
html_title = f"skconv {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
}
html_static_path = []


def _example_argv(gallery_conf, script_vars):
    """Run every example in its fast mode, writing its own figure files to a temp dir."""
    writes_files = "--out" in Path(script_vars["src_file"]).read_text()
    return ["--fast"] + (["--out", tempfile.gettempdir()] if writes_files else [])


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",  # run them all
    "reset_argv": _example_argv,
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": os.environ.get("SKCONV_DOCS_PLOT", "True"),
}
