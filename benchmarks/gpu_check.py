"""One prepared GPU check: everything this project measures on a GPU, in one run, one JSON.

Sections (each timed; one that fails is recorded with its error and the others still run):

1. ``tests``: the CUDA-marked tests (``pytest -m cuda``);
2. ``families``: every model family's images/s in fp32 / bf16 / bf16 + channels_last / + compile
   (``benchmarks/run_all.py``'s machinery, synthetic data of the paper shapes);
3. ``decode``: CelebA-format JPEGs (178x218 -> 128 px) to a float batch on the device: CPU
   decoding in loader workers, nvJPEG decoding (``data.decode: cuda``) and the decoded cache
   (``data.cache``), images/s of each;
4. ``starved``: DCGAN 64 px training fed from the decoded cache against the same training on
   in-memory synthetic data: the ratio says whether the loader starves the GPU;
5. ``ddp``: 2-process NCCL data-parallel scaling of DCGAN, when two GPUs exist.

Budget: about 8 minutes on one GPU (``--budget`` seconds; a section that would start past it is
skipped and says so). ``--dry-run`` runs the non-CUDA parts on the CPU at toy sizes (tested in
``tests/test_gpu_check.py``).

    python benchmarks/gpu_check.py                # on a GPU machine
    python benchmarks/gpu_check.py --dry-run --json /tmp/gpu_check.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import run_all  # noqa: E402

from torchgan_ext import build_trainer, config  # noqa: E402


def section_tests(opts: argparse.Namespace) -> dict[str, Any]:
    """The CUDA-marked tests, in a subprocess."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "tests"]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=opts.test_timeout, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return {"returncode": proc.returncode, "summary": lines[-1] if lines else proc.stderr[-500:]}


def section_families(opts: argparse.Namespace) -> dict[str, Any]:
    """Images/s per family and mode; families left when ``--families-budget`` is spent are
    listed as skipped (compile alone can take a minute per family)."""
    modes = ["fp32", "bf16+cl"] if opts.dry_run else ["fp32", "bf16", "bf16+cl", "bf16+cl+compile"]
    rows, skipped, start = [], [], time.perf_counter()
    for family in opts.families:
        if time.perf_counter() - start > opts.families_budget:
            skipped.append(family)
            continue
        rows += run_all.measure(
            [family],
            modes,
            opts.device,
            opts.steps,
            opts.warmup,
            batch=opts.batch,
            log=lambda line: print(line, flush=True),
        )
    return {"rows": rows, "skipped (budget)": skipped}


def _fake_celeba(tmp: str, n: int) -> Any:
    from data_loading import _photos, make_draw

    from torchgan_ext.testing import write_celeba

    photos, _ = _photos()
    return write_celeba(tmp, n, size=(218, 178), draw=make_draw(photos), seed=0)


def _rate(loader: Any, device: torch.device, passes: int) -> float:
    """Images/s of passes over ``loader`` with each batch made a float batch on ``device``."""
    from torchgan_ext.trainer.batch import prepare_batch

    rates = []
    for p in range(passes + 1):
        seen, start = 0, time.perf_counter()
        for batch in loader:
            images = prepare_batch(batch, device, non_blocking=True)[0]
            seen += len(images)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if p:  # the first pass starts workers and warms caches
            rates.append(seen / (time.perf_counter() - start))
    return statistics.median(rates)


