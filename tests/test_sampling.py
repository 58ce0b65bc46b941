"""``torchgan-run CONFIG --sample N [CHECKPOINT]``: PNGs from a trained generator, no data."""

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from torchgan_ext import load_run
from torchgan_ext.cli import main
from torchgan_ext.testing import tiny_config, write_attribute_digits

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["--set", "logging={progress: false, tensorboard: false}"]


def _train(tmp, name, cfg):
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path)]) == 0
    return str(path), Path(cfg["out_dir"])


def _pngs(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def _pixels(path):
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def dcgan(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sample_dcgan")
    cfg = tiny_config(tmp / "run")
    cfg["trainer"].update({"max_steps": 3, "ema": {"decay": 0.5}})
    return _train(tmp, "dcgan", cfg)


def test_sample_writes_n_pngs_of_the_ema_generator(dcgan, capsys):
    config, out = dcgan
    assert main([config, "--sample", "5", "--seed", "7"]) == 0
    gen = out / "generated"
    assert _pngs(gen) == [f"00000{i}.png" for i in range(5)]
    assert "wrote 5 images" in capsys.readouterr().out
    # exactly the EMA generator's images of the seed's noise, as 8-bit PNG
    run = load_run(out, device="cpu")
    assert run.weights["generator"] == "ema"
    with torch.random.fork_rng():
        torch.manual_seed(7)
        z = run.generator.sampler(5, "cpu")
    with torch.no_grad():
        expected = ((run.generator(*z).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    for i in range(5):
        png = _pixels(gen / f"00000{i}.png")
        assert png.shape == (16, 16)  # grey 16x16, as trained
        assert np.array_equal(png, expected[i, 0].numpy())


def test_sample_is_deterministic_per_seed_and_raw_differs(dcgan):
    config, out = dcgan
    gen = out / "generated"
    assert main([config, "--sample", "3", "--overwrite"]) == 0
    first = [_pixels(gen / p) for p in _pngs(gen)]
    assert main([config, "--sample", "3", "--overwrite"]) == 0
    assert all(np.array_equal(a, _pixels(gen / p)) for a, p in zip(first, _pngs(gen)))
    assert main([config, "--sample", "3", "--overwrite", "--seed", "1"]) == 0
    assert not np.array_equal(first[0], _pixels(gen / "000000.png"))
    assert main([config, "--sample", "3", "--overwrite", "--raw"]) == 0
    assert not np.array_equal(first[0], _pixels(gen / "000000.png"))
    ckpt = sorted((out / "checkpoints").glob("ckpt-*.pt"))[0]
    assert main(["--sample", "2", str(ckpt), config, "--overwrite"]) == 0
    assert _pngs(gen) == ["000000.png", "000001.png"]


@pytest.mark.parametrize(
    "argv, flag, words",
    [
        (["--sample", "0"], "--sample", "N must be >= 1"),
        (["--sample", "-3"], "--sample", "N must be >= 1"),
        (["--sample", "x"], "--sample", "N must be an integer"),
        (["--sample", "2", "missing.pt"], "--sample", "missing.pt does not exist"),
        (["--sample", "2", "--classes", "0"], "--classes", "not class-conditional"),
        (["--sample", "2", "--input", "."], "--input", "takes no input images"),
        (["--sample", "2", "--target", "Male"], "--target", "takes no target"),
        (["--raw"], "command line", "--raw applies to --sample"),
        (["--sample", "2", "--evaluate"], "command line", "cannot be combined"),
    ],
)
def test_bad_sample_arguments_are_one_line_usage_errors(dcgan, capsys, argv, flag, words):
    config, _ = dcgan
    assert main([config, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"torchgan-run: error: {flag}") and words in err, err
    assert "\n" not in err


def test_sample_refuses_to_mix_with_earlier_images(dcgan, capsys):
    config, out = dcgan
    assert main([config, "--sample", "2", "--overwrite"]) == 0
    assert main([config, "--sample", "2"]) == 2
    assert "already holds files; pass --overwrite" in capsys.readouterr().err


def test_sample_without_checkpoints_is_exit_2(tmp_path, capsys):
    path = tmp_path / "fresh.yaml"
    path.write_text(yaml.safe_dump(tiny_config(tmp_path / "fresh")))
    assert main([str(path), "--sample", "4"]) == 2
    err = capsys.readouterr().err
    assert "--sample: no checkpoint in" in err and "train the run first" in err
    assert not (tmp_path / "fresh" / "generated").exists()


def test_class_conditional_sampling_one_folder_per_class(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "acgan")
    cfg["models"]["generator"]["name"] = "acgan_generator"
    cfg["models"]["discriminator"]["name"] = "acgan_discriminator"
    cfg["losses"] += [
        {"name": "auxiliary_classifier_generator"},
        {"name": "auxiliary_classifier_discriminator"},
    ]
    cfg["trainer"]["max_steps"] = 2
    config, out = _train(tmp_path, "acgan", cfg)
    assert main([config, "--sample", "3", "--classes", "0,3"]) == 0
    gen = out / "generated"
    names = [f"class_{k}/00000{i}.png" for k in (0, 3) for i in range(3)]
    assert _pngs(gen) == names
    # the same noise for every class: the class changes the image
    assert not np.array_equal(_pixels(gen / names[0]), _pixels(gen / names[3]))
    assert main([config, "--sample", "1", "--overwrite"]) == 0
    assert len(_pngs(gen)) == 10  # every class of the digits by default
    capsys.readouterr()
    assert main([config, "--sample", "2", "--classes", "0,10", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "--classes: class 10 is out of range: the generator has 10 classes (0 to 9)" in err


def _rgb_folder(root, sizes):
    root.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"im{i}.png")
    return root


def test_super_resolution_samples_take_an_input_folder(tmp_path, capsys):
    out = tmp_path / "sr"
    config = str(ROOT / "configs" / "srresnet_photos_x4.yaml")
    common = [config, "--set", f"out_dir={out}", *QUIET]
    tiny = ["models.generator.args.width=8", "models.generator.args.num_blocks=1"]
    train = ["trainer.max_steps=2", "data.loader.batch_size=2", "metrics=[]", *tiny]
    assert main([*common, *(a for t in train for a in ("--set", t))]) == 0
    lr = _rgb_folder(tmp_path / "lr", [(8, 8), (6, 10), (8, 8)])
    assert main([*common, "--sample", "2", "--input", str(lr)]) == 0
    gen = out / "generated"
    assert _pngs(gen) == ["im0.png", "im1.png"]
    assert _pixels(gen / "im1.png").shape == (24, 40, 3)  # x4, any size
    capsys.readouterr()
    assert main([*common, "--sample", "2"]) == 2
    assert "pass --input DIR" in capsys.readouterr().err
    assert main([*common, "--sample", "4", "--input", str(lr), "--overwrite"]) == 2
    assert "4 images asked but" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([*common, "--sample", "1", "--input", str(tmp_path / "empty")]) == 2
    assert "--input: no images" in capsys.readouterr().err


def test_stargan_samples_one_folder_per_target(tmp_path, capsys):
    root = tmp_path / "digits"
    write_attribute_digits(root, num_images=24, size=8)
    out = tmp_path / "stargan"
    sets = [
        f"out_dir={out}",
        f"data.args.root={root}",
        "data.args.image_size=8",
        "data.loader.batch_size=4",
        "models.generator.args.conv_dim=4",
        "models.discriminator.args={conv_dim: 4, repeat_num: 2}",
        "metrics=[]",
        "trainer.max_steps=2",
    ]
    config = str(ROOT / "configs" / "stargan_digits.yaml")
    common = [config, *QUIET, *(a for s in sets for a in ("--set", s))]
    assert main(common) == 0
    images = _rgb_folder(tmp_path / "in", [(8, 8), (8, 8)])
    argv = ["--sample", "2", "--input", str(images)]
    assert main([*common, *argv, "--target", "Blond_Hair,Male", "--target", ""]) == 0
    assert _pngs(out / "generated") == [
        "Blond_Hair+Male/im0.png",
        "Blond_Hair+Male/im1.png",
        "none/im0.png",
        "none/im1.png",
    ]
    assert main([*common, *argv, "--overwrite"]) == 0  # default: each attribute alone
    folders = sorted({p.split("/")[0] for p in _pngs(out / "generated")})
    assert folders == sorted(["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"])
    capsys.readouterr()
    assert main([*common, *argv, "--overwrite", "--target", "Black_Hair,Blond_Hair"]) == 2
    assert "more than one of the exclusive attributes" in capsys.readouterr().err
    assert main([*common, *argv, "--overwrite", "--target", "Bald"]) == 2
    assert "--target: unknown target attribute 'Bald'" in capsys.readouterr().err


def test_context_encoder_samples_are_the_completed_inputs(tmp_path):
    """Inpainting: each input masked, its centre predicted and pasted back; the image keeps the
    input's size and, outside the hole, its pixels."""
    out = tmp_path / "ce"
    sets = [
        f"out_dir={out}",
        "data.args.image_size=16",
        "data.loader.batch_size=4",
        "models.generator.args={mask: center, overlap: 1, bottleneck: 8, base_channels: 2}",
        "models.discriminator.args={mask: center, base_channels: 2}",
        "trainer.max_steps=2",
    ]
    config = str(ROOT / "configs" / "context_encoder_digits.yaml")
    common = [config, *QUIET, *(a for s in sets for a in ("--set", s))]
    assert main(common) == 0
    images = tmp_path / "in"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(images / f"{i}.png")
    assert main([*common, "--sample", "2", "--input", str(images)]) == 0
    assert _pngs(out / "generated") == ["0.png", "1.png"]
    hole = np.zeros((16, 16), dtype=bool)
    hole[5:11, 5:11] = True  # the centre 8x8 square shrunk by the 1 px overlap
    for name in ("0.png", "1.png"):
        done, given = _pixels(out / "generated" / name), _pixels(images / name)
        assert done.shape == (16, 16)
        assert np.array_equal(done[~hole], given[~hole])
        assert not np.array_equal(done[hole], given[hole])


def loaded_generator(g, tmp_path):
    """``g`` as the generator of a loaded run (raw weights, the tiny DCGAN config, CPU)."""
    from torchgan_ext.config import config_from_dict
    from torchgan_ext.inference import LoadedRun

    return LoadedRun(
        models={"generator": g},
        weights={"generator": "raw"},
        config=config_from_dict(tiny_config(tmp_path)),
        checkpoint=tmp_path / "none.pt",
        step=0,
        epoch=0,
        device=torch.device("cpu"),
    )


def _generator_names():
    from torchgan.models import Generator

    from torchgan_ext import MODELS

    return [
        n
        for n in MODELS.list()
        if isinstance(MODELS.get(n), type) and issubclass(MODELS.get(n), Generator)
    ]


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("name", _generator_names())
def test_every_registered_generator_can_be_sampled(name, conditional, tmp_path):
    """Each generator of the registry (tiny arguments of test_contract's MODEL_CASES), with
    classes where it takes them: the right kind, and N images (per class / per target)."""
    from test_contract import MODEL_CASES

    from torchgan_ext import MODELS
    from torchgan_ext.sampling import generator_kind, sample_images

    args = dict(MODEL_CASES[name].args)
    cls = MODELS.get(name)
    takes_classes = "num_classes" in inspect.signature(cls).parameters
    if conditional and not takes_classes:
        pytest.skip("not class-conditional")
    if takes_classes and conditional:
        args.setdefault("num_classes", 3)
    if args.get("in_channels", 3) not in (1, 3):
        args["in_channels"] = 3  # PNG inputs (19-channel label maps: test_sampling_label_maps)
    torch.manual_seed(0)
    g = cls(**args).eval()
    run = loaded_generator(g, tmp_path)
    kind = generator_kind(g)
    inputs = None
    if kind.startswith("image"):
        channels = getattr(g, "in_channels", 3)
        # the size the generator was built for (MODEL_CASES), else one any of them takes
        size = args.get("image_size", 16 if kind == "image+target" else 8)
        arrays = np.random.default_rng(0).integers(0, 256, (3, size, size, 3), dtype=np.uint8)
        inputs = tmp_path / "in"
        inputs.mkdir()
        for i, a in enumerate(arrays):
            Image.fromarray(a if channels == 3 else a[..., 0]).save(inputs / f"{i}.png")
    result = sample_images(run, 2, tmp_path / "gen", inputs=inputs)
    per_folder = {"noise": 1, "class": getattr(g, "num_classes", 0) or 0, "image": 1}
    folders = per_folder.get(kind, getattr(g, "c_dim", 0))
    assert kind == ("class" if conditional else kind)
    assert len(result.files) == 2 * folders and len(_pngs(tmp_path / "gen")) == 2 * folders
    for path in result.files:
        image = Image.open(path)
        assert image.mode in ("L", "RGB") and min(image.size) >= 8
