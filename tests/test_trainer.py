"""The torchgan Trainer subclass: checkpoints, exact resume, schedules, EMA, samples, progress."""

import io
import math
import os

import pytest
import torch
import yaml

from torchgan_ext import build_trainer, config, run
from torchgan_ext.logging.progress import ProgressBar
from torchgan_ext.testing import tiny_config
from torchgan_ext.trainer import LinearDecayLR, move_to_device
from torchgan_ext.trainer.checkpoint import list_checkpoints, load_checkpoint


def _cfg(out_dir, **trainer):
    t = {"max_steps": 4, "sample_size": 4, "epochs": 3}
    t.update(trainer)
    return config.config_from_dict(tiny_config(out_dir, trainer=t))


def _weights(trainer):
    return {n: {k: v.clone() for k, v in m.state_dict().items()} for n, m in trainer.models.items()}


def test_resume_matches_uninterrupted_run(tmp_path):
    """Stopped after N steps and resumed: same step count and bit-identical final weights."""
    full = run(_cfg(tmp_path / "a", max_steps=45, checkpoint_every=10))
    first = run(_cfg(tmp_path / "b", max_steps=29, checkpoint_every=10))
    assert first.step == 29
    resumed = run(_cfg(tmp_path / "b", max_steps=45, checkpoint_every=10), resume=True)
    assert resumed.resumed_from.name == "ckpt-00000029.pt"
    assert resumed.step == full.step == 45
    wa, wb = _weights(full.trainer), _weights(resumed.trainer)
    for name in wa:
        for k in wa[name]:
            assert torch.equal(wa[name][k], wb[name][k]), f"{name}.{k} differs"
    oa = full.trainer.optimizer_generator.state_dict()["state"]
    ob = resumed.trainer.optimizer_generator.state_dict()["state"]
    assert all(torch.equal(oa[i]["exp_avg"], ob[i]["exp_avg"]) for i in oa)


def test_checkpoints_are_state_dicts_only(tmp_path):
    run(_cfg(tmp_path / "r", max_steps=6, checkpoint_every=2, keep_checkpoints=2))
    paths = list_checkpoints(tmp_path / "r" / "checkpoints")
    assert [p.name for p in paths] == ["ckpt-00000004.pt", "ckpt-00000006.pt"]
    state = torch.load(paths[-1], weights_only=True)  # would raise on pickled objects
    assert state["step"] == 6
    assert set(state["models"]) == {"generator", "discriminator"}
    assert set(state["optimizers"]) == {"optimizer_generator", "optimizer_discriminator"}
    assert not list((tmp_path / "r" / "checkpoints").glob(".*tmp*"))


def test_corrupt_newest_checkpoint_falls_back_with_warning(tmp_path):
    cfg = _cfg(tmp_path / "r", max_steps=6, checkpoint_every=2)
    run(cfg)
    newest = tmp_path / "r" / "checkpoints" / "ckpt-00000006.pt"
    newest.write_bytes(newest.read_bytes()[:100])  # truncated
    trainer, _ = build_trainer(cfg)
    with pytest.warns(RuntimeWarning, match="ckpt-00000006.pt"):
        path = trainer.load_model()
    assert path.name == "ckpt-00000004.pt" and trainer.step == 4


def test_epochs_is_a_total_across_resume(tmp_path):
    cfg2 = config.config_from_dict(
        tiny_config(tmp_path / "r", trainer={"epochs": 2, "sample_size": 4})
    )
    first = run(cfg2)
    steps_per_epoch = first.trainer.steps_per_epoch(first.trainer.data_loader)
    assert first.step == 2 * steps_per_epoch and first.epoch == 2
    again = run(cfg2, resume=True)  # already complete: nothing more to do
    assert again.step == first.step
    cfg3 = config.config_from_dict(
        tiny_config(tmp_path / "r", trainer={"epochs": 3, "sample_size": 4})
    )
    third = run(cfg3, resume=True)
    assert third.step == 3 * steps_per_epoch and third.epoch == 3


def test_done_and_resume_lines_name_the_same_completed_position(tmp_path, capsys):
    """``done:`` and the next ``resuming from`` line both count completed epochs (+ batches)."""
    from torchgan_ext.cli import main

    def cli(trainer, *flags):
        cfg = tiny_config(tmp_path / "r", trainer={"sample_size": 4, **trainer})
        cfg["data"]["args"]["limit"] = 64  # batch 16: 4 steps an epoch
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(cfg))
        assert main([str(path), *flags]) == 0
        lines = capsys.readouterr().out.splitlines()
        done = [line.split(";")[0] for line in lines if line.startswith("done: ")]
        resumed = [line.split(" (", 1)[1] for line in lines if line.startswith("resuming from")]
        return done[0], resumed[0].rstrip(")") if resumed else None

    first = cli({"epochs": 2, "max_steps": 6})
    assert first == ("done: step 6, 1 epoch + 2 batches completed", None)
    assert cli({"epochs": 2, "max_steps": 8}, "--resume") == (
        "done: step 8, 2 epochs completed",
        "step 6, 1 epoch + 2 batches completed",
    )
    assert cli({"epochs": 3}, "--resume") == (
        "done: step 12, 3 epochs completed",
        "step 8, 2 epochs completed",
    )


