"""Table-driven corpus of bad configs: each is exit code 2 and one line naming file, key, fix.

Every case fails before training starts (the corpus runs in seconds).
"""

import copy
import os
import subprocess
import sys

import pytest
import yaml

from torchgan_ext.cli import main
from torchgan_ext.testing import set_dotted, tiny_config


def _set(path, value):
    return lambda cfg: set_dotted(cfg, path, value)


def _delete(path):
    def edit(cfg):
        node = cfg
        parts = path.split(".")
        for p in parts[:-1]:
            node = node[p]
        del node[parts[-1]]
        return cfg

    return edit


def _raw(text):
    return text


G = "models.generator"
D = "models.discriminator"

# (id, edit of the tiny config dict or raw YAML text, extra argv, expected key, expected fragments)
CASES = [
    ("yaml-syntax", _raw("data: {name: digits\nmodels: [\n"), [], None, ["invalid YAML", "line"]),
    ("yaml-tab-indent", _raw("data:\n\tname: digits\n"), [], None, ["invalid YAML"]),
    ("empty-file", _raw(""), [], None, ["empty"]),
    ("comment-only-file", _raw("# nothing\n"), [], None, ["empty"]),
    ("top-level-list", _raw("- a\n- b\n"), [], None, ["must be a YAML mapping"]),
    ("top-level-scalar", _raw("hello\n"), [], None, ["must be a YAML mapping"]),
    (
        "python-tag",
        _raw("seed: !!python/object/apply:os.system ['echo hi']\n"),
        [],
        None,
        ["only plain YAML", "!!python/object"],
    ),
    (
        "unknown-top-key",
        _set("seeds", 1),
        [],
        "seeds",
        ["unknown key 'seeds'", "did you mean 'seed'"],
    ),
    (
        "unknown-trainer-key",
        _set("trainer.epoch", 3),
        [],
        "trainer.epoch",
        ["did you mean 'epochs'"],
    ),
    (
        "unknown-loader-key",
        _set("data.loader.batchsize", 3),
        [],
        "data.loader.batchsize",
        ["did you mean 'batch_size'"],
    ),
    (
        "unknown-logging-key",
        _set("logging.tensorbord", True),
        [],
        "logging.tensorbord",
        ["did you mean 'tensorboard'"],
    ),
    (
        "unknown-model-key",
        _set(f"{G}.optimiser", {"name": "adam"}),
        [],
        f"{G}.optimiser",
        ["did you mean 'optimizer'"],
    ),
    ("unknown-loss-key", _set("losses.0.arg", {}), [], "losses.0.arg", ["did you mean 'args'"]),
    (
        "unknown-ema-key",
        _set("trainer.ema", {"decays": 0.9}),
        [],
        "trainer.ema.decays",
        ["did you mean 'decay'"],
    ),
    ("unknown-data-key", _set("data.arg", {}), [], "data.arg", ["did you mean 'args'"]),
    (
        "epochs-string",
        _set("trainer.epochs", "ten"),
        [],
        "trainer.epochs",
        ["expected an integer", "'ten'"],
    ),
    ("epochs-float", _set("trainer.epochs", 2.5), [], "trainer.epochs", ["expected an integer"]),
    ("epochs-bool", _set("trainer.epochs", True), [], "trainer.epochs", ["expected an integer"]),
    ("lr-yaml11-string", _raw(None), [], f"{G}.optimizer.args.lr", ["YAML 1.1", "2.0e-4"]),
    (
        "ema-decay-string",
        _set("trainer.ema", {"decay": "9e-1"}),
        [],
        "trainer.ema.decay",
        ["YAML 1.1", "9.0e-1"],
    ),
    (
        "progress-not-bool",
        _set("logging.progress", "maybe"),
        [],
        "logging.progress",
        ["expected true or false"],
    ),
    ("seed-string", _set("seed", "zero"), [], "seed", ["expected an integer"]),
    ("device-unknown", _set("device", "gpu"), [], "device", ["unknown device 'gpu'", "cuda:N"]),
    (
        "batch-size-zero",
        _set("data.loader.batch_size", 0),
        [],
        "data.loader.batch_size",
        ["must be >= 1"],
    ),
    (
        "batch-size-negative",
        _set("data.loader.batch_size", -4),
        [],
        "data.loader.batch_size",
        ["must be >= 1"],
    ),
    ("ncritic-zero", _set("trainer.ncritic", 0), [], "trainer.ncritic", ["must not be 0"]),
    (
        "workers-negative",
        _set("data.loader.num_workers", -1),
        [],
        "data.loader.num_workers",
        ["must be >= 0"],
    ),
    ("max-steps-zero", _set("trainer.max_steps", 0), [], "trainer.max_steps", ["must be >= 1"]),
    ("missing-optimizer", _delete(f"{G}.optimizer"), [], f"{G}.optimizer", ["needs an optimizer"]),
    ("no-models", _set("models", {}), [], "models", ["at least one model"]),
    ("no-losses", _set("losses", []), [], "losses", ["at least one loss"]),
    ("missing-data", _delete("data"), [], "data", ["missing required key 'data'"]),
    ("missing-data-name", _delete("data.name"), [], "data.name", ["missing required key 'name'"]),
    ("models-is-list", _set("models", ["a"]), [], "models", ["expected a mapping"]),
    (
        "unknown-dataset",
        _set("data.name", "digit"),
        [],
        "data.name",
        ["unknown dataset 'digit'", "did you mean 'digits'"],
    ),
    (
        "unknown-model",
        _set(f"{G}.name", "dcgan_genrator"),
        [],
        f"{G}.name",
        ["did you mean 'dcgan_generator'"],
    ),
    (
        "unknown-loss",
        _set("losses.0.name", "minmax_generator"),
        [],
        "losses.0.name",
        ["did you mean 'minimax_generator'"],
    ),
    (
        "unknown-metric",
        _set("metrics", [{"name": "fidd_score_xyz"}]),
        [],
        "metrics.0.name",
        ["unknown metric"],
    ),
    (
        "unknown-optimizer",
        _set(f"{G}.optimizer.name", "adamm"),
        [],
        f"{G}.optimizer.name",
        ["did you mean 'adam'"],
    ),
    (
        "unknown-scheduler",
        _set(f"{G}.scheduler", {"name": "cosin"}),
        [],
        f"{G}.scheduler.name",
        ["did you mean 'cosine'"],
    ),
    (
        "scheduler-interval",
        _set(f"{G}.scheduler", {"name": "cosine", "interval": "iteration"}),
        [],
        f"{G}.scheduler.interval",
        ["not valid"],
    ),
    (
        "unknown-model-arg",
        _set(f"{G}.args.step_channel", 4),
        [],
        f"{G}.args.step_channel",
        ["unknown argument 'step_channel'", "did you mean 'step_channels'"],
    ),
    (
        "unknown-optimizer-arg",
        _set(f"{G}.optimizer.args.learning_rate", 0.1),
        [],
        f"{G}.optimizer.args.learning_rate",
        ["unknown argument 'learning_rate'"],
    ),
    (
        "unknown-dataset-arg",
        _set("data.args.imagesize", 8),
        [],
        "data.args.imagesize",
        ["did you mean 'image_size'"],
    ),
    (
        "unknown-loss-arg",
        _set("losses.1.args", {"label_smooth": 0.1}),
        [],
        "losses.1.args.label_smooth",
        ["did you mean 'label_smoothing'"],
    ),
    (
        "model-arg-quoted-number",
        _set(f"{G}.args.step_channels", "32"),
        [],
        f"{G}.args.step_channels",
        ["expected a number", "remove the quotes"],
    ),
    (
        "model-arg-not-bool",
        _set(f"{D}.args.batchnorm", "no thanks"),
        [],
        f"{D}.args.batchnorm",
        ["expected true or false"],
    ),
    (
        "missing-required-arg",
        _set(G, {"name": "infogan_generator", "optimizer": {"name": "adam"}}),
        [],
        f"{G}.args",
        ["missing required argument", "'dim_dis'"],
    ),
    (
        "impossible-shape",
        _set(f"{G}.args.out_size", 32),
        [],
        f"{G}.args",
        ["(1, 32, 32)", "(1, 16, 16)"],
    ),
    (
        "constructor-raises",
        _set(f"{G}.args.out_size", 20),
        [],
        f"{G}.args",
        ["building model 'dcgan_generator' failed", "power of 2"],
    ),
    (
        "optimizer-bad-value",
        _set(f"{G}.optimizer.args.lr", -1.0),
        [],
        f"{G}.optimizer.args",
        ["building optimizer 'adam' failed", "learning rate"],
    ),
    (
        "dataset-bad-split",
        _set("data.args.split", "training"),
        [],
        "data.args.split",
        ["unknown split 'training'", "did you mean 'train'"],
    ),
    (
        "batch-bigger-than-data",
        _set("data.loader.batch_size", 5000),
        [],
        "data.loader.batch_size",
        ["fewer than one batch"],
    ),
    (
        "duplicate-loss",
        _set(
            "losses",
            [
                {"name": "minimax_generator"},
                {"name": "minimax_generator"},
                {"name": "minimax_discriminator"},
            ],
        ),
        [],
        "losses.1.name",
        ["appears twice"],
    ),
    (
        "init-from-missing",
        _set(f"{G}.init_from", "/nonexistent/ckpt.pt"),
        [],
        f"{G}.init_from",
        ["does not exist"],
    ),
    ("plugins-not-list", _set("plugins", "my_plugin"), [], "plugins", ["expected a list"]),
    (
        "plugin-missing",
        _set("plugins", ["no_such_plugin_module_xyz"]),
        [],
        None,
        ["no_such_plugin_module_xyz", "failed to import"],
    ),
    ("set-without-equals", None, ["--set", "trainer.epochs"], None, ["expected KEY=VALUE"]),
    ("set-into-scalar", None, ["--set", "seed.value=1"], "seed.value", ["cannot set a key inside"]),
    (
        "set-wrong-type",
        None,
        ["--set", "trainer.epochs=many"],
        "trainer.epochs",
        ["--set trainer.epochs", "expected an integer"],
    ),
    ("cli-bad-device", None, ["--device", "tpu"], None, ["unknown device 'tpu'"]),
    ("cli-unknown-flag", None, ["--frobnicate"], None, ["unrecognized arguments"]),
    (
        "acgan-loss-on-unconditional-generator",
        _set("losses.1", {"name": "auxiliary_classifier_generator"}),
        [],
        "losses.1",
        ["cannot train these models", "conditional generator", "acgan_generator"],
    ),
    (
        "pulling-away-term-without-autoencoder",
        _set("losses.0", {"name": "energy_based_pulling_away_term"}),
        [],
        "losses.0",
        ["autoencoding_discriminator with embeddings: true"],
    ),
]


