"""Training throughput of every model family in fp32 / bf16 / bf16+channels_last (/ +compile).

For each family the shipped paper config is loaded as is (models, losses, optimizers, ncritic,
resolution and batch) and only the data is replaced by the in-memory ``synthetic`` dataset of the
same shape (``torchgan_ext.testing.synthetic``), so that no dataset is needed and data loading
does not dominate. SRGAN's VGG19 content network gets a weights file of *random* numbers written
by this script (the compute is the same as with ImageNet weights; the numbers are not a model).

Per mode the trainer runs ``--warmup`` + ``--steps`` iterations; the time per iteration is the
median of per-iteration wall times (device synchronised). Reported: images/s (batch / median
time), the speed-up over fp32, and the framework overhead: the trainer's time per iteration over
a direct loop that calls the same losses' ``train_ops`` on the same batches (same math, no
trainer). Results go to a JSON file.

    python benchmarks/run_all.py                          # CPU: paper sizes, batch capped at 8
    python benchmarks/run_all.py --device cuda --compile  # GPU: paper batch sizes
    python benchmarks/run_all.py --families dcgan sagan --steps 5 --batch 4
    python benchmarks/run_all.py --modes fp32 fp32+diffaugment fp32+ada fp32+r1 fp32+lecam
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from torchgan_ext import build_trainer, config, load_plugins  # noqa: E402
from torchgan_ext.config import read_yaml  # noqa: E402

FAMILIES = {
    "dcgan": "configs/celeba_dcgan64.yaml",
    "sagan": "configs/sagan_celeba.yaml",
    "unetgan": "configs/unetgan_celeba128.yaml",
    "srgan": "configs/srgan_x4.yaml",
    "stargan": "configs/stargan_celeba.yaml",
    "pix2pix": "configs/pix2pix_cityscapes.yaml",
    "cyclegan": "configs/cyclegan_cityscapes.yaml",
    "context_encoder": "configs/context_encoder_paris.yaml",
    "discogan": "configs/discogan_edges2shoes.yaml",
    # without its growing schedule (NOT_TIMED): the models stay at their final resolution
    # (256x256), the slowest phase of the schedule
    "progan": "configs/progan_celebahq256.yaml",
    # with its recipe's callbacks (EMA, lazy R1, lazy path length): timed in both loops
    "stylegan2": "configs/stylegan2_ffhq256.yaml",
}
#: Config callbacks left out of the timing: the growing schedule would time its 4x4 phase.
NOT_TIMED = ("progressive_growing",)
#: Datasets that yield image pairs (translation): timed on synthetic pairs.
PAIRED = ("cityscapes_pairs", "paired_images", "unpaired_images")
MODES = {
    "fp32": {"precision": "fp32"},
    "bf16": {"precision": "bf16"},
    "bf16+cl": {"precision": "bf16", "channels_last": True},
    "bf16+cl+compile": {"precision": "bf16", "channels_last": True, "compile": True},
    # the small-data switches (docs/augmentation.md): their cost vs plain fp32
    "fp32+diffaugment": {"precision": "fp32", "callbacks": [{"name": "diffaugment"}]},
    "fp32+ada": {"precision": "fp32", "callbacks": [{"name": "ada", "args": {"p": 0.5}}]},
    # the regularisers (docs/regularisers.md): lazy R1 (every 16 steps) and LeCam (every step)
    "fp32+r1": {"precision": "fp32", "callbacks": [{"name": "r1_penalty", "args": {"every": 16}}]},
    "fp32+lecam": {"precision": "fp32", "callbacks": [{"name": "lecam"}]},
}
#: U-Net GAN's per-pixel discriminator takes pixel-preserving augmentations only.
PIXEL_SAFE = {"diffaugment": {"policy": ["color", "cutout"]}, "ada": {"groups": ["color"]}}


def synthetic_data(data: dict, batch: int) -> dict:
    """The synthetic dataset with the shape of ``data`` (a config's data section)."""
    args = data.get("args", {})
    # long enough that no epoch ends (samples, checkpoint) inside the timed iterations
    synth: dict = {"channels": 3, "length": 10**6}
    if data["name"] == "super_resolution":
        synth.update(image_size=args.get("crop_size", 96), scale=args.get("scale", 4))
    elif data["name"] in PAIRED:
        synth.update(image_size=args.get("image_size", 256), pairs=True)
    else:
        synth["image_size"] = args.get("image_size", 64)
        synth["pairs"] = data["name"] in ("paired_images", "unpaired_images")
        if args.get("attributes"):
            synth["attributes"] = list(args["attributes"])
    return {
        "name": "synthetic",
        "args": synth,
        "loader": {"batch_size": batch, "num_workers": 0, "shuffle": True, "drop_last": True},
    }


def family_config(
    name: str, mode: dict, batch: int | None, cap: int, steps: int, out: str, vgg_weights: str
) -> tuple[dict, int]:
    raw = read_yaml(ROOT / FAMILIES[name])
    paper_batch = raw["data"]["loader"]["batch_size"]
    bs = batch or min(paper_batch, cap)
    cfg = copy.deepcopy(raw)
    mode = copy.deepcopy(mode)
    recipe = [c for c in raw.get("callbacks", []) if c["name"] not in NOT_TIMED]
    cfg["callbacks"] = [*recipe, *mode.pop("callbacks", [])]
    for cb in cfg["callbacks"]:
        if name == "unetgan":
            cb["args"] = {**cb.get("args", {}), **PIXEL_SAFE[cb["name"]]}
    cfg["data"] = synthetic_data(raw["data"], bs)
    cfg["plugins"] = ["torchgan_ext.testing.synthetic"]
    cfg["metrics"] = []
    cfg["out_dir"] = out
    cfg["trainer"] = {
        "epochs": 10**6,
        "max_steps": steps,
        "ncritic": raw.get("trainer", {}).get("ncritic", 1),
        "sample_size": 4,
        **mode,
    }
    cfg["logging"] = {"progress": False, "tensorboard": False}
    for m in cfg["models"].values():
        m.pop("init_from", None)
        m.pop("scheduler", None)
        if m["name"] == "stargan_generator" or m["name"] == "stargan_discriminator":
            m.get("args", {}).pop("attributes", None)
    for loss in cfg["losses"]:
        if loss.get("args", {}).get("content") == "vgg19":
            loss["args"]["weights"] = vgg_weights
    return cfg, bs


def recipe_callbacks(name: str) -> tuple[str, ...]:
    """The callbacks a family's config lists itself (its recipe, e.g. StyleGAN2's R1)."""
    callbacks = read_yaml(ROOT / FAMILIES[name]).get("callbacks", [])
    return tuple(c["name"] for c in callbacks if c["name"] not in NOT_TIMED)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Stamps:
    """A callback appending a timestamp after every step (after the device finished)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.stamps = device, []

    def on_train_batch_end(self, trainer) -> None:
        sync(self.device)
        self.stamps.append(time.perf_counter())


def time_trainer(trainer, loader, warmup: int) -> list[float]:
    timer = _Stamps(trainer.device)
    trainer.callbacks["timer"] = timer
    trainer.train(loader)
    del trainer.callbacks["timer"]
    stamps = timer.stamps
    return [b - a for a, b in zip(stamps[warmup:], stamps[warmup + 1 :], strict=False)]


def time_direct(trainer, loader, steps: int, recipe: tuple[str, ...] = ()) -> list[float]:
    """The same losses' train_ops called in a plain loop (ncritic schedule kept), and the
    step hooks of the config's own ``recipe`` callbacks (StyleGAN2's EMA, R1, path length)."""
    from torchgan.losses import DiscriminatorLoss, GeneratorLoss

    from torchgan_ext.callbacks import DiscriminatorAugment
    from torchgan_ext.trainer.acceleration import autocast

    losses = list(trainer.losses.items())
    augment = [cb for cb in trainer.callbacks.values() if isinstance(cb, DiscriminatorAugment)]
    for cb in augment:  # the same augmentation in the direct loop
        cb.on_train_start(trainer)
    stamps: list[float] = []
    d_iters = 0
    it = iter(loader)
    while len(stamps) <= steps:
        try:
            data = next(it)
        except StopIteration:
            it = iter(loader)
            data = next(it)
        trainer.set_batch(data)
        with autocast(trainer.device, trainer.precision):
            for name, loss in losses:
                is_gen = isinstance(loss, GeneratorLoss) and not isinstance(loss, DiscriminatorLoss)
                if is_gen and d_iters % max(trainer.ncritic, 1) != 0:
                    continue
                loss.train_ops(**trainer._get_arguments(trainer.loss_arg_maps[name]))
                if isinstance(loss, DiscriminatorLoss):
                    d_iters += 1
        trainer.step = len(stamps) + 1
        for name in recipe:
            trainer.callbacks[name].on_train_batch_end(trainer)
        sync(trainer.device)
        stamps.append(time.perf_counter())
    for cb in augment:
        cb.on_train_end(trainer)
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def measure(
    families: list[str],
    modes: list[str],
    device: torch.device,
    steps: int,
    warmup: int,
    batch: int | None = None,
    cap: int = 10**9,
    log=print,
) -> list[dict]:
    """One row per family and mode: images/s, speed-up over the family's first mode, and the
    trainer's overhead over a direct loop (see the module docstring)."""
    load_plugins(["torchgan_ext.testing.synthetic"])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        vgg = os.path.join(tmp, "vgg19-random-for-timing.pth")
        import torchvision

        torch.save(torchvision.models.vgg19().state_dict(), vgg)
        for fam in families:
            base = None
            for mode in modes:
                cfg, bs = family_config(
                    fam,
                    MODES[mode],
                    batch,
                    cap,
                    warmup + steps + 1,
                    os.path.join(tmp, f"{fam}-{mode}"),
                    vgg,
                )
                cfg["device"] = str(device)
                trainer, loader = build_trainer(config.config_from_dict(cfg, FAMILIES[fam]))
                per_iter = statistics.median(time_trainer(trainer, loader, warmup))
                recipe = recipe_callbacks(fam)
                direct = statistics.median(time_direct(trainer, loader, steps, recipe))
                ips = bs / per_iter
                base = base or ips
                row = {
                    "family": fam,
                    "mode": mode,
                    "batch": bs,
                    "image_size": cfg["data"]["args"]["image_size"],
                    "ms_per_iter": per_iter * 1e3,
                    "images_per_s": ips,
                    "speedup_vs_fp32": ips / base,
                    "overhead_vs_direct": per_iter / direct,
                }
                results.append(row)
                log(
                    f"{fam:<8} {mode:<16} batch {bs:>3} {row['image_size']:>4}px "
                    f"{row['ms_per_iter']:>10.1f} ms/it {ips:>9.2f} img/s "
                    f"x{row['speedup_vs_fp32']:.2f} vs fp32  "
                    f"overhead {row['overhead_vs_direct']:.3f}"
                )
                del trainer, loader
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    p.add_argument("--modes", nargs="+", default=["fp32", "bf16", "bf16+cl"], choices=list(MODES))
    p.add_argument("--compile", action="store_true", help="also run bf16+cl+compile")
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=4, help="timed iterations per mode")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=None, help="override every batch size")
    p.add_argument(
        "--cpu-batch-cap",
        type=int,
        default=8,
        help="on CPU, cap paper batch sizes at this (images/s is per image)",
    )
    p.add_argument("--json", default=None, help="output file (default benchmarks/results/)")
    args = p.parse_args()
    device = torch.device(
        "cuda"
        if (args.device == "auto" and torch.cuda.is_available())
        else ("cpu" if args.device == "auto" else args.device)
    )
    cap = args.cpu_batch_cap if device.type == "cpu" else 10**9
    modes = list(args.modes) + (["bf16+cl+compile"] if args.compile else [])
    results = measure(
        args.families,
        modes,
        device,
        args.steps,
        args.warmup,
        args.batch,
        cap,
        log=lambda line: print(line, flush=True),
    )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    out = (
        Path(args.json)
        if args.json
        else ROOT / "benchmarks" / "results" / (f"run_all_{device.type}.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "device": str(device),
                "device_name": name or "cpu",
                "torch": torch.__version__,
                "steps": args.steps,
                "results": results,
            },
            indent=2,
        )
    )
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
