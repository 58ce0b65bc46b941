"""``torchgan_ext.load_run``: the models of a trained run from its directory or a checkpoint,
without the training data."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from torchgan_ext import ConfigError, LoadedRun, load_run
from torchgan_ext.config import config_from_dict
from torchgan_ext.runner import run
from torchgan_ext.testing import tiny_config


def _folder(root, n=32, size=16):
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(
            root / f"{i:03d}.png"
        )
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny DCGAN with an EMA generator, trained 3 steps on a folder that is then deleted."""
    base = tmp_path_factory.mktemp("load_run")
    data = _folder(base / "images")
    cfg = tiny_config(base / "run")
    cfg["data"] = {
        "name": "image_folder",
        "args": {"root": str(data), "image_size": 16, "channels": 1},
        "loader": {"batch_size": 8, "num_workers": 0, "shuffle": True, "drop_last": True},
    }
    cfg["trainer"].update({"max_steps": 3, "checkpoint_every": 2, "ema": {"decay": 0.5}})
    result = run(config_from_dict(cfg, source=str(base / "run.yaml")))
    shutil.rmtree(data)  # loading never needs the data again
    return base / "run", result


def test_load_run_returns_the_ema_generator_in_eval_mode(trained):
    out, result = trained
    loaded = load_run(out, device="cpu")
    assert isinstance(loaded, LoadedRun)
    assert loaded.step == 3 and loaded.checkpoint.name == "ckpt-00000003.pt"
    assert loaded.weights == {"generator": "ema", "discriminator": "raw"}
    g = loaded.generator
    assert not g.training and not any(p.requires_grad for p in g.parameters())
    ema = result.trainer.ema["generator"].module
    for k, v in ema.state_dict().items():
        assert torch.equal(g.state_dict()[k], v), k
    z = torch.randn(4, 8)
    with torch.no_grad():
        assert torch.equal(g(z), ema.eval()(z))
        assert g(z).shape == (4, 1, 16, 16)  # channels and size from the resolved config
    assert loaded["discriminator"] is loaded.models["discriminator"]


def test_raw_weights_a_checkpoint_file_and_a_model_subset(trained):
    out, result = trained
    ckpt = out / "checkpoints" / "ckpt-00000002.pt"
    loaded = load_run(ckpt, device="cpu", ema=False, models=["generator"])
    assert loaded.step == 2 and list(loaded.models) == ["generator"]
    assert loaded.weights == {"generator": "raw"}
    saved = torch.load(ckpt, weights_only=True)["models"]["generator"]
    for k, v in saved.items():
        assert torch.equal(loaded.generator.state_dict()[k], v), k
    ema = load_run(ckpt, device="cpu", models=["generator"]).generator
    raw = dict(loaded.generator.named_parameters())
    assert any(not torch.equal(p, raw[k]) for k, p in ema.named_parameters())  # an average


def test_a_moved_checkpoint_needs_its_config(trained, tmp_path):
    out, _ = trained
    moved = tmp_path / "ckpt.pt"
    shutil.copy(out / "checkpoints" / "ckpt-00000003.pt", moved)
    with pytest.raises(ConfigError, match="no config.yaml"):
        load_run(moved, device="cpu")
    loaded = load_run(moved, device="cpu", config=out / "config.yaml")
    assert loaded.step == 3


def test_bad_paths_and_names_are_one_line_errors(trained, tmp_path):
    out, _ = trained
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no checkpoint in .*empty/checkpoints"):
        load_run(tmp_path / "empty")
    with pytest.raises(ConfigError, match="does not exist"):
        load_run(tmp_path / "missing")
    with pytest.raises(ConfigError, match="no model 'critic'; its models: generator"):
        load_run(out, models=["critic"])
    (tmp_path / "junk" / "checkpoints").mkdir(parents=True)
    shutil.copy(out / "config.yaml", tmp_path / "junk" / "config.yaml")
    (tmp_path / "junk" / "checkpoints" / "ckpt-00000001.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="ckpt-00000001.pt"):
        load_run(tmp_path / "junk", device="cpu")


def test_weights_that_do_not_fit_name_the_checkpoint(trained, tmp_path):
    out, _ = trained
    other = tmp_path / "other"
    shutil.copytree(out, other)
    text = (other / "config.yaml").read_text()
    (other / "config.yaml").write_text(text.replace("step_channels: 4", "step_channels: 8"))
    with pytest.raises(ConfigError, match=r"do not fit model 'dcgan_generator'") as info:
        load_run(other, device="cpu")
    assert "\n" not in str(info.value)
