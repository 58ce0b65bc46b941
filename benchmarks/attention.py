"""Forward+backward time and peak memory of SAGAN self-attention: ours vs torchgan's.

Layers, each on ``x = randn(batch, C, S, S, requires_grad=True)`` followed by
``layer(x).sum().backward()``:

* ``torchgan``: ``torchgan.layers.SelfAttention2d(C)`` (0.1.0: full N x N map, ``bmm`` + softmax);
* ``ours``: ``torchgan_ext.layers.SelfAttention2d(C)`` as used in the models (2x2-pooled keys and
  values, value bottleneck C/2, output conv, spectral norm, ``scaled_dot_product_attention``);
* ``ours_nopool``: the same without pooling (N keys, like torchgan's), to separate the effect of
  the fused kernel from the 4x fewer keys.

Time: median of ``--repeats`` measurements after one warm-up, the layers interleaved within each
repeat (so load from other processes hits all of them alike).

Peak memory:

* CPU: the peak of live tensor bytes during forward+backward, taken from the PyTorch profiler's
  allocator events (``profile_memory=True``: every CPU tensor allocation and free with the
  running "Total Allocated"), i.e. the CPU analogue of ``torch.cuda.max_memory_allocated``.
  Memory the layer holds before the pass (weights, the input) is not counted; what the pass
  allocates (activations saved for backward, temporaries, kernel scratch tensors, gradients) is.
  ``--rss`` adds a cross-check that does not rely on the profiler (Linux only): each layer runs
  in a fresh subprocess, the kernel's peak-RSS mark is reset right before the pass, and the
  rise of the peak resident set size over the resident size before the pass is reported
  (includes allocator slack and freed-but-kept pages, so it is coarser).
* CUDA (when available, or ``--device cuda``): ``torch.cuda.max_memory_allocated`` minus the
  memory allocated before the pass.

Ratios are ``torchgan / ours`` (higher is better for ours). Goals at 64x64: >= 2x faster and
>= 4x less peak memory.

    python benchmarks/attention.py [--sizes 16 32 64] [--channels 64] [--batch 8]
        [--repeats 5] [--device cpu|cuda] [--threads N] [--rss]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import torch
from torch import nn

LAYERS = ("torchgan", "ours", "ours_nopool")


def make_layer(name: str, channels: int) -> nn.Module:
    """A freshly initialised layer by benchmark name."""
    if name == "torchgan":
        from torchgan.layers import SelfAttention2d

        return SelfAttention2d(channels)
    from torchgan_ext.layers import SelfAttention2d as Ours

    return Ours(channels, pool=(name == "ours"))


def _step(layer: nn.Module, x: torch.Tensor) -> None:
    layer.zero_grad(set_to_none=True)
    x.grad = None
    layer(x).sum().backward()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_once(layer: nn.Module, x: torch.Tensor) -> float:
    _sync(x.device)
    start = time.perf_counter()
    _step(layer, x)
    _sync(x.device)
    return time.perf_counter() - start


def cpu_peak_bytes(layer: nn.Module, x: torch.Tensor) -> int:
    """Peak live CPU tensor bytes allocated during one forward+backward (profiler events)."""
    from torch.profiler import ProfilerActivity, profile

    layer.zero_grad(set_to_none=True)
    x.grad = None
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        layer(x).sum().backward()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        with open(path, encoding="utf-8") as f:
            events = json.load(f)["traceEvents"]
    totals = [
        e["args"]["Total Allocated"]
        for e in events
        if e.get("name") == "[memory]" and e.get("args", {}).get("Device Type") == 0
    ]
    if not totals:
        raise RuntimeError("the profiler recorded no CPU allocations")
    return max(0, max(totals))


def cuda_peak_bytes(layer: nn.Module, x: torch.Tensor) -> int:
    layer.zero_grad(set_to_none=True)
    x.grad = None
    torch.cuda.synchronize(x.device)
    torch.cuda.reset_peak_memory_stats(x.device)
    before = torch.cuda.memory_allocated(x.device)
    layer(x).sum().backward()
    torch.cuda.synchronize(x.device)
    return torch.cuda.max_memory_allocated(x.device) - before


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _rss_child(name: str, channels: int, batch: int, size: int) -> None:
    """Run in a fresh process: print how far one pass lifts the peak RSS (bytes).

    The kernel's peak-RSS mark (``VmHWM``) is reset just before the pass (``clear_refs`` 5,
    Linux >= 4.0), so the result is ``VmHWM after - VmRSS before``.
    """
    torch.manual_seed(0)
    layer = make_layer(name, channels)
    x = torch.randn(batch, channels, size, size, requires_grad=True)
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")
    before = _status_kib("VmRSS")
    _step(layer, x)
    print((_status_kib("VmHWM") - before) * 1024)


def rss_peak_bytes(name: str, channels: int, batch: int, size: int) -> int:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--rss-child",
            name,
            "--channels",
            str(channels),
            "--batch",
            str(batch),
            "--sizes",
            str(size),
            *(["--threads", str(torch.get_num_threads())]),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def _mib(n: float) -> str:
    return f"{n / 2**20:9.1f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:6.2f}x" if b > 0 else "   inf"


def run(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    threads = torch.get_num_threads()
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{threads} threads"
    print(
        f"device {device} ({where})"
        f", torch {torch.__version__}, C={args.channels}, batch {args.batch}, "
        f"median of {args.repeats} (after 1 warm-up)"
    )
    peak_fn: Callable[[nn.Module, torch.Tensor], int] = (
        cuda_peak_bytes if device.type == "cuda" else cpu_peak_bytes
    )
    peak_name = "max_memory_allocated" if device.type == "cuda" else "profiler peak live bytes"
    header = f"{'map':>7} {'layer':>12} {'fwd+bwd ms':>11} {'peak MiB':>9}"
    if args.rss:
        header += f" {'RSS MiB':>9}"
    print(header + f"   (peak: {peak_name})")
    summary = []
    for size in args.sizes:
        torch.manual_seed(0)
        layers = {n: make_layer(n, args.channels).to(device) for n in LAYERS}
        x = torch.randn(args.batch, args.channels, size, size, device=device, requires_grad=True)
        times: dict[str, list[float]] = {n: [] for n in LAYERS}
        for n in LAYERS:
            time_once(layers[n], x)  # warm-up
        for _ in range(args.repeats):
            for n in LAYERS:
                times[n].append(time_once(layers[n], x))
        med = {n: statistics.median(t) for n, t in times.items()}
        peak = {n: peak_fn(layers[n], x) for n in LAYERS}
        rss = {}
        if args.rss and device.type == "cpu":
            rss = {n: rss_peak_bytes(n, args.channels, args.batch, size) for n in LAYERS}
        for n in LAYERS:
            line = f"{size:>3}x{size:<3} {n:>12} {med[n] * 1e3:11.2f} {_mib(peak[n])}"
            if rss:
                line += f" {_mib(rss[n])}"
            print(line)
        summary.append((size, med, peak, rss))
    print("\nratios torchgan / ours (time: x faster, memory: x less)")
    for size, med, peak, rss in summary:
        line = (
            f"{size:>3}x{size:<3} time {_ratio(med['torchgan'], med['ours'])}  "
            f"peak {_ratio(peak['torchgan'], peak['ours'])}   |  without pooling: time "
            f"{_ratio(med['torchgan'], med['ours_nopool'])}  peak "
            f"{_ratio(peak['torchgan'], peak['ours_nopool'])}"
        )
        if rss:
            line += f"  |  RSS peak {_ratio(rss['torchgan'], rss['ours'])}"
        print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--rss", action="store_true", help="add the subprocess RSS cross-check")
    parser.add_argument("--rss-child", choices=LAYERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.rss_child:
        _rss_child(args.rss_child, args.channels, args.batch, args.sizes[0])
        return
    run(args)


if __name__ == "__main__":
    main()
