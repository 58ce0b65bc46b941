"""Folder evaluation: two image folders scored with any generation metric, without a config
(``torchgan-run --evaluate-folders REAL GENERATED --metrics ...`` and ``evaluate_folders``)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from torchgan_ext import ConfigError, load_plugins
from torchgan_ext.cli import main
from torchgan_ext.folder_evaluation import evaluate_folders, folder_metric_names
from torchgan_ext.metrics.features import build_feature_extractor
from torchgan_ext.metrics.fid import frechet_distance
from torchgan_ext.testing.extractors import TinyFeatureExtractor

PLUGIN = "torchgan_ext.testing.extractors"
TINY = {"extractor": "tiny_feature_extractor", "batch_size": 16}


def _write(folder, arrays, mode=None):
    folder.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(arrays):
        Image.fromarray(a, mode).save(folder / f"{i:03d}.png")
    return folder


def _digits(start, n):
    images = load_digits().images[start : start + n]  # 8x8 in [0, 16]
    return [(im * 255 / 16).round().astype(np.uint8) for im in images]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("folders")
    real = _write(base / "real", _digits(0, 40))
    fake = _write(base / "fake", _digits(100, 30))
    noise = np.random.default_rng(0).integers(0, 256, (30, 8, 8), dtype=np.uint8)
    bad = _write(base / "noise", list(noise))
    return real, fake, bad


@pytest.fixture(autouse=True)
def _extractor_plugin():
    load_plugins([PLUGIN])


def _features(folder):
    files = sorted(folder.glob("*.png"))
    x = torch.stack([torch.from_numpy(np.array(Image.open(f))).float() for f in files])
    x = (x / 127.5 - 1.0).unsqueeze(1)
    extractor = build_feature_extractor(TinyFeatureExtractor(), "features")
    with torch.no_grad():
        return extractor(x)


def test_fid_of_two_folders_is_the_frechet_distance_of_all_their_images(folders):
    real, fake, _ = folders
    result = evaluate_folders(real, fake, [{"name": "fid", "args": TINY}], device="cpu")
    assert (result.num_real, result.num_generated) == (40, 30)
    expected = frechet_distance(_features(real).double(), _features(fake).double())
    assert result.metrics["fid"] == pytest.approx(expected, rel=1e-4)
    assert result.details["fid"]["num_fake"] == 30 and result.details["fid"]["num_real"] == 40


def test_metrics_rank_a_folder_of_noise_below_real_digits(folders):
    real, fake, noise = folders
    metrics = [
        {"name": "fid", "args": TINY},
        {"name": "kid", "args": {**TINY, "subsets": 5, "subset_size": 20}},
        {"name": "inception_score", "args": {**TINY, "splits": 2}},
    ]
    same = evaluate_folders(real, real, metrics, device="cpu")
    digits = evaluate_folders(real, fake, metrics, device="cpu")
    junk = evaluate_folders(real, noise, metrics, device="cpu")
    assert abs(same.metrics["fid"]) < 1e-3 and abs(same.metrics["kid"]) < 1e-2
    assert same.metrics["fid"] < digits.metrics["fid"] < junk.metrics["fid"]
    assert digits.metrics["kid"] < junk.metrics["kid"]
    assert set(digits.metrics) == {"fid", "kid", "inception_score"}
    assert digits.metrics["inception_score"] >= 1.0


def test_every_generation_metric_can_score_folders():
    names = folder_metric_names()
    assert {"fid", "kid", "inception_score"} <= set(names)
    assert "psnr" not in names


def test_cli_prints_a_table_and_the_json(folders, capsys):
    real, fake, _ = folders
    metrics = (
        "[{name: fid, args: {extractor: tiny_feature_extractor}}, {name: kid, args: "
        "{extractor: tiny_feature_extractor, subset_size: 10}}]"
    )
    argv = ["--evaluate-folders", str(real), str(fake), "--metrics", metrics, "-p", PLUGIN]
    assert main([*argv, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "evaluated 30 images of" in out and "against 40 of" in out
    assert "metric" in out.splitlines()[1] and "fid" in out and "kid" in out
    data = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    expected = evaluate_folders(real, fake, [{"name": "fid", "args": TINY}], device="cpu")
    assert data["metrics"]["fid"] == pytest.approx(expected.metrics["fid"], rel=1e-6)
    assert data["num_real"] == 40 and data["num_generated"] == 30


def _err(capsys):
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_bad_folders_are_one_line_usage_errors(folders, tmp_path, capsys):
    real, fake, _ = folders
    tiny = ["--metrics", "[{name: fid, args: {extractor: tiny_feature_extractor}}]"]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    cases = {
        "empty": (str(tmp_path / "empty"), "no images (.jpg, .jpeg, .png, .webp) found below"),
        "missing": (str(tmp_path / "missing"), "GENERATED folder"),
    }
    sizes = _write(tmp_path / "sizes", _digits(0, 3))
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(sizes / "big.png")
    cases["sizes"] = (str(sizes), "mixes image sizes: 000.png is 8x8 L, big.png is 16x16 L")
    modes = _write(tmp_path / "modes", _digits(0, 3))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(modes / "rgb.png")
    cases["modes"] = (str(modes), "mixes image modes: 000.png is 8x8 L, rgb.png is 8x8 RGB")
    for folder, words in cases.values():
        assert main(["--evaluate-folders", str(real), folder, *tiny, "-p", PLUGIN]) == 2
        err = _err(capsys)
        assert err.startswith("torchgan-run: error: --evaluate-folders:") and words in err, err


@pytest.mark.parametrize(
    "metrics, words",
    [
        ("fdi", "--metrics: metrics.0.name: unknown metric 'fdi'"),
        ("psnr", "metric 'psnr' does not score generated images against real ones"),
        (
            "[{name: fid, args: {extractor: tiny_feature_extractor, num_samples: 31}}]",
            "metrics.0.args.num_samples: 31 images asked but the GENERATED folder holds 30",
        ),
        ("[{name: fid, args: {extractor: tiny_feature_extractor, nope: 1}}]", "nope"),
        ("[fid", "--metrics: not a YAML list"),
    ],
)
def test_bad_metrics_are_one_line_usage_errors(folders, capsys, metrics, words):
    real, fake, _ = folders
    argv = ["--evaluate-folders", str(real), str(fake), "--metrics", metrics, "-p", PLUGIN]
    assert main(argv) == 2
    err = _err(capsys)
    assert words in err, err


def test_flags_that_do_not_fit(folders, capsys, tmp_path):
    real, fake, _ = folders
    assert main(["c.yaml", "--evaluate-folders", str(real), str(fake)]) == 2
    assert "--evaluate-folders takes no config" in _err(capsys)
    assert main(["c.yaml", "--metrics", "fid"]) == 2
    assert "--metrics applies to --evaluate-folders only" in _err(capsys)


def test_missing_inception_weights_are_named(folders, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    real, fake, _ = folders
    with pytest.raises(ConfigError, match="weights-inception-2015-12-05-6726825d.pth"):
        evaluate_folders(real, fake, "fid", device="cpu")


def test_images_written_by_sample_can_be_scored(folders, tmp_path):
    import yaml

    from torchgan_ext.testing import tiny_config

    real, _, _ = folders
    cfg = tiny_config(tmp_path / "run")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path)]) == 0
    assert main([str(path), "--sample", "12"]) == 0
    load_plugins([PLUGIN])  # the runs above loaded the config's plugins only
    result = evaluate_folders(
        real, tmp_path / "run" / "generated", [{"name": "fid", "args": TINY}], device="cpu"
    )
    assert result.num_generated == 12 and result.metrics["fid"] > 0
