"""Framework overhead: time per iteration of the torchgan-ext Trainer vs a hand-written loop.

Both train the same DCGAN (same initial weights, same optimizer settings, same DataLoader over
the bundled digits) with the same math in the same order: a non-saturating generator step, then
a minimax discriminator step on real and detached fake images. torchgan 0.1.0's own Trainer is
measured too (its gradient logging does one ``.item()`` per parameter per step).

The steady-state time per iteration is the median of per-iteration wall times, measured in
interleaved blocks (trainer, hand-written, torchgan, repeated) so machine noise hits all equally.
Prints a table and the ratios ``trainer / hand-written``. Goal: <= 1.02.

    python benchmarks/overhead.py [--size 32] [--batch 64] [--channels 32] [--blocks 5]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time

os.environ.setdefault("TENSORBOARD_LOGGING", "0")  # torchgan reads these at import
os.environ.setdefault("CONSOLE_LOGGING", "0")

import torch
from torchgan.losses import MinimaxDiscriminatorLoss, MinimaxGeneratorLoss
from torchgan.losses.functional import (
    minimax_discriminator_loss,
    minimax_generator_loss,
)
from torchgan.trainer import Trainer as TorchganTrainer

from torchgan_ext import build_trainer, config
from torchgan_ext.testing import tiny_config


def make_ext_trainer(args, out_dir):
    cfg = tiny_config(
        out_dir,
        trainer={"epochs": 10**6, "max_steps": 1, "sample_size": 4},
        logging={"progress": False, "tensorboard": False},
    )
    cfg["data"] = {
        "name": "digits",
        "args": {"image_size": args.size, "split": "all"},
        "loader": {"batch_size": args.batch, "shuffle": True, "drop_last": True},
    }
    cfg["models"]["generator"]["args"] = {"encoding_dims": 64, "step_channels": args.channels}
    cfg["models"]["discriminator"]["args"] = {"step_channels": args.channels}
    cfg["device"] = args.device
    return build_trainer(config.config_from_dict(cfg))


class _Stamps:
    """A callback appending a timestamp after every step (after the device finished)."""

    def __init__(self, device):
        self.device, self.stamps = device, []

    def on_train_batch_end(self, trainer):
        _sync(self.device)
        self.stamps.append(time.perf_counter())


def time_ext(trainer, loader, steps):
    """Per-iteration times of the torchgan-ext Trainer (inside one ``train`` call)."""
    timer = _Stamps(trainer.device)
    trainer.callbacks["timer"] = timer
    trainer.max_steps = trainer.step + steps + 1
    trainer.train(loader)
    del trainer.callbacks["timer"]
    stamps = timer.stamps
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def time_hand(g, d, opt_g, opt_d, loader, steps, device):
    """Per-iteration times of a hand-written loop doing the same math."""
    stamps = []
    g.train()
    d.train()
    while len(stamps) <= steps:
        for real, _ in loader:
            # the order of torchgan's train_iter for [generator loss, discriminator loss]
            real = real.to(device)
            opt_g.zero_grad()
            z = torch.randn(real.size(0), g.encoding_dims, device=device)
            loss_g = minimax_generator_loss(d(g(z)))
            loss_g.backward()
            opt_g.step()
            opt_d.zero_grad()
            z = torch.randn(real.size(0), g.encoding_dims, device=device)
            dx = d(real)
            fake = g(z)
            loss_d = minimax_discriminator_loss(dx, d(fake.detach()))
            loss_d.backward()
            opt_d.step()
            _sync(device)
            stamps.append(time.perf_counter())
            if len(stamps) > steps:
                break
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def time_torchgan(tg, loader, steps):
    """Per-iteration times of torchgan 0.1.0's Trainer, measured at its mid-epoch logger hook.

    torchgan 0.1.0 crashes at the end of every epoch (``make_grid(range=...)``), so each call
    stops before the epoch ends and the next call starts a new epoch.
    """
    logger = tg.logger
    mid_epoch = [
        v
        for v in logger.logger_mid_epoch
        if type(v).__name__ in ("LossVisualize", "GradientVisualize")
    ]
    tg.epochs = 10**6
    tg.batch_size = loader.batch_size  # what torchgan's __call__ sets before train()
    times: list[float] = []

    class Stop(Exception):
        pass

    while len(times) < steps:
        stamps: list[float] = []
        limit = min(len(loader) - 1, steps - len(times) + 1)

        def hook(trainer, *a, _stamps=stamps, _limit=limit):
            for viz in mid_epoch:  # what torchgan's Logger does every step
                viz(trainer, lock_console=True)
            _sync(tg.device)
            _stamps.append(time.perf_counter())
            if len(_stamps) >= _limit:
                raise Stop

        logger.run_mid_epoch = hook
        try:
            tg.train(loader)
        except Stop:
            pass
        times += [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return times


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="iterations per block")
    p.add_argument("--blocks", type=int, default=30)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        trainer, loader = make_ext_trainer(args, os.path.join(tmp, "run"))
        device = trainer.device
        g, d = copy.deepcopy(trainer.generator), copy.deepcopy(trainer.discriminator)
        opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        models = {
            "generator": {
                "name": lambda: copy.deepcopy(g),
                "optimizer": {
                    "name": torch.optim.Adam,
                    "args": {"lr": 2e-4, "betas": (0.5, 0.999)},
                },
            },
            "discriminator": {
                "name": lambda: copy.deepcopy(d),
                "optimizer": {
                    "name": torch.optim.Adam,
                    "args": {"lr": 2e-4, "betas": (0.5, 0.999)},
                },
            },
        }
        tg = TorchganTrainer(
            models,
            [MinimaxGeneratorLoss(), MinimaxDiscriminatorLoss()],
            device=device,
            checkpoints=os.path.join(tmp, "tg", "gan"),
            recon=os.path.join(tmp, "tg_img"),
        )
        ext_t, hand_t, tg_t = [], [], []
        for _ in range(args.blocks):
            ext_t += time_ext(trainer, loader, args.steps)
            hand_t += time_hand(g, d, opt_g, opt_d, loader, args.steps, device)
            tg_t += time_torchgan(tg, loader, args.steps)
    hand = statistics.median(hand_t)
    ext = statistics.median(ext_t)
    tgm = statistics.median(tg_t)
    print(
        f"DCGAN {args.size}x{args.size}, batch {args.batch}, step_channels {args.channels}, "
        f"device {device}, {args.blocks} blocks x {args.steps} iterations"
    )
    print(f"{'loop':<28}{'median ms/iter':>16}{'ratio vs hand':>16}")
    print(f"{'hand-written PyTorch':<28}{hand * 1e3:>16.3f}{1.0:>16.3f}")
    print(f"{'torchgan-ext Trainer':<28}{ext * 1e3:>16.3f}{ext / hand:>16.3f}")
    print(f"{'torchgan 0.1.0 Trainer':<28}{tgm * 1e3:>16.3f}{tgm / hand:>16.3f}")
    print(
        "(each time is the wall time between the ends of consecutive iterations, so it "
        "includes the DataLoader fetch in every loop)"
    )


if __name__ == "__main__":
    main()
