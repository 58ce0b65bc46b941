"""Docs build without warnings; the embedded quickstart equals configs/quickstart.yaml."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from torchgan_ext.cli import embedded_quickstart

ROOT = Path(__file__).resolve().parents[1]
API_PAGES = (
    "index",
    "torchgan_ext",
    "config",
    "build",
    "callbacks",
    "trainer",
    "protocols",
    "layers",
    "augment",
    "models",
    "losses",
    "metrics",
    "data",
    "weights",
    "logging",
    "testing",
)


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
    html = tmp_path / "html"
    assert (html / "index.html").is_file()
    # The API reference is generated from the docstrings of the real modules.
    pages = {p.stem for p in (html / "api").glob("*.html")}
    assert set(API_PAGES) <= pages, set(API_PAGES) - pages
    assert 'href="api/index.html"' in (html / "index.html").read_text()
    callbacks = (html / "api" / "callbacks.html").read_text()
    assert "on_train_batch_end" in callbacks
    assert 'id="torchgan_ext.callbacks.ema.EMA"' in callbacks
    assert 'id="torchgan_ext.run"' in (html / "api" / "torchgan_ext.html").read_text()
    losses = (html / "api" / "losses.html").read_text()
    assert 'id="torchgan_ext.losses.hinge.HingeDiscriminatorLoss"' in losses
    assert 'class="math' in losses  # the `.. math::` formulas


@pytest.mark.slow
def test_embedded_quickstart_learns_recognisable_digits(tmp_path, monkeypatch):
    """`torchgan-run` with no config: a digit classifier recognises the generated digits.

    Score: the Inception-Score analogue with a logistic-regression digit classifier trained on
    the real 8x8 digits (the real digits: 7.5; an untrained generator: ~1.05, nearly all one
    class). The trained quickstart generator must reach 2.0 and produce every digit.
    """
    import glob

    from torchgan_ext import MODELS
    from torchgan_ext.cli import main
    from torchgan_ext.testing import digits_score
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
    result = digits_score(g, 1000, seed=0)
    assert result.score >= 2.0, result
    assert min(result.counts) >= 20, result  # every digit appears
