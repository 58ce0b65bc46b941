"""``torchgan-run``: train a GAN from one YAML file (or evaluate or sample a trained run).

Exit codes: 0 success, also after a stop by SIGINT/SIGTERM with a checkpoint of the stop step;
2 configuration or usage error (one line, no traceback unless ``--traceback``); 1 failure during
the run; 130 interrupted (a second SIGINT).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import traceback
import warnings
from collections.abc import Sequence
from importlib import resources
from typing import Any

import yaml

from . import commands
from ._plugins import load_plugins
from ._registry import REGISTRIES
from .build import validate_names
from .config import check_device, dump_config, load_config, read_text
from .errors import ConfigError, TorchganExtError

__all__ = ["main", "build_parser", "embedded_quickstart"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def embedded_quickstart() -> dict[str, Any]:
    """The embedded default config (same content as ``configs/quickstart.yaml``)."""
    text = resources.files("torchgan_ext").joinpath("quickstart.yaml").read_text("utf-8")
    return yaml.safe_load(text)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + exits 2; keep it one line
        raise ConfigError(f"{message} (see torchgan-run --help)", file="command line")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="torchgan-run",
        description="Train a torchgan GAN from a YAML config. Without CONFIG, runs the "
        "embedded quickstart (a small DCGAN on bundled digit images, CPU-fast).",
    )
    p.add_argument("config", nargs="?", help="YAML config file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a dotted config key with a YAML value (repeatable)",
    )
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (overrides the config)")
    p.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in out_dir"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in an out_dir that already holds one",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument(
        "--evaluate",
        nargs="?",
        const="",
        default=None,
        metavar="CHECKPOINT",
        help="run the config's metrics on the run's newest checkpoint (or CHECKPOINT), print "
        "them and write out_dir/metrics.json",
    )
    commands.add_sample_arguments(p)
    commands.add_folder_arguments(p)
    p.add_argument(
        "--list",
        choices=sorted(REGISTRIES),
        metavar="KIND",
        help=f"print registered names of KIND ({', '.join(sorted(REGISTRIES))})",
    )
    p.add_argument(
        "-p",
        dest="plugins",
        action="append",
        default=[],
        metavar="PLUGIN",
        help="load a plugin module, or block one with no:NAME (repeatable)",
    )
    p.add_argument(
        "--nproc",
        type=int,
        default=None,
        metavar="N",
        help="train data-parallel with N processes on this machine (via torchrun)",
    )
    commands.add_build_cache_argument(p)
    p.add_argument("--traceback", action="store_true", help="show full tracebacks on errors")
    return p


def _child_pids() -> list[int] | None:
    """This process's children (Linux ``/proc``), or ``None`` where they cannot be listed."""
    if not os.path.isdir("/proc/self"):
        return None
    me, children = os.getpid(), []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            children.append(int(entry.name))
    return children


class _ForwardStop:
    """The torchrun launcher's SIGINT/SIGTERM handler: pass the stop on to the ranks.

    torchrun starts each rank in a session of its own, so a signal to the launcher's process
    group does not reach them. The first signal is forwarded as SIGTERM (a rank then finishes
    its step, the ranks agree, rank 0 writes the checkpoint, all exit 0, and so does torchrun);
    a second SIGINT is forwarded as SIGINT (the ranks stop at once).
    """

    def __init__(self) -> None:
        self.count = 0
        self.interrupted = False

    def __call__(self, signum: int, frame: Any) -> None:
        import signal

        self.count += 1
        if self.count == 1:
            forward = signal.SIGTERM
        elif signum == signal.SIGINT:
            forward, self.interrupted = signal.SIGINT, True
        else:
            return  # a repeated SIGTERM: the ranks already stop
        for pid in _child_pids() or ():
            try:
                os.kill(pid, forward)
            except ProcessLookupError:
                pass


