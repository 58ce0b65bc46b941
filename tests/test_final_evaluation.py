"""The final evaluation: every run with metrics ends with the metrics of its final generator
(the ``evaluation`` callback's ``on_train_end``), whatever ``eval_every`` is."""

import json
from pathlib import Path
from types import SimpleNamespace

import yaml

from torchgan_ext.callbacks import Evaluation
from torchgan_ext.cli import main
from torchgan_ext.testing import tiny_config

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "torchgan_ext.testing.extractors"


class _FakeTrainer(SimpleNamespace):
    def run_metrics(self):
        self.evaluated.append(self.step)
        return {}


def _trainer(step, **kw):
    return _FakeTrainer(
        step=step, metrics={"m": object()}, stopped_by_signal=None, evaluated=[], **kw
    )


def test_final_evaluation_runs_once_at_an_unevaluated_end():
    cb = Evaluation(every=100)
    t = _trainer(20)
    cb.on_train_batch_end(t)  # 20 is not a multiple of 100
    cb.on_train_end(t)
    cb.on_train_end(t)  # the same weights are never evaluated twice
    assert t.evaluated == [20]


def test_no_double_evaluation_when_the_last_step_was_evaluated():
    cb = Evaluation(every=10)
    t = _trainer(20)
    cb.on_train_batch_end(t)
    cb.on_train_end(t)
    assert t.evaluated == [20]


def test_per_epoch_evaluation_then_a_stop_inside_the_next_epoch():
    cb = Evaluation(every=None)
    t = _trainer(8)
    cb.on_train_epoch_end(t)
    t.step = 11
    cb.on_train_end(t)
    assert t.evaluated == [8, 11]


def test_no_final_evaluation_after_a_signal_without_metrics_or_when_switched_off():
    stopped = _trainer(7)
    stopped.stopped_by_signal = 15
    Evaluation(every=5).on_train_end(stopped)
    no_metrics = _trainer(7)
    no_metrics.metrics = {}
    Evaluation(every=5).on_train_end(no_metrics)
    off = _trainer(7)
    Evaluation(every=5, final=False).on_train_end(off)
    assert stopped.evaluated == no_metrics.evaluated == off.evaluated == []


def test_the_evaluated_step_is_restored_from_a_checkpoint():
    cb = Evaluation(every=3)
    t = _trainer(4)
    cb.on_train_end(t)
    fresh = Evaluation(every=3)
    fresh.load_state_dict(cb.state_dict())
    fresh.on_train_end(t)  # resuming a finished run: nothing new to evaluate
    assert t.evaluated == [4]
    assert Evaluation().state_dict() == {"last_step": -1}


def _jsonl(out_dir):
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_run_ends_with_its_metrics_and_prints_them_after_done(tmp_path, capsys):
    metric = {
        "name": "inception_score",
        "args": {"extractor": "tiny_feature_extractor", "num_samples": 8, "splits": 2},
    }
    cfg = tiny_config(tmp_path / "run", plugins=[PLUGIN], metrics=[metric])
    cfg["trainer"].update({"max_steps": 4, "eval_every": 3})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line["step"] for line in _jsonl(tmp_path / "run")] == [3, 4]
    done = next(i for i, line in enumerate(lines) if line.startswith("done: step 4"))
    final = _jsonl(tmp_path / "run")[-1]["inception_score"]
    assert lines[done + 1] == f"metrics (step 4): inception_score {final:.4f}"
    # resuming the finished run trains nothing and evaluates nothing again
    assert main([str(path), "--resume"]) == 0
    assert [line["step"] for line in _jsonl(tmp_path / "run")] == [3, 4]


def test_srresnet_photos_with_20_steps_logs_its_psnr(tmp_path, capsys):
    """The measured case: eval_every 100, max_steps 20 (a reduced network, the shipped data)."""
    out = tmp_path / "sr"
    code = main(
        [
            str(ROOT / "configs" / "srresnet_photos_x4.yaml"),
            "--set",
            "trainer.max_steps=20",
            "--set",
            f"out_dir={out}",
            "--set",
            "logging={progress: false, tensorboard: false}",
            "--set",
            "models.generator.args.width=8",
            "--set",
            "models.generator.args.num_blocks=1",
            "--set",
            "data.loader.batch_size=2",
        ]
    )
    assert code == 0
    (line,) = _jsonl(out)
    assert line["step"] == 20
    assert 20.0 < line["psnr"] < 60.0 and 0.0 < line["ssim"] <= 1.0
    stdout = capsys.readouterr().out
    assert f"metrics (step 20): psnr {line['psnr']:.4f}, ssim {line['ssim']:.4f}" in stdout
