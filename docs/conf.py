"""Sphinx configuration of the torchgan-ext documentation."""

import os
import sys

# The API pages import the package from this checkout (no install needed).
sys.path.insert(0, os.path.abspath(".."))

project = "torchgan-ext"
author = "torchgan-ext developers"
extensions = ["myst_parser", "sphinx.ext.mathjax", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "alabaster"

# API reference: Google-style docstrings of the real modules (torch is a dependency).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# Defaults as written in the source: no object reprs with memory addresses (a deterministic build).
autodoc_preserve_defaults = True
autodoc_default_options = {"show-inheritance": True}