def _launch_torchrun(nproc: int, argv: Sequence[str]) -> int:
    """Re-run this command under torchrun with ``nproc`` processes (one per GPU, or CPU/gloo)."""
    import signal

    from torch.distributed.run import main as torchrun_main

    rest: list[str] = []
    it = iter(argv)
    for a in it:
        if a == "--nproc":
            next(it, None)  # drop its value
        elif not a.startswith("--nproc="):
            rest.append(a)
    # torchrun's agent turns SIGTERM/SIGINT into a failed job (exit 1) after killing the ranks
    # with a 30 s grace; here the launcher forwards them instead and the ranks end the run
    # normally. Where torchrun has no --signals-to-handle, or children cannot be listed,
    # torchrun keeps its own handling.
    from torch.distributed.run import get_args_parser

    forwarder, previous, options = _ForwardStop(), {}, []
    if "--signals-to-handle" in get_args_parser()._option_string_actions and (
        _child_pids() is not None
    ):
        options = ["--signals-to-handle=SIGHUP,SIGQUIT"]
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, forwarder)
    try:
        torchrun_main(
            [
                "--standalone",
                f"--nproc_per_node={nproc}",
                *options,
                "-m",
                "torchgan_ext.cli",
                *rest,
            ]
        )
    except Exception as e:  # noqa: BLE001 - torchrun reports the failed rank's error itself
        if forwarder.interrupted:
            print("torchgan-run: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(f"torchgan-run: error: distributed run failed: {type(e).__name__}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def _check_flags(args: argparse.Namespace) -> None:
    """Flags that contradict each other or take no such value (one line each, exit 2)."""
    if args.resume and args.overwrite:
        raise ConfigError(
            "--resume and --overwrite cannot be combined: --resume continues the run in "
            "out_dir, --overwrite starts it again from step 0; pass one of them",
            file="command line",
        )
    if args.nproc is not None and args.nproc < 1:
        raise ConfigError(f"--nproc must be >= 1, got {args.nproc}", file="command line")
    commands.check_build_cache_flags(args)
    if args.evaluate is not None and (args.resume or args.overwrite):
        flag = "--resume" if args.resume else "--overwrite"
        raise ConfigError(
            f"--evaluate does not train; {flag} has no meaning with it", file="command line"
        )
    commands.check_sample_flags(args)
    commands.check_folder_flags(args)
    for spec in args.plugins:
        if not str(spec).strip() or str(spec).strip() == "no:":
            raise ConfigError(
                f"-p expects a module name or no:NAME, got {spec!r}", file="command line"
            )


def _spool_config(path: str, text: str) -> str:
    """A regular file with ``text`` for the processes torchrun starts (a pipe such as
    ``<(...)`` can be read only once, and it was read here)."""
    if os.path.isfile(path):
        return path
    fd, spooled = tempfile.mkstemp(prefix="torchgan-run-", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return spooled


def _main(args: argparse.Namespace, argv: Sequence[str] = ()) -> int:
    _check_flags(args)
    if args.list:
        plugins = list(args.plugins)
        if args.config is not None or args.overrides:  # plugins: of the config / --set
            data = None if args.config is not None else embedded_quickstart()
            plugins += load_config(args.config, args.overrides, data=data).plugins
        load_plugins(plugins)
        for name in REGISTRIES[args.list].list():
            print(name)
        return EXIT_OK

    if args.evaluate_folders is not None:
        return commands.run_evaluate_folders(args)

    if args.config is None and str(args.evaluate or "").endswith((".yaml", ".yml")):
        args.config, args.evaluate = args.evaluate, ""  # `--evaluate CONFIG.yaml`
    if args.config is None and args.sample and args.sample[-1].endswith((".yaml", ".yml")):
        args.config = args.sample.pop()  # `--sample N CONFIG.yaml`
    # the schema first: pure Python, every mistake of the file at once, before torch loads;
    # the file is read exactly once (a pipe or <(...) cannot be read twice)
    if args.config is not None:
        text = read_text(args.config)
        config = load_config(args.config, args.overrides, text=text)
    else:
        config = load_config(None, args.overrides, data=embedded_quickstart())
    if args.nproc is not None and args.nproc > 1 and "LOCAL_RANK" not in os.environ:
        if args.config is not None:  # the ranks read a regular file, not the consumed pipe
            spooled = _spool_config(args.config, text)
            argv = [spooled if a == args.config else a for a in argv]
        return _launch_torchrun(args.nproc, argv)
    if args.device:
        from dataclasses import replace

        config = replace(config, device=check_device(args.device, "--device"))
    # then names and arguments, against the plugins' registries
    try:
        load_plugins([*args.plugins, *config.plugins])
    except ConfigError as e:  # a plugin named by --set plugins=... names that flag
        if any(k == "plugins" or k.startswith("plugins.") for k in config.overrides):
            e.with_context(file="--set plugins")
        raise
    if args.print_config:  # a run or --evaluate checks the names itself, once
        validate_names(config)
        sys.stdout.write(dump_config(config))
        return EXIT_OK
    if args.build_cache:
        return commands.run_build_cache(config)
    if args.evaluate is not None:
        from .evaluate import evaluate_command

        return evaluate_command(config, args.evaluate or None)
    if args.sample is not None:
        return commands.run_sample(config, args)

    from .runner import run
    from .trainer.preemption import StopRequest

    # a stop signal while the run starts is kept: training stops after its first step
    stop = StopRequest()
    stop.install()
    try:
        result = run(config, resume=args.resume, overwrite=args.overwrite)
    finally:
        stop.uninstall()
    if int(os.environ.get("RANK", "0")) != 0:
        return EXIT_OK
    print(f"done: {result.position}; checkpoint {result.checkpoint}")
    if result.metrics:  # the final evaluation (all values: out_dir/metrics.jsonl)
        values = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        print(f"metrics (step {result.metrics_step}): {values}")
    return EXIT_OK


_WORKER = re.compile(r"Caught (\w+) in DataLoader worker process (\d+)")


def one_line(e: BaseException) -> str:
    """One line for an error of the run: ``Type: message`` (first line), and for an error
    re-raised from a DataLoader worker (a 30-line traceback in its message) the worker's own
    error line, which names the file."""
    text = str(e).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    match = _WORKER.search(text)
    if match and "Original Traceback" in text:
        last = lines[-1] if lines else match.group(1)
        return f"reading the data failed in DataLoader worker {match.group(2)}: {last}"
    if isinstance(e, TorchganExtError):
        return lines[0] if lines else type(e).__name__
    if isinstance(e, RecursionError):
        return "RecursionError: input nested too deeply"
    first = lines[0] if lines else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def format_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings in one line each.

    Installed as ``warnings.formatwarning`` (not ``showwarning``, so recording warnings, as
    ``pytest.warns`` does, keeps working)."""
    text = str(message).strip()
    text = text.splitlines()[0] if text else category.__name__
    return f"torchgan-run: warning: {text}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``torchgan-run``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in argv
    previous_format = warnings.formatwarning
    if not show_traceback:
        warnings.formatwarning = format_warning
    try:
        return _run_main(argv, show_traceback)
    finally:
        warnings.formatwarning = previous_format


def _run_main(argv: list[str], show_traceback: bool) -> int:
    try:
        args = build_parser().parse_args(argv)
        return _main(args, argv)
    except ConfigError as e:
        if show_traceback:
            traceback.print_exc()
        for line in str(e).splitlines():  # several schema errors: one line each
            print(f"torchgan-run: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except RecursionError:
        if show_traceback:
            traceback.print_exc()
        print(
            "torchgan-run: error: the input is nested too deeply (a config needs only a few "
            "levels of lists and mappings)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("torchgan-run: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except TorchganExtError as e:
        if show_traceback:
            traceback.print_exc()
        print(f"torchgan-run: error: {one_line(e)}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as e:  # noqa: BLE001 - top level: any failure -> one line, exit 1
        if show_traceback:
            traceback.print_exc()
        else:
            print(
                f"torchgan-run: error: {one_line(e)} (run again with --traceback for the full "
                "traceback)",
                file=sys.stderr,
            )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
