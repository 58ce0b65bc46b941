"""``--sample`` of pix2pix trained on one-hot Cityscapes label maps (``cityscapes_pairs`` with
``label_format: onehot``): PNG label maps in, through the dataset's own conversion."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_sampling import loaded_generator

from torchgan_ext import load_run, run
from torchgan_ext.cli import main
from torchgan_ext.config import load_config
from torchgan_ext.data.cityscapes import label_ids_to_train_ids
from torchgan_ext.data.cityscapes_pairs import CityscapesPairs, train_ids_to_onehot
from torchgan_ext.errors import ConfigError
from torchgan_ext.models.pix2pix import Pix2PixGenerator
from torchgan_ext.sampling import sample_images
from torchgan_ext.testing import write_cityscapes

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32


@pytest.fixture(scope="module")
def onehot_run(tmp_path_factory):
    """One step of the shipped pix2pix Cityscapes config on one-hot label maps (32 px, no
    dropout so that the outputs are deterministic), and a miniature Cityscapes tree."""
    tmp = tmp_path_factory.mktemp("onehot_pix2pix")
    fake = write_cityscapes(tmp / "data", size=(SIZE, SIZE), images={"train": 2, "val": 2})
    sets = [
        f"data.args.root={fake.root}",
        "data.args.label_format=onehot",
        f"data.args.image_size={SIZE}",
        f"data.args.load_size={SIZE}",
        "data.loader.num_workers=0",
        "data.val=null",
        f"out_dir={tmp / 'run'}",
        "device=cpu",
        "trainer.max_steps=1",
        "logging.progress=false",
        "logging.tensorboard=false",
        "models.generator.args.base_channels=4",
        "models.generator.args.dropout=0.0",
        "models.discriminator.args.base_channels=4",
    ]
    run(load_config(ROOT / "configs" / "pix2pix_cityscapes.yaml", sets))
    return tmp / "run" / "config.yaml", tmp / "run", fake  # the run's resolved config


def _expected(loaded, onehot: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        y = loaded.generator(onehot.unsqueeze(0))[0]
    return ((y.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


def test_label_id_and_colour_maps_are_sampled_as_the_dataset_encodes_them(onehot_run, capsys):
    config, out, fake = onehot_run
    frame = fake.images["val"][0]
    inputs = out.parent / "labels"
    inputs.mkdir()
    shutil.copy(fake.target_path(frame, "labelIds"), inputs / "a_labelIds.png")
    shutil.copy(fake.target_path(frame, "color"), inputs / "b_color.png")  # RGBA, as released
    assert main([str(config), "--sample", "2", "--input", str(inputs)]) == 0
    assert "wrote 2 images" in capsys.readouterr().out
    loaded = load_run(out, device="cpu")
    # the label-id map: exactly the validation split's item (no jitter on val)
    val = CityscapesPairs(str(fake.root), split="val", label_format="onehot", image_size=SIZE)
    got = np.asarray(Image.open(out / "generated" / "a_labelIds.png"))
    assert got.shape == (SIZE, SIZE, 3)
    np.testing.assert_array_equal(got, _expected(loaded, val[0][0]))
    # the colour map: the same classes, except that pole group (id 18, no train id) shares
    # pole's colour (id 17, train id 5), so its colour reads as pole
    ids = torch.from_numpy(fake.label_ids[frame]).long()
    expected = train_ids_to_onehot(label_ids_to_train_ids(torch.where(ids == 18, 17, ids)))
    got = np.asarray(Image.open(out / "generated" / "b_color.png"))
    np.testing.assert_array_equal(got, _expected(loaded, expected))


def test_a_colour_outside_the_palette_is_one_line_naming_the_file(onehot_run, capsys):
    config, out, _ = onehot_run
    inputs = out.parent / "bad_colours"
    inputs.mkdir()
    Image.fromarray(np.full((SIZE, SIZE, 3), 13, np.uint8)).save(inputs / "x.png")
    assert main([str(config), "--sample", "1", "--input", str(inputs), "--overwrite"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--input" in err and "x.png" in err
    assert "(13, 13, 13)" in err and "road (128, 64, 128)" in err


def test_label_ids_outside_the_table_are_one_line_naming_the_file(onehot_run, capsys):
    config, out, _ = onehot_run
    inputs = out.parent / "bad_ids"
    inputs.mkdir()
    Image.fromarray(np.full((SIZE, SIZE), 40, np.uint8)).save(inputs / "y_labelIds.png")
    assert main([str(config), "--sample", "1", "--input", str(inputs), "--overwrite"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "y_labelIds.png" in err and "label id 40" in err


def test_other_inputs_png_cannot_encode_are_refused_naming_what_is_valid(tmp_path):
    """A generator of 5-channel inputs from a dataset that is not one-hot label maps."""
    g = Pix2PixGenerator(in_channels=5, out_channels=3, image_size=32, base_channels=2).eval()
    loaded = loaded_generator(g, tmp_path)
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(inputs / "0.png")
    earlier = tmp_path / "gen" / "earlier.png"
    earlier.parent.mkdir()
    earlier.write_bytes(b"kept")
    with pytest.raises(ConfigError) as info:
        sample_images(loaded, 1, tmp_path / "gen", inputs=inputs, overwrite=True)
    message = str(info.value)
    assert "\n" not in message and "--input" in message
    assert "5-channel" in message and "label_format: onehot" in message
    assert earlier.read_bytes() == b"kept"  # refused before anything was removed
