"""The flags of ``torchgan-run``'s commands besides training: ``--sample``, ``--evaluate-folders``
and ``--build-cache`` (their arguments, their checks and the call of the code they drive).

:mod:`torchgan_ext.cli` parses the command line and routes; the work itself is in
:func:`torchgan_ext.sampling.sample_command`,
:func:`torchgan_ext.folder_evaluation.evaluate_folders_command` and
:func:`torchgan_ext.loaders.build_cache_command`, imported only when the command runs (the
checks here load no torch).
"""

from __future__ import annotations

import argparse

from ._plugins import load_plugins
from .config import Config, check_device
from .errors import ConfigError

__all__ = [
    "add_build_cache_argument",
    "add_folder_arguments",
    "add_sample_arguments",
    "check_build_cache_flags",
    "check_folder_flags",
    "check_sample_flags",
    "run_build_cache",
    "run_evaluate_folders",
    "run_sample",
]


def add_sample_arguments(p: argparse.ArgumentParser) -> None:
    """``--sample N [CHECKPOINT]`` and the flags that apply to it only."""
    p.add_argument(
        "--sample",
        nargs="+",
        default=None,
        metavar=("N", "CHECKPOINT"),
        help="write N PNG images of the generator of the run's newest checkpoint (or "
        "CHECKPOINT), EMA weights where kept, into out_dir/generated (no training data needed)",
    )
    p.add_argument(
        "--raw", action="store_true", help="--sample: the trained weights instead of the EMA"
    )
    p.add_argument(
        "--classes",
        metavar="K,K",
        help="--sample: class indices of a class-conditional generator (default all; N each, "
        "one folder per class)",
    )
    p.add_argument(
        "--target",
        dest="targets",
        action="append",
        default=None,
        metavar="ATTR,ATTR",
        help="--sample: a target attribute set of a StarGAN-like generator (repeatable; "
        "default one per attribute)",
    )
    p.add_argument(
        "--input",
        metavar="DIR",
        help="--sample: the images a super-resolution or translation generator takes",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="--sample: seed of the noise (default: seed:)"
    )
    p.add_argument(
        "--truncation",
        type=float,
        default=None,
        metavar="PSI",
        help="--sample: truncation psi of a generator with truncation_psi (StyleGAN2; 1: none, "
        "0: the average image)",
    )


def add_folder_arguments(p: argparse.ArgumentParser) -> None:
    """``--evaluate-folders REAL GENERATED`` and its ``--metrics``."""
    p.add_argument(
        "--evaluate-folders",
        nargs=2,
        default=None,
        metavar=("REAL", "GENERATED"),
        help="score the images of folder GENERATED against folder REAL with --metrics (no "
        "config); prints a table and the JSON",
    )
    p.add_argument(
        "--metrics",
        default=None,
        metavar="NAMES",
        help="--evaluate-folders: metric names (fid,kid,inception_score; default fid) or a YAML "
        "list of {name, args}",
    )


def add_build_cache_argument(p: argparse.ArgumentParser) -> None:
    """``--build-cache``."""
    p.add_argument(
        "--build-cache",
        action="store_true",
        help="build (or check) the decoded dataset cache of data.cache and exit",
    )


def check_build_cache_flags(args: argparse.Namespace) -> None:
    """``--build-cache`` with a flag of another command: one line (exit 2)."""
    if args.build_cache and (args.evaluate is not None or args.resume or args.nproc):
        raise ConfigError(
            "--build-cache only builds the dataset cache; run training afterwards without it",
            file="command line",
        )


def check_sample_flags(args: argparse.Namespace) -> None:
    """``--sample`` with a contradicting flag, or a ``--sample``-only flag without it."""
    if args.sample is not None and (args.evaluate is not None or args.resume):
        flag = "--evaluate" if args.evaluate is not None else "--resume"
        raise ConfigError(f"--sample cannot be combined with {flag}", file="command line")
    if args.sample is None:
        for flag, value in (
            ("--raw", args.raw or None),
            ("--classes", args.classes),
            ("--target", args.targets),
            ("--input", args.input),
            ("--seed", args.seed),
            ("--truncation", args.truncation),
        ):
            if value is not None:
                raise ConfigError(
                    f"{flag} applies to --sample N [CHECKPOINT] only", file="command line"
                )


def check_folder_flags(args: argparse.Namespace) -> None:
    """``--evaluate-folders`` takes no config; ``--metrics`` applies to it only."""
    if args.evaluate_folders is not None:
        for flag, value in (
            ("CONFIG", args.config),
            ("--set", args.overrides or None),
            ("--evaluate", args.evaluate),
            ("--sample", args.sample),
            ("--resume", args.resume or None),
            ("--overwrite", args.overwrite or None),
            ("--nproc", args.nproc),
            ("--list", args.list),
        ):
            if value is not None:
                raise ConfigError(
                    f"--evaluate-folders takes no config; {flag} has no meaning with it",
                    file="command line",
                )
    elif args.metrics is not None:
        raise ConfigError(
            "--metrics applies to --evaluate-folders only (a config lists its metrics: under "
            "metrics:)",
            file="command line",
        )


def run_evaluate_folders(args: argparse.Namespace) -> int:
    """``--evaluate-folders REAL GENERATED``: load the ``-p`` plugins and score; exit code."""
    from .folder_evaluation import evaluate_folders_command

    load_plugins(list(args.plugins))
    real, generated = args.evaluate_folders
    device = check_device(args.device, "--device") if args.device else None
    return evaluate_folders_command(real, generated, args.metrics or "fid", device=device)


def run_sample(config: Config, args: argparse.Namespace) -> int:
    """``--sample N [CHECKPOINT]`` of the run of ``config``; returns the exit code."""
    from .sampling import sample_command

    return sample_command(
        config,
        args.sample,
        raw=args.raw,
        classes=args.classes,
        targets=args.targets,
        inputs=args.input,
        seed=args.seed,
        truncation=args.truncation,
        overwrite=args.overwrite,
    )


def run_build_cache(config: Config) -> int:
    """``--build-cache``: build or check the dataset caches of ``config``; exit code."""
    from .loaders import build_cache_command

    return build_cache_command(config)
