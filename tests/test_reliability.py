"""Crash safety, numerical faults, data faults, malicious files, full disks."""

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
import yaml

from torchgan_ext import config, load_plugins, run
from torchgan_ext.cli import main
from torchgan_ext.errors import CheckpointError
from torchgan_ext.testing import tiny_config
from torchgan_ext.trainer import checkpoint as ckpt_mod
from torchgan_ext.trainer.checkpoint import list_checkpoints, load_checkpoint

FAULTY_PLUGIN = textwrap.dedent(
    """
    import torch
    from torch.utils.data import Dataset
    from torchgan.losses import MinimaxGeneratorLoss

    from torchgan_ext import hookimpl
    from torchgan_ext.errors import DataError


    class NaNGeneratorLoss(MinimaxGeneratorLoss):
        '''Minimax generator loss that turns NaN for steps in [nan_from, nan_to).'''

        def __init__(self, nan_from=3, nan_to=10**9):
            super().__init__()
            self.nan_from, self.nan_to = nan_from, nan_to

        def train_ops(self, generator, discriminator, optimizer_generator, device, batch_size,
                      step, labels=None):
            optimizer_generator.zero_grad()
            z = torch.randn(batch_size, generator.encoding_dims, device=device)
            loss = self.forward(discriminator(generator(z)))
            if self.nan_from <= step < self.nan_to:
                loss = loss * float("nan")
            loss.backward()
            optimizer_generator.step()
            return loss.detach()


    class SometimesCorrupt(Dataset):
        '''16x16 noise images; every index divisible by 5 is a "corrupt file".'''

        channels, image_size = 1, 16

        def __len__(self):
            return 40

        def __getitem__(self, i):
            if i % 5 == 0:
                raise DataError(f"cannot decode image /data/img_{i:03d}.jpg: corrupt JPEG")
            g = torch.Generator().manual_seed(i)
            return torch.rand(1, 16, 16, generator=g) * 2 - 1, torch.tensor(0)


    @hookimpl
    def torchgan_ext_register_losses(registry):
        registry.register("nan_generator", NaNGeneratorLoss)


    @hookimpl
    def torchgan_ext_register_datasets(registry):
        registry.register("sometimes_corrupt", SometimesCorrupt)
    """
)


