"""Docs build without warnings; the embedded quickstart equals configs/quickstart.yaml."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from torchgan_ext.cli import embedded_quickstart

ROOT = Path(__file__).resolve().parents[1]


def test_embedded_quickstart_is_the_shipped_config():
    shipped = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    assert shipped == embedded_quickstart()


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(ROOT / "docs"),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "html" / "index.html").is_file()


@pytest.mark.slow
def test_embedded_quickstart_learns_recognisable_digits(tmp_path, monkeypatch):
    """`torchgan-run` with no config: a digit classifier recognises the generated digits.

    Score: the Inception-Score analogue with a logistic-regression digit classifier trained on
    the real 8x8 digits (real test digits: ~6.6; an untrained generator: ~1.1, nearly all one
    class). The trained quickstart generator must reach 2.0 and produce every digit.
    """
    import glob

    import numpy as np
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    from torchgan_ext import MODELS
    from torchgan_ext.cli import main
    from torchgan_ext.trainer.checkpoint import load_checkpoint

    monkeypatch.chdir(tmp_path)
    assert main(["--set", "logging.progress=false"]) == 0
    run = tmp_path / "runs" / "quickstart"
    assert (run / "samples" / "step00002800_generator.png").is_file()
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    g_cfg = resolved["models"]["generator"]
    g = MODELS.get(g_cfg["name"])(**g_cfg["args"])
    ckpt = sorted(glob.glob(str(run / "checkpoints" / "*.pt")))[-1]
    g.load_state_dict(load_checkpoint(ckpt)["models"]["generator"])
    g.eval()
    digits = load_digits()
    x = digits.images.reshape(len(digits.images), -1) / 16.0
    clf = LogisticRegression(max_iter=3000).fit(x, digits.target)
    torch.manual_seed(0)
    with torch.no_grad():
        fake = (g(torch.randn(1000, g.encoding_dims)) + 1) / 2
    p = clf.predict_proba(F.adaptive_avg_pool2d(fake, 8).reshape(1000, -1).numpy())
    marginal = p.mean(0, keepdims=True)
    score = float(np.exp((p * (np.log(p + 1e-12) - np.log(marginal + 1e-12))).sum(1).mean()))
    counts = np.bincount(p.argmax(1), minlength=10)
    assert score >= 2.0, (score, counts)
    assert counts.min() >= 20, counts  # every digit appears
