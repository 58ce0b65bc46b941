"""Crash safety, numerical faults, data faults, malicious files, full disks."""

import errno
import os
import random
import re
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
    result = run(config.config_from_dict(cfg))
    assert result.step == 8 and result.trainer.nonfinite_skips == 2
    assert result.trainer.skipped_steps == [(3, "optimizer_generator"), (4, "optimizer_generator")]
    for p in result.trainer.generator.parameters():
        assert torch.isfinite(p).all()


def test_nonfinite_skip_mode_gives_up_in_one_line(tmp_path, faulty, capsys):
    cfg = tiny_config(
        tmp_path / "run",
        trainer={
            "max_steps": 20,
            "sample_size": 4,
            "nonfinite": "skip",
            "max_nonfinite_skips": 2,
            "checkpoint_every": 1,
        },
    )
    cfg["losses"][0] = {"name": "nan_generator", "args": {"nan_from": 2}}
    cfg["plugins"] = ["faulty_plugin"]
    assert main([str(_write(tmp_path, cfg))]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1, err
    assert "more than 2 optimizer steps with non-finite gradients" in err[0]
    newest = tmp_path / "run" / "checkpoints" / "ckpt-00000004.pt"
    assert f"the newest good checkpoint is {newest} (step 4)" in err[0]


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


# ------------------------------------------------------------------------------------------
# Reliability II: pruning, resume compatibility, finite checkpoints
# ------------------------------------------------------------------------------------------
def _foreign(kind, good_bytes):
    if kind == "truncated":
        return good_bytes[: len(good_bytes) // 2]
    if kind == "garbage":
        return os.urandom(3000)
    if kind == "empty":
        return b""
    return None  # "dict": a readable torch file that is not a checkpoint


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty", "dict"])
def test_unreadable_newer_file_never_gets_valid_checkpoints_pruned(tmp_path, kind, capsys):
    cfg = tiny_config(
        tmp_path / "run",
        trainer={"max_steps": 4, "sample_size": 4, "checkpoint_every": 2, "keep_checkpoints": 2},
    )
    path = _write(tmp_path, cfg)
    assert main([str(path)]) == 0
    ckdir = tmp_path / "run" / "checkpoints"
    foreign = ckdir / "ckpt-99999999.pt"
    data = _foreign(kind, (ckdir / "ckpt-00000004.pt").read_bytes())
    if data is None:
        torch.save({"weight": torch.ones(2)}, foreign)
    else:
        foreign.write_bytes(data)
    cfg["trainer"]["max_steps"] = 10
    path = _write(tmp_path, cfg)
    with pytest.warns(RuntimeWarning, match="ckpt-99999999.pt"):
        assert main([str(path), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resuming from" in out and "ckpt-00000004.pt" in out
    assert "checkpoint " + str(ckdir / "ckpt-00000010.pt") in out  # not the foreign file
    names = sorted(p.name for p in ckdir.iterdir())
    # the two newest valid ones are kept; the foreign file is neither counted nor deleted
    assert names == ["ckpt-00000008.pt", "ckpt-00000010.pt", "ckpt-99999999.pt"]
    cfg["trainer"]["max_steps"] = 12
    path = _write(tmp_path, cfg)
    with pytest.warns(RuntimeWarning, match="ckpt-99999999.pt"):
        assert main([str(path), "--resume"]) == 0
    assert "ckpt-00000010.pt (step 10" in capsys.readouterr().out


def test_prune_keeps_valid_checkpoints_below_unreadable_ones(tmp_path):
    good = {"step": 1, "models": {}, "format": 2}
    for step in (1, 2, 3):
        ckpt_mod.save_checkpoint({**good, "step": step}, ckpt_mod.checkpoint_path(tmp_path, step))
    for step in (7, 8):
        ckpt_mod.checkpoint_path(tmp_path, step).write_bytes(b"not a checkpoint")
    with pytest.warns(RuntimeWarning) as record:
        deleted = ckpt_mod.prune_checkpoints(tmp_path, keep=2)
    assert [p.name for p in deleted] == ["ckpt-00000001.pt"]
    warned = " ".join(str(w.message) for w in record)
    assert "ckpt-00000007.pt" in warned and "ckpt-00000008.pt" in warned
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["ckpt-00000002.pt", "ckpt-00000003.pt", "ckpt-00000007.pt", "ckpt-00000008.pt"]
    # keep=1: 3 is the newest valid one; 2 is protected (the one just written)
    with pytest.warns(RuntimeWarning):
        deleted = ckpt_mod.prune_checkpoints(
            tmp_path, keep=1, protect=ckpt_mod.checkpoint_path(tmp_path, 2)
        )
    assert [p.name for p in deleted] == []
    known = {}
    with pytest.warns(RuntimeWarning):
        ckpt_mod.prune_checkpoints(tmp_path, keep=1, known=known)
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "ckpt-00000003.pt",
        "ckpt-00000007.pt",
        "ckpt-00000008.pt",
    ]
    import warnings as _w

    with _w.catch_warnings():
        _w.simplefilter("error")  # each unreadable file is warned about once per cache
        ckpt_mod.prune_checkpoints(tmp_path, keep=1, known=known)


def _snapshot(directory):
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _resume_base(tmp_path):
    cfg = tiny_config(
        tmp_path / "run",
        trainer={"max_steps": 4, "sample_size": 4, "checkpoint_every": 2, "sample_every": 2},
    )
    assert main([str(_write(tmp_path, cfg))]) == 0
    return cfg


def _sgd(cfg):
    cfg["models"]["generator"]["optimizer"] = {"name": "sgd", "args": {"lr": 0.01}}


def _step_lr(cfg):
    cfg["models"]["discriminator"]["scheduler"] = {"name": "step", "args": {"step_size": 2}}


def _bigger(cfg):
    cfg["models"]["generator"]["args"]["step_channels"] = 8


def _lr(cfg):
    cfg["models"]["generator"]["optimizer"]["args"]["lr"] = 1.0e-3


def _loss(cfg):
    cfg["losses"].append({"name": "least_squares_generator"})


def _model_class(cfg):
    cfg["models"]["generator"]["name"] = "conditional_dcgan_generator"
    cfg["models"]["generator"]["args"]["num_classes"] = 10


CHANGES = {
    "optimizer": (_sgd, ["models.generator.optimizer.name:", "Adam", "SGD"]),
    "scheduler": (_step_lr, ["models.discriminator.scheduler:", "StepLR"]),
    "shapes": (_bigger, ["models.generator.args:", "has shape"]),
    "lr": (_lr, ["models.generator.optimizer.args.lr:", "0.0002", "0.001"]),
    "losses": (_loss, ["losses.2:", "LeastSquaresGeneratorLoss"]),
}


@pytest.mark.parametrize("legacy", [False, True], ids=["format2", "format1"])
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_resume_with_incompatible_config_is_refused_untouched(tmp_path, change, legacy, capsys):
    cfg = _resume_base(tmp_path)
    run_dir = tmp_path / "run"
    if legacy:  # a checkpoint written before the format had class names
        p = run_dir / "checkpoints" / "ckpt-00000004.pt"
        state = load_checkpoint(p)
        state.pop("meta")
        state["format"] = 1
        torch.save(state, p)
    before = _snapshot(run_dir)
    capsys.readouterr()
    edit, expected = CHANGES[change]
    edit(cfg)
    cfg["trainer"]["max_steps"] = 8
    assert main([str(_write(tmp_path, cfg)), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "ckpt-00000004.pt" in err[0] and "--resume" in err[0], err
    if legacy and change == "optimizer":
        expected = [expected[0], "SGD"]
    if legacy and change == "scheduler":  # format 1 holds no class names
        expected = [expected[0], "holds 0 learning-rate scheduler(s), this run builds 1"]
    for text in expected:
        assert text in err[0], (text, err[0])
    assert _snapshot(run_dir) == before  # config.yaml, checkpoints and samples untouched


def test_resume_allows_schedule_logging_and_callback_changes(tmp_path, capsys):
    cfg = _resume_base(tmp_path)
    cfg["trainer"].update(
        {"max_steps": 8, "epochs": 2, "checkpoint_every": 3, "sample_every": 5, "ema": {}}
    )
    cfg["logging"] = {"progress": True, "tensorboard": True, "log_every": 2}
    assert main([str(_write(tmp_path, cfg)), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resuming from" in out and "done: step 8" in out
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "ckpt-00000008.pt")
    assert "ema" in state["callbacks"]
    assert state["meta"]["optimizers"]["optimizer_generator"]["class"] == "Adam"


def test_old_checkpoint_without_meta_still_resumes(tmp_path, capsys):
    cfg = _resume_base(tmp_path)
    p = tmp_path / "run" / "checkpoints" / "ckpt-00000004.pt"
    state = load_checkpoint(p)
    state.pop("meta")
    state["format"] = 1
    torch.save(state, p)
    cfg["trainer"]["max_steps"] = 6
    assert main([str(_write(tmp_path, cfg)), "--resume"]) == 0
    assert "ckpt-00000004.pt (step 4" in capsys.readouterr().out


HUGE_LR_PLUGIN = textwrap.dedent(
    """
    import torch
    from torchgan_ext import hookimpl
    from torchgan_ext.callbacks import Callback


    class PoisonBuffer(Callback):
        '''Sets a batch-norm running variance to inf after step ``at``.'''

        def __init__(self, at=3, what="buffer"):
            self.at, self.what = at, what

        def on_train_batch_end(self, trainer):
            if trainer.step == self.at:
                with torch.no_grad():
                    if self.what == "buffer":
                        for name, b in trainer.discriminator.named_buffers():
                            if name.endswith("running_var"):
                                b.fill_(float("inf"))
                                break
                    else:
                        state = trainer.optimizer_generator.state
                        next(iter(state.values()))["exp_avg_sq"].fill_(float("nan"))


    @hookimpl
    def torchgan_ext_register_callbacks(registry):
        registry.register("poison_buffer", PoisonBuffer)
    """
)


@pytest.mark.parametrize("what", ["buffer", "optimizer"])
def test_nonfinite_state_is_never_checkpointed(tmp_path, monkeypatch, capsys, what):
    (tmp_path / "poison_plugin.py").write_text(HUGE_LR_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = tiny_config(
        tmp_path / "run", trainer={"max_steps": 10, "sample_size": 4, "checkpoint_every": 2}
    )
    cfg["plugins"] = ["poison_plugin"]
    cfg["callbacks"] = [{"name": "poison_buffer", "args": {"at": 4, "what": what}}]
    try:
        assert main([str(_write(tmp_path, cfg))]) == 1
    finally:
        sys.modules.pop("poison_plugin", None)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    ckdir = tmp_path / "run" / "checkpoints"
    assert [p.name for p in ckdir.iterdir()] == ["ckpt-00000002.pt"]
    name = "running_var" if what == "buffer" else "optimizers.optimizer_generator.state"
    assert name in err[0] and "at step 4" in err[0]
    assert f"the newest good checkpoint is {ckdir / 'ckpt-00000002.pt'} (step 2)" in err[0]
    state = load_checkpoint(ckdir / "ckpt-00000002.pt")
    assert not ckpt_mod.nonfinite_tensors({k: v for k, v in state.items() if k != "rng"})


def test_huge_learning_rate_keeps_only_finite_checkpoints(tmp_path, capsys):
    """SGD with lr 1e4 blows up the batch-norm statistics before the losses turn NaN."""
    for mode in ("stop", "skip"):
        out_dir = tmp_path / mode
        cfg = tiny_config(
            out_dir,
            trainer={"max_steps": 18, "sample_size": 4, "checkpoint_every": 2, "nonfinite": mode},
        )
        for m in cfg["models"].values():
            m["optimizer"] = {"name": "sgd", "args": {"lr": 1.0e4}}
        assert main([str(_write(tmp_path, cfg, f"{mode}.yaml"))]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "not finite at step" in err[0], err
        ckpts = list_checkpoints(out_dir / "checkpoints")
        assert ckpts and str(ckpts[-1]) in err[0]
        for p in ckpts:
            state = load_checkpoint(p)
            assert not ckpt_mod.nonfinite_tensors({k: v for k, v in state.items() if k != "rng"})


# ----------------------------------------------------------------------------------------------
# preemption: SIGTERM/SIGINT to the process group, to the main process, under torchrun
# ----------------------------------------------------------------------------------------------
def _preemptible(tmp_path, **loader):
    cfg = tiny_config(
        tmp_path / "run",
        trainer={"epochs": 10000, "max_steps": 100000, "sample_size": 4},
        logging={"progress": True, "tensorboard": False, "log_every": 1, "refresh_rate": 1},
    )
    cfg["data"]["loader"].update(loader)
    return cfg, _write(tmp_path, cfg)


def _start_and_stop(path, sig, *, group=True, after=12, extra=()):
    """Start a CPU run in its own process group, wait for ``after`` steps, send ``sig``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchgan_ext.cli", str(path), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    try:
        for line in proc.stdout:
            if line.startswith("step ") and int(line.split()[1].split("/")[0]) >= after:
                break
        (os.killpg if group else os.kill)(proc.pid, sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out, err


def _child_pids(pid):
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry))
    return children


@pytest.mark.parametrize(
    "sig, group, loader",
    [
        (signal.SIGTERM, True, {"num_workers": 2}),  # a scheduler pre-empting the job
        (signal.SIGTERM, False, {"num_workers": 2, "persistent_workers": True}),
        (signal.SIGINT, True, {"num_workers": 2}),  # Ctrl-C in a terminal
    ],
    ids=["sigterm-group", "sigterm-main-persistent", "sigint-group"],
)
def test_stop_signal_with_workers_checkpoints_and_resumes(tmp_path, sig, group, loader):
    """Workers ignore the job's stop signal: the main process finishes its step, writes the
    checkpoint of the stop step, prints one line and exits 0; the checkpoint resumes."""
    cfg, path = _preemptible(tmp_path, **loader)
    code, out, err = _start_and_stop(path, sig, group=group)
    assert code == 0, err[-3000:]
    assert "Traceback" not in err and "DataLoader worker" not in err, err[-3000:]
    stops = [line for line in out.splitlines() if line.startswith("stopped by signal")]
    step = load_checkpoint(list_checkpoints(tmp_path / "run" / "checkpoints")[-1])["step"]
    assert stops == [f"stopped by signal {int(sig)} at step {step}; resume with --resume"]
    cfg["trainer"]["max_steps"] = step + 2
    resumed = run(config.config_from_dict(cfg), resume=True)
    assert resumed.resumed_from.name == f"ckpt-{step:08d}.pt" and resumed.step == step + 2


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="lists workers through /proc")
def test_worker_killed_otherwise_is_still_reported(tmp_path):
    _, path = _preemptible(tmp_path, num_workers=2, persistent_workers=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchgan_ext.cli", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    try:
        for line in proc.stdout:
            if line.startswith("step 5/"):
                break
        workers = _child_pids(proc.pid)
        os.kill(workers[0], signal.SIGTERM)  # not from its parent: ignored
        time.sleep(0.5)
        assert sorted(_child_pids(proc.pid)) == sorted(workers)
        os.kill(workers[0], signal.SIGKILL)  # e.g. the OOM killer: the run fails, naming it
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 1
    assert "DataLoader worker (pid" in err, err  # "killed" or "exited"
    # torch names the pid when its SIGCHLD check sees the dead worker first; when the main
    # process's read of the worker's socket fails first (a loaded machine), torch's own message
    # says "pid(s) unknown" -- still one line naming the failed worker, no traceback.
    assert str(workers[0]) in err or "pid(s) unknown" in err, err
    assert "Traceback" not in err, err


def test_stop_signal_while_starting_stops_after_first_step():
    """A signal caught by the launcher's handler before training is handed to the trainer's
    (and back), so the run stops at its first step instead of dying."""
    from torchgan_ext.trainer.preemption import StopRequest

    outer, inner = StopRequest(), StopRequest()
    outer.install()
    try:
        signal.raise_signal(signal.SIGTERM)
        assert outer.signal == signal.SIGTERM
        inner.install()
        assert inner.signal == signal.SIGTERM
        inner.uninstall()
        with pytest.raises(KeyboardInterrupt):  # a later Ctrl-C stops at once
            signal.raise_signal(signal.SIGINT)
    finally:
        outer.uninstall()


@pytest.mark.slow
def test_sigterm_to_torchrun_job_checkpoints_and_exits_zero(tmp_path):
    """``--nproc 2`` (gloo): the launcher forwards the stop to the ranks (torchrun starts them
    in sessions of their own); they agree on the step, rank 0 checkpoints, all exit 0."""
    cfg, path = _preemptible(tmp_path, num_workers=1)
    code, out, err = _start_and_stop(path, signal.SIGTERM, after=5, extra=("--nproc", "2"))
    assert code == 0, err[-3000:]
    assert "Traceback" not in err and "SignalException" not in err, err[-3000:]
    stops = [line for line in out.splitlines() if line.startswith("stopped by signal")]
    step = load_checkpoint(list_checkpoints(tmp_path / "run" / "checkpoints")[-1])["step"]
    expected = f"stopped by signal {int(signal.SIGTERM)} at step {step}; resume with --resume"
    assert stops == [expected]


class _FailingBatches:
    """A DataLoader iterator stand-in whose next read fails like a worker that died."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.shut_down = 0
        self._workers = []

    def __iter__(self):
        return self

    def __next__(self):
        raise self.error

    def _shutdown_workers(self) -> None:
        self.shut_down += 1


@pytest.mark.parametrize(
    "error, expected",
    [
        (ConnectionResetError(104, "Connection reset by peer"), "pid(s) unknown"),
        (RuntimeError("DataLoader worker (pid 7) is killed by signal: Killed."), "pid 7"),
    ],
)
def test_failed_loader_is_shut_down_before_the_error_is_reported(error, expected):
    # a worker left on torch's SIGCHLD watch makes torch's handler raise a second error while
    # the CLI prints the first one (a traceback in CI); shutting down takes it off the watch
    from torchgan_ext.trainer.preemption import report_dead_workers

    batches = _FailingBatches(error)
    with pytest.raises(RuntimeError, match=re.escape(expected)):
        next(report_dead_workers(batches))
    assert batches.shut_down == 1