@pytest.fixture
def faulty(tmp_path, monkeypatch):
    (tmp_path / "faulty_plugin.py").write_text(FAULTY_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    load_plugins(["faulty_plugin"])
    yield
    sys.modules.pop("faulty_plugin", None)


def _write(tmp_path, cfg, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_sigkill_at_random_moments_then_resume(tmp_path):
    """Kill -9 a real training process at random moments; every resume succeeds and the step
    counter continues from the newest checkpoint."""
    rng = random.Random(1234)
    cfg = tiny_config(
        tmp_path / "run",
        trainer={"epochs": 10000, "max_steps": 100000, "sample_size": 4, "checkpoint_every": 7},
        logging={"progress": True, "tensorboard": True, "log_every": 1},
    )
    path = _write(tmp_path, cfg)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    trials, last_step = 5, 0
    for trial in range(trials):
        args = [sys.executable, "-m", "torchgan_ext.cli", str(path)]
        if trial:
            args.append("--resume")
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        resumed_at = None
        target = last_step + rng.randint(10, 40)
        for line in proc.stdout:
            if line.startswith("resuming from"):
                resumed_at = int(line.split("(step ")[1].split(",")[0])
            if line.startswith("step ") and int(line.split()[1].split("/")[0]) >= target:
                time.sleep(rng.random() * 0.05)  # land anywhere in a step or a save
                break
        proc.kill()
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        if trial:
            assert resumed_at == last_step, (trial, resumed_at, last_step)
        ckpts = list_checkpoints(tmp_path / "run" / "checkpoints")
        state = load_checkpoint(ckpts[-1])  # the newest is always readable
        assert state["step"] % 7 == 0 and state["step"] >= last_step
        last_step = state["step"]
    assert last_step > 0


def test_sigint_writes_checkpoint_and_exits_zero(tmp_path):
    cfg = tiny_config(
        tmp_path / "run",
        trainer={"epochs": 10000, "max_steps": 100000, "sample_size": 4},
        logging={"progress": True, "tensorboard": False, "log_every": 5},
    )
    path = _write(tmp_path, cfg)
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchgan_ext.cli", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    for line in proc.stdout:
        if line.startswith("step 25/"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    step = load_checkpoint(list_checkpoints(tmp_path / "run" / "checkpoints")[-1])["step"]
    assert step >= 25 and f"stopped by signal {int(signal.SIGINT)} at step {step}" in out


def test_nonfinite_loss_stops_with_loss_and_step(tmp_path, faulty, capsys):
    cfg = tiny_config(
        tmp_path / "run", trainer={"max_steps": 40, "sample_size": 4, "checkpoint_every": 2}
    )
    cfg["losses"][0] = {"name": "nan_generator", "args": {"nan_from": 5}}
    cfg["plugins"] = ["faulty_plugin"]
    code = main([str(_write(tmp_path, cfg))])
    err = capsys.readouterr().err
    assert code == 1
    assert "loss NaNGeneratorLoss is not finite at step" in err
    ckpts = list_checkpoints(tmp_path / "run" / "checkpoints")
    newest = load_checkpoint(ckpts[-1])
    assert newest["step"] <= 5
    for tensor in newest["models"]["generator"].values():
        assert torch.isfinite(tensor.float()).all()


def test_nonfinite_skip_mode_skips_steps(tmp_path, faulty):
    cfg = tiny_config(
        tmp_path / "run",
        trainer={"max_steps": 8, "sample_size": 4, "nonfinite": "skip", "max_nonfinite_skips": 3},
    )
    cfg["losses"][0] = {"name": "nan_generator", "args": {"nan_from": 2, "nan_to": 4}}
    with pytest.warns(RuntimeWarning, match="non-finite gradients for optimizer_generator"):
        result = run(config.config_from_dict(cfg))
    assert result.step == 8 and result.trainer.nonfinite_skips == 2
    for p in result.trainer.generator.parameters():
        assert torch.isfinite(p).all()


def test_nonfinite_skip_mode_gives_up(tmp_path, faulty):
    from torchgan_ext.errors import NonFiniteLossError

    cfg = tiny_config(
        tmp_path / "run",
        trainer={"max_steps": 20, "sample_size": 4, "nonfinite": "skip", "max_nonfinite_skips": 2},
    )
    cfg["losses"][0] = {"name": "nan_generator", "args": {"nan_from": 1}}
    with pytest.warns(RuntimeWarning), pytest.raises(NonFiniteLossError, match="more than 2"):
        run(config.config_from_dict(cfg))


def test_corrupt_samples_raise_or_are_skipped(tmp_path, faulty, capsys):
    cfg = tiny_config(tmp_path / "run", trainer={"max_steps": 6, "sample_size": 4})
    cfg["data"] = {"name": "sometimes_corrupt", "loader": {"batch_size": 8}}
    cfg["plugins"] = ["faulty_plugin"]
    assert main([str(_write(tmp_path, cfg))]) == 2  # the fixed sample batch hits index 0
    assert "/data/img_000.jpg" in capsys.readouterr().err
    cfg["data"]["skip_corrupt"] = True
    cfg["out_dir"] = str(tmp_path / "run2")
    with pytest.warns(RuntimeWarning, match="skipping corrupt sample"):
        assert main([str(_write(tmp_path, cfg))]) == 0
    out = capsys.readouterr().out
    assert "corrupt samples (data.skip_corrupt: true)" in out


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_is_refused(tmp_path, capsys):
    marker = tmp_path / "pwned"
    cfg = tiny_config(tmp_path / "run", trainer={"max_steps": 2, "sample_size": 4})
    path = _write(tmp_path, cfg)
    assert main([str(path)]) == 0
    evil = tmp_path / "run" / "checkpoints" / "ckpt-00000099.pt"
    good = load_checkpoint(tmp_path / "run" / "checkpoints" / "ckpt-00000002.pt")
    torch.save({**good, "step": 99, "payload": _Evil(marker)}, evil)
    with pytest.warns(RuntimeWarning, match=r"ckpt-00000099.pt.*pickled Python objects"):
        assert main([str(path), "--resume"]) == 0
    assert not marker.exists()
    assert "resuming from" in capsys.readouterr().out
    # as init_from it is a config error naming the key, and still runs nothing
    cfg2 = tiny_config(tmp_path / "run2", trainer={"max_steps": 2, "sample_size": 4})
    cfg2["models"]["generator"]["init_from"] = str(evil)
    assert main([str(_write(tmp_path, cfg2, "c2.yaml"))]) == 2
    err = capsys.readouterr().err
    assert "models.generator.init_from" in err and "pickled Python objects" in err
    assert not marker.exists()


def test_full_disk_keeps_previous_checkpoint(tmp_path, monkeypatch, capsys):
    cfg = tiny_config(
        tmp_path / "run", trainer={"max_steps": 6, "sample_size": 4, "checkpoint_every": 2}
    )
    real_save = torch.save
    calls = {"n": 0}

    def failing_save(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] >= 2:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(ckpt_mod.torch, "save", failing_save)
    with pytest.raises(CheckpointError, match=r"No space left on device.*intact"):
        run(config.config_from_dict(cfg))
    monkeypatch.setattr(ckpt_mod.torch, "save", real_save)
    names = [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()]
    assert names == ["ckpt-00000002.pt"]  # no partial file left behind
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / names[0])["step"] == 2
    path = _write(tmp_path, cfg)
    assert main([str(path), "--resume"]) == 0
    assert "resuming from" in capsys.readouterr().out
