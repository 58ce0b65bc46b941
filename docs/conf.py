"""Sphinx configuration of the torchgan-ext documentation."""

project = "torchgan-ext"
author = "torchgan-ext developers"
extensions = ["myst_parser", "sphinx.ext.mathjax"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "alabaster"