def test_resolved_config_written_with_data_derived_args(tmp_path):
    run(_cfg(tmp_path / "r"))
    written = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert written["models"]["generator"]["args"]["out_size"] == 16
    assert written["models"]["generator"]["args"]["out_channels"] == 1
    assert written["models"]["discriminator"]["args"]["in_size"] == 16
    assert written["trainer"]["max_steps"] == 4
    assert config.config_from_dict(written).models["generator"].args["out_size"] == 16


def test_samples_and_tensorboard(tmp_path):
    cfg = tiny_config(
        tmp_path / "r",
        trainer={"max_steps": 4, "sample_every": 2, "sample_size": 9},
        logging={"progress": False, "tensorboard": True, "log_every": 2},
    )
    run(config.config_from_dict(cfg))
    samples = sorted(p.name for p in (tmp_path / "r" / "samples").glob("*.png"))
    assert samples == ["step00000002_generator.png", "step00000004_generator.png"]
    from PIL import Image

    with Image.open(tmp_path / "r" / "samples" / samples[-1]) as im:
        assert im.size == (3 * 16 + 4 * 2, 3 * 16 + 4 * 2)  # 3x3 grid, padding 2
    events = list((tmp_path / "r" / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from tensorboardX.proto.event_pb2 import Event  # noqa: F401 - proto readable

    data = events[0].read_bytes()
    for tag in (
        b"loss/MinimaxGeneratorLoss",
        b"lr/optimizer_generator",
        b"grad_norm/generator",
        b"perf/it_per_s",
        b"samples/generator",
    ):
        assert tag in data, tag


def test_step_scheduler_and_linear_decay(tmp_path):
    cfg = tiny_config(tmp_path / "r", trainer={"max_steps": 6, "sample_size": 4})
    sched = {"name": "linear_decay", "args": {"total": 8, "start": 2}, "interval": "step"}
    cfg["models"]["generator"]["scheduler"] = sched
    result = run(config.config_from_dict(cfg))
    lr = result.trainer.optimizer_generator.param_groups[0]["lr"]
    assert math.isclose(lr, 2.0e-4 * (1 - (6 - 2) / (8 - 2)), rel_tol=1e-9)
    lr_d = result.trainer.optimizer_discriminator.param_groups[0]["lr"]
    assert lr_d == 2.0e-4


def test_linear_decay_schedule_values():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LinearDecayLR(opt, total=10, start=4, final_factor=0.0)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == [1.0] * 5
    assert lrs[7] == pytest.approx(0.5)
    assert lrs[10] == lrs[11] == 0.0
    with pytest.raises(ValueError, match="start"):
        LinearDecayLR(opt, total=10, start=10)


def test_ema_generator_used_for_samples(tmp_path):
    cfg = tiny_config(
        tmp_path / "r",
        trainer={"max_steps": 5, "sample_size": 4, "ema": {"decay": 0.5, "start_step": 2}},
    )
    result = run(config.config_from_dict(cfg))
    t = result.trainer
    ema = t.ema["generator"].module
    assert t.eval_generator is ema
    g_w = dict(t.generator.named_parameters())
    e_w = dict(ema.named_parameters())
    assert any(not torch.equal(g_w[k], e_w[k]) for k in g_w)
    assert all(not p.requires_grad for p in ema.parameters())
    state = load_checkpoint(result.checkpoint)
    assert set(state["callbacks"]["ema"]) == {"generator"}


def test_ema_update_formula():
    from torchgan_ext.callbacks import ModelEMA

    model = torch.nn.Linear(2, 2)
    ema = ModelEMA(model, decay=0.9, start_step=1)
    before = ema.module.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model, step=1)
    expected = 0.9 * before + 0.1 * model.weight.detach()
    assert torch.allclose(ema.module.weight, expected)


def test_progress_bar_reads_losses_only_at_refresh_rate():
    stream = io.StringIO()
    bar = ProgressBar(refresh_rate=5, log_every=10, per_epoch=False, stream=stream, force_tty=True)
    calls = []

    def losses():
        calls.append(1)
        return {"g": torch.tensor(0.5), "d": 1.25}

    bar.on_train_start(0, 20, 1)
    for step in range(1, 21):
        bar.on_batch_end(step, losses)
    bar.on_train_end(20)
    assert len(calls) == 4
    out = stream.getvalue()
    assert "20/20" in out and "g 0.5" in out and "d 1.25" in out and "it/s" in out


def test_progress_log_lines_without_terminal():
    stream = io.StringIO()
    bar = ProgressBar(refresh_rate=1, log_every=10, per_epoch=True, stream=stream)
    assert not bar.use_bar
    bar.on_train_start(0, 30, 3)
    for step in range(1, 31):
        bar.on_batch_end(step, lambda: {"g": 1.0})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[-1].startswith("step 30/30 (100.0%)") and "it/s" in lines[-1]
    assert "eta" in lines[0] and "g 1" in lines[0]


def test_progress_disabled_writes_nothing(tmp_path, capsys):
    cfg = tiny_config(
        tmp_path / "r",
        trainer={"max_steps": 3, "sample_size": 4},
        logging={"progress": False, "tensorboard": False, "log_every": 1},
    )
    run(config.config_from_dict(cfg))
    assert "step 1/" not in capsys.readouterr().out


def test_move_to_device_handles_nested_batches():
    batch = {"image": torch.zeros(1), "pair": (torch.ones(1), [torch.ones(2)]), "name": "x"}
    moved = move_to_device(batch, torch.device("cpu"))
    assert moved["name"] == "x" and isinstance(moved["pair"], tuple)
    assert torch.equal(moved["pair"][1][0], torch.ones(2))


def test_device_auto_is_cpu_without_cuda(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("has CUDA")
    cfg = tiny_config(tmp_path / "r")
    cfg["device"] = "auto"
    trainer, _ = build_trainer(config.config_from_dict(cfg))
    assert trainer.device.type == "cpu"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trains_on_cuda(tmp_path):
    cfg = tiny_config(tmp_path / "r")
    cfg["device"] = "cuda"
    result = run(config.config_from_dict(cfg))
    assert next(result.trainer.generator.parameters()).is_cuda
    state = load_checkpoint(result.checkpoint, map_location="cuda")
    result.trainer.load_state_dict(state)
    assert result.trainer.step == state["step"]


def test_sigterm_checkpoints_and_exits_cleanly(tmp_path):
    """SIGTERM during training: the current step finishes, a checkpoint is written."""
    import signal
    import subprocess
    import sys
    import time

    cfg = tiny_config(
        tmp_path / "r",
        trainer={"max_steps": 100000, "epochs": 10000, "sample_size": 4, "checkpoint_every": 1000},
        logging={"progress": True, "tensorboard": False, "log_every": 20},
    )
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchgan_ext.cli", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.time() + 120
    for line in proc.stdout:
        if line.startswith("step 40/") or time.time() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped by signal" in out
    ckpts = list_checkpoints(tmp_path / "r" / "checkpoints")
    assert ckpts, out
    state = load_checkpoint(ckpts[-1])
    assert state["step"] >= 40
    assert f"done: step {state['step']}," in out


@pytest.mark.parametrize(
    "name, args, expected",
    [
        ("step", {"step_size": 2, "gamma": 0.5}, 0.5**2),
        ("multistep", {"milestones": [1, 3], "gamma": 0.1}, 0.1**2),
        ("exponential", {"gamma": 0.9}, 0.9**4),
        ("cosine", {"T_max": 8}, (1 + math.cos(math.pi * 4 / 8)) / 2),
    ],
)
def test_torch_schedulers_by_name_step_per_iteration(tmp_path, name, args, expected):
    cfg = tiny_config(tmp_path / "r", trainer={"max_steps": 4, "sample_size": 4})
    cfg["models"]["discriminator"]["scheduler"] = {"name": name, "args": args, "interval": "step"}
    result = run(config.config_from_dict(cfg))
    lr = result.trainer.optimizer_discriminator.param_groups[0]["lr"]
    assert lr == pytest.approx(2.0e-4 * expected, rel=1e-9)
    assert result.trainer.optimizer_generator.param_groups[0]["lr"] == 2.0e-4


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
def test_torch_optimizers_by_name(tmp_path, name):
    cfg = tiny_config(tmp_path / "r", trainer={"max_steps": 2, "sample_size": 4})
    args = {"lr": 1.0e-3, "momentum": 0.9} if name in ("sgd", "rmsprop") else {"lr": 1.0e-3}
    cfg["models"]["generator"]["optimizer"] = {"name": name, "args": args}
    trainer, loader = build_trainer(config.config_from_dict(cfg))
    opt = trainer.optimizer_generator
    assert type(opt).__name__.lower() == name and opt.param_groups[0]["lr"] == 1.0e-3
    # this trainer's own weights before training, not those of a separately built trainer
    before = [p.detach().clone() for p in trainer.generator.parameters()]
    trainer.train(loader)
    assert trainer.step == 2
    after = list(trainer.generator.parameters())
    assert any(not torch.equal(b, a) for b, a in zip(before, after, strict=True))
