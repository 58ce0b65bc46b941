"""End to end: fid/kid/inception_score in a tiny digits run, and ``torchgan-run --evaluate``.

The feature extractor is the tiny one of :mod:`torchgan_ext.testing.extractors`, used by name
through its plugin (as a third-party domain-specific extractor would be).
"""

import json

import pytest
import torch
import yaml

from torchgan_ext import load_plugins
from torchgan_ext.cli import main
from torchgan_ext.config import config_from_dict
from torchgan_ext.evaluate import evaluate
from torchgan_ext.runner import build_trainer, run
from torchgan_ext.testing import tiny_config

PLUGIN = "torchgan_ext.testing.extractors"


def _config(out_dir, cache_dir, *, ema=False, metrics=None):
    common = {
        "extractor": "tiny_feature_extractor",
        "num_samples": 64,
        "batch_size": 32,
    }
    real = {**common, "cache_dir": str(cache_dir)}
    cfg = tiny_config(
        out_dir,
        plugins=[PLUGIN],
        metrics=metrics
        if metrics is not None
        else [
            {"name": "fid", "args": real},
            {"name": "kid", "args": {**real, "subsets": 4, "subset_size": 32}},
            {"name": "inception_score", "args": {**common, "splits": 2}},
        ],
    )
    cfg["data"]["val"] = {"args": {"split": "test"}, "batch_size": 64}
    cfg["trainer"].update(
        {"max_steps": 4, "eval_every": 2, "checkpoint_every": 2, "keep_checkpoints": 3}
    )
    if ema:
        cfg["trainer"]["ema"] = {"decay": 0.5}
    return cfg


