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
    """`torchgan-run` with no config: a held-out MNIST classifier recognises the digits.

    Score: the Inception-Score analogue with the ``mnist`` judge, a logistic regression fitted
    on the MNIST-5k test split only (unseen real training digits: 5.8; the whole quickstart:
    3.41). The quickstart runs its first QUICK_STEPS steps here (11 of its 30 epochs, so the
    test stays short; measured: 2.95, every digit 4.6% or more); its generator must reach 2.5
    and draw every digit.
    """
    from torchgan_ext import MODELS
    from torchgan_ext.cli import main
    from torchgan_ext.testing import digits_score
    from torchgan_ext.trainer.checkpoint import list_checkpoints, load_checkpoint

    monkeypatch.chdir(tmp_path)
    argv = ["--set", "logging.progress=false", "--set", f"trainer.max_steps={QUICK_STEPS}"]
    assert main(argv) == 0
    run = tmp_path / "runs" / "quickstart"
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["data"]["args"]["source"] == "mnist"
    g_cfg = resolved["models"]["generator"]
    g = MODELS.get(g_cfg["name"])(**g_cfg["args"])
    state = load_checkpoint(list_checkpoints(run / "checkpoints")[-1])
    assert state["step"] == QUICK_STEPS
    g.load_state_dict(state["models"]["generator"])
    result = digits_score(g, 1000, seed=0, judge="mnist")
    assert result.score >= 2.5, result
    assert min(result.counts) >= 20, result  # every digit appears


#: Steps of the quickstart run by the test above.
QUICK_STEPS = 682


@pytest.mark.parametrize(
    "name",
    ["stylegan2_digits.yaml", pytest.param("stylegan2_ffhq256.yaml", marks=pytest.mark.slow)],
)
def test_stylegan2_configs_load_and_build(name, tmp_path):
    """The shipped StyleGAN2 configs build their models, losses and the recipe's callbacks
    (the 256 px one on a fake image folder, batch 4, at its full paper256 widths)."""
    from torchgan_ext import build_trainer, load_config
    from torchgan_ext.testing import write_image_folder

    overrides = [f"out_dir={tmp_path / 'run'}", "logging.tensorboard=false"]
    if name == "stylegan2_ffhq256.yaml":
        root = write_image_folder(tmp_path / "faces", classes=None, per_class=4, size=(32, 32))
        overrides += [
            f"data.args.root={root}",
            "data.loader.batch_size=4",
            "data.loader.num_workers=0",
        ]
    cfg = load_config(ROOT / "configs" / name, overrides)
    trainer, _ = build_trainer(cfg, device="cpu")
    g, d = trainer.generator, trainer.discriminator
    size = 256 if name == "stylegan2_ffhq256.yaml" else 32
    assert (g.out_size, d.in_size, g.style_mixing_prob) == (size, size, 0.9)
    assert {"ema", "r1_penalty", "path_length"} <= set(trainer.callbacks)
    assert trainer.callbacks["r1_penalty"].every == 16
    assert trainer.callbacks["path_length"].every == 4
    if name == "stylegan2_ffhq256.yaml":  # paper256: 512-d z and w, 64 maps at 256 px, 512 at 32
        assert g.w_dim == 512 and g.convs[-1].conv.weight.shape[0] == 64
        assert d.mbstd.group_size == 8 and d.from_rgb.weight.shape[0] == 64


@pytest.mark.parametrize("name", ["progan_digits", "progan_celebahq256"])
def test_progan_configs_load_and_build(tmp_path, name):
    """The Progressive GAN configs build (models from the data, the growing schedule first)."""
    from PIL import Image

    from torchgan_ext import build_trainer, load_config

    for i in range(2):
        Image.new("RGB", (20, 20), (90 * i, 100, 50)).save(tmp_path / f"{i}.png")
    overrides = [f"out_dir={tmp_path / 'run'}", "device=cpu", "data.loader.batch_size=2"]
    overrides += [f"models.{m}.args.fmap_base=16" for m in ("generator", "discriminator")]
    if name == "progan_celebahq256":
        overrides += [f"data.args.root={tmp_path}", "data.args.image_size=16"]
        overrides += ["data.loader.num_workers=0"]
    trainer, _ = build_trainer(load_config(ROOT / "configs" / f"{name}.yaml", overrides))
    assert list(trainer.callbacks)[-2:] == ["progressive_growing", "checkpoint"]
    assert trainer.generator.out_size == trainer.discriminator.in_size