def section_decode(opts: argparse.Namespace) -> dict[str, Any]:
    from torch.utils.data import DataLoader

    from torchgan_ext.data import CacheLoader, CelebA, DecodedCache, collate
    from torchgan_ext.data.cache_store import build_cache
    from torchgan_ext.data.jpeg_batches import JpegFiles, cuda_jpeg_unavailable

    device, out = opts.device, {}
    workers = 0 if opts.dry_run else min(8, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        fake = _fake_celeba(tmp, opts.images)
        ds = CelebA(fake.root, split="all", image_size=opts.size, output="uint8")

        def loader(dataset: Any, w: int) -> DataLoader:
            kw = {"persistent_workers": True} if w else {}
            pin = device.type == "cuda"
            # the decoded cache as torchgan-run reads it
            cls = CacheLoader if isinstance(dataset, DecodedCache) else DataLoader
            return cls(
                dataset, batch_size=opts.batch_data, num_workers=w, collate_fn=collate,
                pin_memory=pin, shuffle=True, **kw,
            )  # fmt: skip

        out[f"cpu decode, {workers} workers"] = _rate(loader(ds, workers), device, opts.passes)
        reason = cuda_jpeg_unavailable(device)
        if reason is None or opts.dry_run:
            # the dry run decodes "on the device" on the CPU: the same code path
            name = f"{device.type} decode (data.decode: cuda), {min(workers, 4)} workers"
            out[name] = _rate(loader(JpegFiles(ds), min(workers, 4)), device, opts.passes)
        else:
            out["gpu decode"] = f"unavailable: {reason}"
        start = time.perf_counter()
        info = build_cache(ds.cache_plan(), Path(tmp) / "cache", workers=workers)
        out["cache build us/image"] = (time.perf_counter() - start) / info.items * 1e6
        cached = DecodedCache(ds, Path(tmp) / "cache")
        out["cached, 0 workers"] = _rate(loader(cached, 0), device, opts.passes)
    return {"images": opts.images, "size": opts.size, "images_per_s": out}


def _dcgan_config(tmp: str, data: dict | None, steps: int, batch: int, device: str) -> dict:
    cfg, _ = run_all.family_config(
        "dcgan", run_all.MODES["bf16+cl"], batch, 10**9, steps, os.path.join(tmp, "run"), ""
    )
    cfg["device"] = device
    if data is not None:
        cfg["data"] = data
    return cfg


def section_starved(opts: argparse.Namespace) -> dict[str, Any]:
    run_all.load_plugins(["torchgan_ext.testing.synthetic"])
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        fake = _fake_celeba(tmp, opts.images)
        cached = {
            "name": "celeba",
            "args": {"root": str(fake.root), "split": "all", "image_size": 64},
            "loader": {"batch_size": opts.batch_train, "num_workers": 0},
            "cache": {"dir": os.path.join(tmp, "cache")},
        }
        steps = opts.warmup + opts.train_steps + 1
        for name, data in (("synthetic (in memory)", None), ("decoded cache", cached)):
            cfg = _dcgan_config(tmp, data, steps, opts.batch_train, str(opts.device))
            cfg["trainer"]["epochs"] = 10**6
            trainer, loader = build_trainer(config.config_from_dict(cfg, "gpu_check"))
            per_iter = statistics.median(run_all.time_trainer(trainer, loader, opts.warmup))
            out[name] = opts.batch_train / per_iter
    ratio = out["decoded cache"] / out["synthetic (in memory)"]
    return {"images_per_s": out, "cache / synthetic": ratio, "starved": ratio < 0.9}


DDP_SCRIPT = textwrap.dedent(
    """
    import json, os, statistics, sys
    sys.path.insert(0, sys.argv[1])
    import run_all
    from torchgan_ext import build_trainer, config
    run_all.load_plugins(["torchgan_ext.testing.synthetic"])
    steps, batch, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    cfg, _ = run_all.family_config("dcgan", run_all.MODES["bf16+cl"], batch, 10**9, steps + 3,
                                   os.path.join(out, "run"), "")
    cfg["device"] = "cuda"
    trainer, loader = build_trainer(config.config_from_dict(cfg, "ddp"))
    per_iter = statistics.median(run_all.time_trainer(trainer, loader, 2))
    if int(os.environ.get("RANK", "0")) == 0:
        with open(os.path.join(out, "ddp.json"), "w") as f:
            json.dump({"per_iter": per_iter, "world": int(os.environ.get("WORLD_SIZE", "1"))}, f)
    """
)


def section_ddp(opts: argparse.Namespace) -> dict[str, Any]:
    if opts.device.type != "cuda" or torch.cuda.device_count() < 2:
        return {"skipped": f"{torch.cuda.device_count()} GPU(s); the scaling needs 2"}
    from torchgan_ext.testing.processes import torchrun

    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "ddp.py"
        script.write_text(DDP_SCRIPT)
        for n in (1, 2):
            args = (ROOT / "benchmarks", str(opts.train_steps), str(opts.batch_train), tmp)
            proc = torchrun(script, *args, nproc=n, timeout=240)
            if proc.returncode:
                return {"error": proc.stderr[-1500:]}
            times[n] = json.loads((Path(tmp) / "ddp.json").read_text())["per_iter"]
    one, two = opts.batch_train / times[1], 2 * opts.batch_train / times[2]
    return {"images_per_s": {"1 GPU": one, "2 GPUs": two}, "scaling": two / one}


SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "tests": section_tests,
    "families": section_families,
    "decode": section_decode,
    "starved": section_starved,
    "ddp": section_ddp,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="CPU, toy sizes, no CUDA parts")
    p.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    p.add_argument("--budget", type=float, default=450.0, help="seconds; later sections skip")
    p.add_argument("--json", default=None, help="default benchmarks/results/gpu_check_<dev>.json")
    p.add_argument("--families", nargs="+", default=list(run_all.FAMILIES))
    p.add_argument("--families-budget", type=float, default=220.0, help="seconds")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=None, help="family batch (default: paper's)")
    p.add_argument("--images", type=int, default=2048)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--batch-data", type=int, default=128)
    p.add_argument("--batch-train", type=int, default=128)
    p.add_argument("--train-steps", type=int, default=30)
    p.add_argument("--test-timeout", type=float, default=180.0)
    opts = p.parse_args(argv)
    if opts.dry_run:
        opts.device = torch.device("cpu")
        opts.sections = [s for s in opts.sections if s != "tests"]
        opts.families, opts.steps, opts.warmup, opts.batch = ["dcgan"], 1, 1, 2
        opts.images, opts.size, opts.passes = 48, 32, 1
        opts.batch_data, opts.batch_train, opts.train_steps = 8, 4, 2
    else:
        opts.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return opts