def _write(cfg, path):
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run with all three metrics every 2 steps (shared by the tests below)."""
    base = tmp_path_factory.mktemp("metrics_run")
    cfg = _config(base / "run", base / "cache")
    cfg["logging"]["tensorboard"] = True  # the protocol record goes there too
    load_plugins([PLUGIN])
    result = run(config_from_dict(cfg, source=str(base / "run.yaml")))
    return base, cfg, result


def _jsonl(out_dir):
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def test_metrics_are_logged_during_training(trained):
    base, _, result = trained
    lines = _jsonl(base / "run")
    assert [line["step"] for line in lines] == [2, 4]
    for line in lines:
        assert line["fid"] > 0
        assert line["kid"] == pytest.approx(line["kid"])  # a finite number
        assert line["inception_score"] >= 1.0
    assert result.metrics["fid"] == lines[-1]["fid"]  # logged under the config's names
    fid = result.trainer.metrics["FrechetInceptionDistance"]
    # first evaluation computed the real side, the second reused it
    assert fid.last_result["real_features"] == "memory"
    assert fid.last_result["reference"] == "val" and fid.last_result["num_real"] == 64


def test_checkpoints_hold_no_metric_objects(trained):
    base, _, _ = trained
    for path in sorted((base / "run" / "checkpoints").glob("ckpt-*.pt")):
        state = torch.load(path, weights_only=True)  # refuses pickled objects

        def walk(node, where):
            assert "metric" not in where.lower() and "Inception" not in where, where
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, f"{where}.{k}")
            elif isinstance(node, list | tuple):
                for i, v in enumerate(node):
                    walk(v, f"{where}[{i}]")
            else:
                assert isinstance(node, torch.Tensor | int | float | str | bool | type(None))

        walk(state, "ckpt")


def test_evaluate_command_reproduces_the_last_training_values(trained, capsys):
    base, cfg, _ = trained
    config = _write(cfg, base / "run.yaml")
    assert main([config, "--evaluate"]) == 0  # an existing out_dir is the point: not refused
    out = capsys.readouterr().out
    data = json.loads((base / "run" / "metrics.json").read_text())
    assert data["step"] == 4 and data["checkpoint"].endswith("ckpt-00000004.pt")
    assert data["generator"] == "generator"
    last = _jsonl(base / "run")[-1]
    assert data["metrics"]["fid"] == pytest.approx(last["fid"], rel=1e-6)
    assert data["metrics"]["kid"] == pytest.approx(last["kid"], rel=1e-6)
    assert data["metrics"]["inception_score"] == pytest.approx(last["inception_score"], rel=1e-6)
    assert data["details"]["fid"]["real_features"] == "hit"  # cached by the training run
    assert data["details"]["kid"]["std"] is not None
    # a table, then the same JSON
    assert "metric" in out and "fid" in out and "kid" in out and "inception_score" in out
    json_line = next(line for line in out.splitlines() if line.startswith("{"))
    assert json.loads(json_line) == data
    assert len(_jsonl(base / "run")) == 2  # the training curve is left alone


def test_the_protocol_record_is_in_metrics_json_the_table_and_tensorboard(trained, capsys):
    from torchgan_ext.testing.extractors import TinyFeatureExtractor
    from torchgan_ext.weights import module_digest

    base, cfg, _ = trained
    assert main([_write(cfg, base / "run.yaml"), "--evaluate"]) == 0
    out = capsys.readouterr().out
    data = json.loads((base / "run" / "metrics.json").read_text())
    fid = data["details"]["fid"]["protocol"]
    assert fid == {
        "extractor": "TinyFeatureExtractor",
        "weights": None,  # a module with its own weights: the SHA-256 of its tensors
        "weights_sha256": module_digest(TinyFeatureExtractor()),
        "resize": "legacy",
        "num_samples": 64,
        "seed": 0,
        "reference": {"dataset": "Digits", "split": "val", "count": 64, "split_size": 297},
        "generator": "raw",
    }
    assert "reference" not in data["details"]["inception_score"]["protocol"]
    table = out[: out.index("{")]
    assert "protocol" in table and fid["weights_sha256"] in table
    assert "Digits val 64/297" in table and "legacy" in table and "raw" in table
    events = b"".join(p.read_bytes() for p in (base / "run" / "tensorboard").glob("events*"))
    for name in ("fid", "kid", "inception_score"):
        assert f"metrics/{name}/protocol".encode() in events
    assert events.count(b"metrics/fid/protocol") == 1  # written once: the protocol is unchanged
    assert fid["weights_sha256"].encode() in events


def test_evaluate_a_given_checkpoint(trained, capsys):
    base, cfg, _ = trained
    config = _write(cfg, base / "run.yaml")
    ckpt = base / "run" / "checkpoints" / "ckpt-00000002.pt"
    assert main(["--evaluate", str(ckpt), config]) == 0
    data = json.loads((base / "run" / "metrics.json").read_text())
    assert data["step"] == 2
    first = _jsonl(base / "run")[0]
    assert data["metrics"]["fid"] == pytest.approx(first["fid"], rel=1e-6)


def test_evaluate_config_after_the_flag(trained):
    base, cfg, _ = trained
    config = _write(cfg, base / "run.yaml")
    assert main(["--evaluate", config]) == 0


def test_evaluate_without_checkpoint_is_exit_2(tmp_path, capsys):
    config = _write(_config(tmp_path / "fresh", tmp_path / "cache"), tmp_path / "c.yaml")
    assert main([config, "--evaluate"]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint in" in err and str(tmp_path / "fresh" / "checkpoints") in err
    assert "Traceback" not in err
    assert main([config, "--evaluate", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt does not exist" in capsys.readouterr().err


def test_evaluate_without_metrics_is_exit_2(tmp_path, capsys):
    config = _write(_config(tmp_path / "r", tmp_path / "c", metrics=[]), tmp_path / "c.yaml")
    assert main([config, "--evaluate"]) == 2
    assert "metrics: nothing to evaluate" in capsys.readouterr().err


def test_missing_inception_weights_fail_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    cfg = _config(tmp_path / "r", tmp_path / "c", metrics=[{"name": "fid"}])
    assert main([_write(cfg, tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "metrics.0.args" in err and "weights-inception-2015-12-05-6726825d.pth" in err
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_weights_of_another_network_fail_before_training_naming_the_file(tmp_path, capsys):
    path = tmp_path / "not_inception.pth"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    cfg = _config(tmp_path / "r", tmp_path / "c", metrics=[{"name": "fid"}])
    cfg["metrics"][0]["args"] = {"weights": str(path)}
    assert main([_write(cfg, tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "metrics.0.args.weights" in err and str(path) in err and "does not fit" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not list((tmp_path / "r").glob("checkpoints/ckpt-*"))  # refused before training


def test_unknown_extractor_is_a_config_error(tmp_path, capsys):
    cfg = _config(
        tmp_path / "r", tmp_path / "c", metrics=[{"name": "fid", "args": {"extractor": "tiny"}}]
    )
    assert main([_write(cfg, tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "metrics.0.args" in err and "tiny_feature_extractor" in err


def test_metrics_use_the_ema_generator(tmp_path):
    load_plugins([PLUGIN])
    cfg = _config(tmp_path / "ema", tmp_path / "cache", ema=True)
    config = config_from_dict(cfg, source=str(tmp_path / "ema.yaml"))
    trainer, _ = build_trainer(config)
    args = trainer._get_arguments(trainer.metric_arg_maps["FrechetInceptionDistance"])
    assert args["eval_generator"] is trainer.ema["generator"].module
    assert args["eval_generator"] is not trainer.generator
    cfg["trainer"].update({"max_steps": 2, "eval_every": 1000})  # metrics only in evaluate
    run(config_from_dict(cfg, source=str(tmp_path / "ema.yaml")))
    result = evaluate(config_from_dict(cfg, source=str(tmp_path / "ema.yaml")))
    assert result.generator == "ema" and result.step == 2
    assert result.details["fid"]["protocol"]["generator"] == "ema"
