"""Small-data augmentation on real MNIST digits: plain DCGAN vs DiffAugment vs ADA (vs LeCam).

The issue's "measured, not assumed" table. Every variant trains ``configs/dcgan_digits.yaml``
(torchgan's DCGAN, minimax loss, Adam 2e-4) on the first ``--limit`` images of the MNIST-5k
``train`` split (``digits`` with ``source: mnist``, 50 per class for 500) at 32x32, for the
same number of steps from the same seeds; only ``callbacks:`` differs. Each run is scored with
:func:`torchgan_ext.testing.digits_score` (``judge="mnist"``: a classifier fitted on the held-out
``test`` split; real unseen MNIST digits score 5.8) on 1000 samples of the final generator, and
its class coverage (classes given at least 5% of the samples, i.e. half their share). The
table shows the median over the seeds (and every seed's score).

A ``lecam`` row is added when that callback is registered (``torchgan-run --list callbacks``);
otherwise the script says it skipped it.

    OMP_NUM_THREADS=1 python benchmarks/small_data.py                 # ~20 CPU minutes
    OMP_NUM_THREADS=1 python benchmarks/small_data.py --steps 200 --seeds 0   # a smoke run
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from torchgan_ext import config, load_plugins  # noqa: E402
from torchgan_ext._registry import CALLBACKS  # noqa: E402
from torchgan_ext.config import read_yaml  # noqa: E402
from torchgan_ext.runner import run  # noqa: E402
from torchgan_ext.testing import digits_score  # noqa: E402

#: ``callbacks:`` of every variant; ``{speed}`` is replaced by ``--ada-kimg``.
VARIANTS: dict[str, list[dict]] = {
    "plain": [],
    "diffaugment": [
        {"name": "diffaugment", "args": {"policy": ["color", "translation", "cutout"]}}
    ],
    "ada": [{"name": "ada", "args": {"target": 0.6, "speed_kimg": "{speed}"}}],
    # EMA anchors from step 0 (the default start_step, 1000, is past these short runs)
    "lecam": [{"name": "lecam", "args": {"start_step": 0}}],
}


def variant_config(name: str, seed: int, args: argparse.Namespace, out: str) -> dict:
    cfg = read_yaml(ROOT / "configs" / "dcgan_digits.yaml")
    cfg["seed"] = seed
    cfg["device"] = "cpu"
    cfg["out_dir"] = out
    cfg["data"]["args"] = {
        "source": "mnist",
        "split": "train",
        "limit": args.limit,
        "image_size": 32,
        "channels": 1,
    }
    cfg["data"]["loader"]["batch_size"] = args.batch
    cfg["trainer"] = {
        "epochs": 10**6,
        "max_steps": args.steps,
        "sample_size": 16,
        "sample_every": None,
        "checkpoint_every": None,
    }
    cfg["logging"] = {"progress": False, "tensorboard": False}
    callbacks = copy.deepcopy(VARIANTS[name])
    for cb in callbacks:
        if cb["args"].get("speed_kimg") == "{speed}":
            cb["args"]["speed_kimg"] = args.ada_kimg
    cfg["callbacks"] = callbacks
    return cfg


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--limit", type=int, default=500, help="training images (MNIST-5k train)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--ada-kimg", type=float, default=10.0, help="ADA's speed_kimg")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_plugins([])
    variants = []
    for name in args.variants:
        needed = [cb["name"] for cb in VARIANTS[name]]
        missing = [n for n in needed if n not in CALLBACKS.list()]
        if missing:
            print(f"note: skipped {name!r}: callback {', '.join(missing)} is not registered")
        else:
            variants.append(name)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in variants:
            runs = []
            for seed in args.seeds:
                cfg = variant_config(name, seed, args, f"{tmp}/{name}-{seed}")
                start = time.perf_counter()
                result = run(config.config_from_dict(cfg, name), stream=open("/dev/null", "w"))
                seconds = time.perf_counter() - start
                g = result.trainer.generator
                score = digits_score(g, 1000, seed=1234, judge="mnist")
                covered = sum(c >= 50 for c in score.counts)
                extra = ""
                ada = result.trainer.callbacks.get("ada")
                if ada is not None:
                    extra = f" final p {float(ada.p):.3f}"
                print(
                    f"{name:<12} seed {seed}: score {score.score:.3f} coverage {covered}/10 "
                    f"counts {list(score.counts)} {seconds:.0f} s{extra}",
                    flush=True,
                )
                runs.append(
                    {
                        "seed": seed,
                        "score": score.score,
                        "coverage": covered,
                        "counts": list(score.counts),
                        "seconds": seconds,
                    }
                )
            rows[name] = runs
    print(
        f"\nDCGAN, {args.limit} MNIST images at 32x32, {args.steps} steps of batch {args.batch}, "
        f"seeds {args.seeds}; digit score (judge mnist) and coverage, median over seeds"
    )
    print(f"{'variant':<12} {'score':>6} {'coverage':>9}  {'per seed':<24} {'s/run':>6}")
    for name, runs in rows.items():
        med = statistics.median(r["score"] for r in runs)
        cov = statistics.median(r["coverage"] for r in runs)
        seeds = " ".join(f"{r['score']:.2f}" for r in runs)
        secs = statistics.median(r["seconds"] for r in runs)
        print(f"{name:<12} {med:>6.2f} {cov:>7g}/10  {seeds:<24} {secs:>6.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