def main(argv: list[str] | None = None) -> dict[str, Any]:
    opts = parse(argv)
    torch.backends.cudnn.benchmark = opts.device.type == "cuda"
    start = time.perf_counter()
    report: dict[str, Any] = {
        "device": str(opts.device),
        "device_name": (
            torch.cuda.get_device_name(opts.device)
            if opts.device.type == "cuda"
            else platform.processor() or "cpu"
        ),
        "gpus": torch.cuda.device_count(),
        "torch": torch.__version__,
        "dry_run": opts.dry_run,
        "sections": {},
    }
    for name in opts.sections:
        elapsed = time.perf_counter() - start
        if elapsed > opts.budget:
            report["sections"][name] = {"skipped": f"over the budget after {elapsed:.0f} s"}
            continue
        print(f"== {name} ({elapsed:.0f} s so far)", flush=True)
        t0 = time.perf_counter()
        try:
            result = SECTIONS[name](opts)
        except Exception as e:  # noqa: BLE001 - a failed section is recorded, the rest runs
            result = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        result["seconds"] = time.perf_counter() - t0
        report["sections"][name] = result
        print(json.dumps({k: v for k, v in result.items() if k != "traceback"}, default=str))
    report["seconds"] = time.perf_counter() - start
    out = Path(opts.json or ROOT / "benchmarks" / "results" / f"gpu_check_{opts.device.type}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"written {out} ({report['seconds']:.0f} s)")
    return report


if __name__ == "__main__":
    main()
