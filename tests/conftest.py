import os

import pytest

os.environ.setdefault("TORCHGAN_EXT_DISABLE_PLUGIN_AUTOLOAD", "")


@pytest.fixture(autouse=True)
def _default_plugins():
    """Every test starts from the default plugin set (tests may load extra plugins)."""
    from torchgan_ext import load_plugins

    load_plugins()
    yield
