"""Doctests of the package modules (``--doctest-modules`` over ``torchgan_ext``)."""

import pytest

# `python -m torchgan_ext` trains the quickstart: importing it as a doctest module would run it.
collect_ignore = ["torchgan_ext/__main__.py"]


@pytest.fixture(autouse=True)
def _doctest_tmp_path(request):
    """Doctests get ``tmp_path`` and run in it: examples that write files stay out of the repo."""
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    from torchgan_ext import load_plugins

    load_plugins()  # the default plugin set, as every test under tests/ starts with
    tmp_path = request.getfixturevalue("tmp_path")
    request.getfixturevalue("doctest_namespace")["tmp_path"] = tmp_path
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.chdir(tmp_path)
    yield
