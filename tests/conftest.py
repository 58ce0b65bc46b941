import os

# The suite runs with pytest-xdist on 2 cores (one worker per core): one intra-op thread per
# worker avoids oversubscription (subprocesses inherit it through the environment).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(autouse=True)
def _default_plugins():
    """Every test starts from the default plugin set (tests may load extra plugins)."""
    from torchgan_ext import load_plugins

    load_plugins()
    yield
