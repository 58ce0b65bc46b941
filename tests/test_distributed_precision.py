"""bf16 / channels_last / torch.compile keep results correct; 2-process gloo data parallelism."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml

from torchgan_ext import build_trainer, config, run
from torchgan_ext.testing import tiny_config
from torchgan_ext.testing.processes import torchrun


def _train(tmp_path, name, steps=3, **trainer):
    cfg = tiny_config(tmp_path / name, trainer={"max_steps": steps, "sample_size": 4, **trainer})
    return run(config.config_from_dict(cfg)).trainer


def _max_rel_diff(a, b):
    out = 0.0
    for (_k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        if va.is_floating_point():
            scale = va.float().abs().max().clamp_min(1e-8)
            out = max(out, float((va.float() - vb.float()).abs().max() / scale))
    return out


def test_bf16_autocast_close_to_fp32(tmp_path):
    ref = _train(tmp_path, "fp32")
    cfg = tiny_config(
        tmp_path / "bf16", trainer={"max_steps": 3, "sample_size": 4, "precision": "bf16"}
    )
    trainer, loader = build_trainer(config.config_from_dict(cfg))
    seen = []
    conv = next(m for m in trainer.generator.modules() if isinstance(m, torch.nn.ConvTranspose2d))
    conv.register_forward_hook(lambda m, i, o: seen.append((m.training, o.dtype)))
    trainer.train(loader)
    # training forwards run in bf16; samples (eval mode) are made in fp32
    assert {dtype for training, dtype in seen if training} == {torch.bfloat16}
    assert {dtype for training, dtype in seen if not training} == {torch.float32}
    for p in trainer.generator.parameters():
        assert p.dtype == torch.float32 and p.grad is None or p.grad.dtype == torch.float32
    opt_state = trainer.optimizer_generator.state_dict()["state"]
    assert all(s["exp_avg"].dtype == torch.float32 for s in opt_state.values())
    diff = _max_rel_diff(ref.generator, trainer.generator)
    assert 0.0 < diff < 0.1, diff  # bf16 changes the numbers, but only a little


def test_channels_last_matches_fp32(tmp_path):
    ref = _train(tmp_path, "ref")
    trainer = _train(tmp_path, "cl", channels_last=True)
    conv = next(m for m in trainer.discriminator.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert _max_rel_diff(ref.generator, trainer.generator) < 1e-4
    assert _max_rel_diff(ref.discriminator, trainer.discriminator) < 1e-4


@pytest.mark.slow
def test_compile_matches_eager(tmp_path):
    ref = _train(tmp_path, "eager", steps=2)
    trainer = _train(tmp_path, "compiled", steps=2, compile=True)
    assert trainer.generator._compiled_call_impl is not None
    assert _max_rel_diff(ref.generator, trainer.generator) < 1e-3
    assert _max_rel_diff(ref.discriminator, trainer.discriminator) < 1e-3


def test_compile_falls_back_with_warning():
    from torchgan_ext.trainer.acceleration import compile_model

    model = torch.nn.Linear(2, 2)

    def failing_check(m):
        raise RuntimeError("backend exploded")

    with pytest.warns(RuntimeWarning, match="running it eagerly"):
        assert compile_model(model, failing_check) is False
    assert model._compiled_call_impl is None
    assert model(torch.zeros(1, 2)).shape == (1, 2)


SCRIPT = textwrap.dedent(
    """
    import atexit, os, sys, torch
    import torch.distributed as dist
    from torchgan_ext import build_trainer, config, run

    def report_group_at_exit():  # registered first, so it runs after torchgan-ext's handler
        rank = os.environ["RANK"]
        with open(os.path.join(sys.argv[2], f"group-at-exit{rank}.txt"), "w") as f:
            f.write(str(dist.is_initialized()))

    atexit.register(report_group_at_exit)
    cfg = config.load_config(sys.argv[1])
    result = run(cfg, overwrite=True)
    t = result.trainer
    rank = int(os.environ["RANK"])
    torch.save({"generator": t.generator.state_dict(),
                "discriminator": t.discriminator.state_dict(),
                "step": t.step, "first_batch": t.real_inputs[:2].clone()},
               os.path.join(sys.argv[2], f"rank{rank}.pt"))
    """
)


@pytest.mark.slow
def test_two_gloo_processes_hold_identical_weights(tmp_path):
    cfg = tiny_config(tmp_path / "run", trainer={"max_steps": 5, "sample_size": 4})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    script = tmp_path / "train_rank.py"
    script.write_text(SCRIPT)
    proc = torchrun(script, path, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the process group is destroyed before interpreter shutdown (else gloo can SIGABRT at exit)
    for rank in (0, 1):
        assert (tmp_path / f"group-at-exit{rank}.txt").read_text() == "False"
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["step"] == r1["step"] == 5
    for model in ("generator", "discriminator"):
        for k in r0[model]:
            assert torch.equal(r0[model][k], r1[model][k]) or "running" in k or "num_batches" in k
    assert not torch.equal(r0["first_batch"], r1["first_batch"])  # each rank has its own shard
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "ckpt-00000005.pt", weights_only=True)
    for k, v in ckpt["models"]["generator"].items():
        assert torch.equal(v, r0["generator"][k])
    # resume across a change of world size: the 2-process checkpoint continues in 1 process
    cfg["trainer"]["max_steps"] = 7
    resumed = run(config.config_from_dict(cfg), resume=True)
    assert resumed.resumed_from.name == "ckpt-00000005.pt" and resumed.step == 7


@pytest.mark.slow
def test_cli_nproc_runs_torchrun(tmp_path):
    cfg = tiny_config(tmp_path / "run", trainer={"max_steps": 3, "sample_size": 4})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "torchgan_ext", str(path), "--nproc", "2"],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("done: step 3") == 1  # only rank 0 reports
    assert (tmp_path / "run" / "checkpoints" / "ckpt-00000003.pt").is_file()