def _write(tmp_path, edit):
    path = tmp_path / "bad.yaml"
    if isinstance(edit, str):
        path.write_text(edit)
    elif edit is None:
        path.write_text(yaml.safe_dump(tiny_config(tmp_path / "run")))
    else:
        cfg = edit(copy.deepcopy(tiny_config(tmp_path / "run")))
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.mark.parametrize("case_id, edit, argv, key, fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_config(tmp_path, capsys, case_id, edit, argv, key, fragments):
    if case_id == "lr-yaml11-string":
        text = yaml.safe_dump(tiny_config(tmp_path / "run"), sort_keys=False)
        edit = text.replace("lr: 0.0002", "lr: 2e-4", 1)
        assert "2e-4" in edit
    path = _write(tmp_path, edit)
    code = main([str(path), *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    if not any(a.startswith("--set") or a in ("--device", "--frobnicate") for a in argv):
        assert str(path) in err or "plugin" in err
    if key is not None:
        assert f"{key}:" in err, err
    for fragment in fragments:
        assert fragment in err, err
    assert not list(tmp_path.glob("run/checkpoints/*.pt")), "must fail before training"


def test_corpus_size():
    assert len(CASES) >= 40


def test_missing_file_and_directory(tmp_path, capsys):
    assert main([str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_not_utf8_file(tmp_path, capsys):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage\x80")
    assert main([str(path)]) == 2
    assert "not a UTF-8 text file" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path, capsys):
    path = tmp_path / "secret.yaml"
    path.write_text("seed: 0\n")
    path.chmod(0)
    assert main([str(path)]) == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    path = _write(tmp_path, None)
    assert main([str(path)]) == 0
    before = (tmp_path / "run" / "config.yaml").read_text()
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert (tmp_path / "run" / "config.yaml").read_text() == before
    (tmp_path / "run" / "metrics.jsonl").write_text('{"step": 4, "fid": 1.0}\n')
    # a bad config with --overwrite fails before touching the old run
    assert main([str(path), "--overwrite", "--set", "data.name=digit"]) == 2
    assert (tmp_path / "run" / "checkpoints" / "ckpt-00000004.pt").is_file()
    # a good one replaces the old run's artifacts
    assert main([str(path), "--overwrite", "--set", "trainer.max_steps=3"]) == 0
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["ckpt-00000003.pt"]
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
    assert "removed checkpoints, samples, metrics.jsonl" in capsys.readouterr().out


def test_traceback_flag_shows_traceback(tmp_path, capsys):
    path = _write(tmp_path, _set("data.name", "digit"))
    assert main([str(path), "--traceback"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "did you mean 'digits'" in err


def _celeba_config(tmp_path, **data_args):
    from torchgan_ext.testing import write_celeba

    fake = write_celeba(tmp_path / "data", num_images=12, size=(40, 32))
    cfg = tiny_config(tmp_path / "run")
    cfg["data"] = {
        "name": "celeba",
        "args": {"root": str(fake.root), "crop_size": 32, "image_size": 16, **data_args},
        "loader": {"batch_size": 4},
    }
    cfg["models"]["generator"]["args"]["out_channels"] = 3
    return cfg


@pytest.mark.parametrize(
    "case_id, edit, key, fragments",
    [
        (
            "missing-data-root",
            lambda c: c["data"]["args"].update(root="/nonexistent/celeba"),
            "data.args.root",
            ["/nonexistent/celeba"],
        ),
        (
            "attribute-not-in-dataset",
            lambda c: c["data"]["args"].update(attributes=["Blond_Hair", "Blnd_Hair"]),
            "data.args.attributes",
            ["Blnd_Hair", "did you mean 'Blond_Hair'"],
        ),
        (
            "metric-reference-val-without-val-split",
            lambda c: c.update(
                plugins=["torchgan_ext.testing.extractors"],
                metrics=[
                    {
                        "name": "fid",
                        "args": {
                            "extractor": "tiny_feature_extractor",
                            "reference": "val",
                            "num_samples": 8,
                        },
                    }
                ],
            ),
            "metrics.0.args.reference",
            ["reference: val", "no validation split"],
        ),
        (
            "metric-num-real-larger-than-the-split",
            lambda c: c.update(
                plugins=["torchgan_ext.testing.extractors"],
                metrics=[
                    {
                        "name": "precision_recall",
                        "args": {"extractor": "tiny_feature_extractor", "num_real": 100000},
                    }
                ],
            ),
            "metrics.0.args.num_real",
            ["num_real: 100000 is larger than the train split"],
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and "-" in v else "",
)
def test_bad_data_config(tmp_path, capsys, case_id, edit, key, fragments):
    cfg = _celeba_config(tmp_path)
    edit(cfg)
    path = _write(tmp_path, lambda _: cfg)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert str(path) in err and f"{key}:" in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_every_schema_error_of_a_file_at_once_before_torch(tmp_path):
    """Schema errors come from the pure config module: all of them, one line each, exit 2,
    without importing torch (so they are reported in well under a second)."""
    cfg = tiny_config(tmp_path / "run")
    cfg["epochz"] = 3
    cfg["trainer"]["epochs"] = "two"
    cfg["models"]["generator"].pop("name")
    cfg["logging"]["progres"] = False
    path = _write(tmp_path, yaml.safe_dump(cfg))
    code = (
        "import sys\n"
        "from torchgan_ext.cli import main\n"
        f"rc = main([{str(path)!r}])\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 4, proc.stderr
    for key in ("epochz", "trainer.epochs", "models.generator.name", "logging.progres"):
        assert sum(f"{key}:" in line for line in lines) == 1, (key, proc.stderr)
    assert all(line.startswith("torchgan-run: error: ") for line in lines)
    assert "did you mean 'progress'" in proc.stderr
    assert "torch imported: False" in proc.stdout
