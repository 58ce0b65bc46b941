"""Corpus of bad inputs on the whole path from file to first step, grouped by class.

Every case goes through the command line (``torchgan_ext.cli.main`` in-process) and asserts the
exit code (2: configuration/usage, found before training; 1: failure during the run), exactly
one line per error, the key or flag it names and the hint. ``docs/reliability.md`` ("Bad
inputs") quotes the counts of this file.
"""

from __future__ import annotations

import copy
import os
import sys
import threading

import pytest
import torch
import yaml

from torchgan_ext import cli
from torchgan_ext.cli import main
from torchgan_ext.testing import set_dotted, tiny_config
from torchgan_ext.testing.datasets import write_image_folder

G = "models.generator"
D = "models.discriminator"
GOPT = f"{G}.optimizer"
GS = f"{G}.scheduler"


# ------------------------------------------------------------------------------------------
# edits of the tiny config: each takes (config dict, tmp_path) and returns a dict or YAML text
# ------------------------------------------------------------------------------------------
def S(path, value):
    """Set a dotted key (lists are indexed by number)."""

    return lambda cfg, tmp: set_dotted(cfg, path, value)


def RAW(text):
    return lambda cfg, tmp: text


def TEXT(old, new):
    """Replace text in the YAML dump of the tiny config (for values YAML would quote)."""

    def edit(cfg, tmp):
        text = yaml.safe_dump(cfg, sort_keys=False)
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def SCHED(name, **args):
    return S(GS, {"name": name, "args": args})


def OPT(name, **args):
    return S(GOPT, {"name": name, "args": args})


def ALL(*edits):
    def edit(cfg, tmp):
        for e in edits:
            cfg = e(cfg, tmp)
        return cfg

    return edit


def _deep(n, open_="[", close="]"):
    return open_ * n + close * n


def _exp(value):
    """ema.decay written as a YAML 1.1 string number (a quoted value in the dump)."""
    return TEXT("sample_size: 4", f"sample_size: 4\n  ema: {{decay: {value}}}")


# (id, edit, argv, exit code, key or flag named, hint fragments[, number of lines])
SCHEMA = [
    (
        "dup-top-key",
        RAW("seed: 1\nseed: 2\n"),
        [],
        2,
        "",
        ["duplicate key 'seed'", "lines 1 and 2"],
    ),
    (
        "dup-nested-key",
        RAW("data:\n  name: digits\nmodels:\n  g:\n    name: a\n    name: b\n"),
        [],
        2,
        "",
        ["duplicate key 'name'", "lines 5 and 6", "remove one"],
    ),
    (
        "dup-flow-key",
        RAW("data: {name: digits, name: mnist}\n"),
        [],
        2,
        "",
        ["duplicate key 'name'", "lines 1 and 1"],
    ),
    (
        "dup-section",
        TEXT("trainer:", "logging: {progress: false}\ntrainer:"),
        [],
        2,
        "",
        ["duplicate key 'logging'"],
    ),
    ("deep-list", RAW("seed: " + _deep(1200) + "\n"), [], 2, "", ["nested too deeply"]),
    (
        "deep-mapping",
        RAW("seed: " + "{a: " * 1200 + "1" + "}" * 1200 + "\n"),
        [],
        2,
        "",
        ["nested too deeply"],
    ),
    ("seed-huge", S("seed", 2**70), [], 2, "seed", ["must be in 0..9223372036854775807"]),
    ("seed-2-64", S("seed", 2**64), [], 2, "seed", ["must be in 0.."]),
    ("seed-negative", S("seed", -1), [], 2, "seed", ["must be >= 0"]),
    ("seed-float", S("seed", 1.5), [], 2, "seed", ["expected an integer"]),
    ("out-dir-empty", S("out_dir", ""), [], 2, "out_dir", ["must not be empty", "runs/run"]),
    ("out-dir-blank", S("out_dir", "   "), [], 2, "out_dir", ["must not be empty"]),
    ("out-dir-null", S("out_dir", None), [], 2, "out_dir", ["expected a string"]),
    ("init-from-empty", S(f"{G}.init_from", ""), [], 2, f"{G}.init_from", ["must not be empty"]),
    ("data-name-empty", S("data.name", ""), [], 2, "data.name", ["must not be empty"]),
    ("yaml11-1e30", _exp("1.0e30"), [], 2, "trainer.ema.decay", ["YAML 1.1", "1.0e+30"]),
    ("yaml11-1e5", _exp("1e5"), [], 2, "trainer.ema.decay", ["1.0e+5"]),
    ("yaml11-1E-5", _exp("1E-5"), [], 2, "trainer.ema.decay", ["1.0e-5"]),
    ("yaml11-neg", _exp("-2e4"), [], 2, "trainer.ema.decay", ["-2.0e+4"]),
    ("yaml11-dot-e", _exp("5.e3"), [], 2, "trainer.ema.decay", ["5.e+3"]),
    ("yaml11-lead-dot", _exp(".5e3"), [], 2, "trainer.ema.decay", [".5e+3"]),
    ("yaml11-plus", _exp("+1e2"), [], 2, "trainer.ema.decay", ["+1.0e+2"]),
    ("yaml11-quoted", _exp("'0.9'"), [], 2, "trainer.ema.decay", ["remove the quotes"]),
    ("yaml11-lr-1e30", TEXT("lr: 0.0002", "lr: 1.0e30"), [], 2, f"{GOPT}.args.lr", ["1.0e+30"]),
    ("yaml11-lr-2e-4", TEXT("lr: 0.0002", "lr: 2e-4"), [], 2, f"{GOPT}.args.lr", ["2.0e-4"]),
    ("ema-decay-big", S("trainer.ema", {"decay": 1.5}), [], 2, "trainer.ema.decay", ["0.0..1.0"]),
    ("ema-every-zero", S("trainer.ema", {"every": 0}), [], 2, "trainer.ema.every", [">= 1"]),
    (
        "keep-ckpt-zero",
        S("trainer.keep_checkpoints", 0),
        [],
        2,
        "trainer.keep_checkpoints",
        [">= 1"],
    ),
    ("sample-size-zero", S("trainer.sample_size", 0), [], 2, "trainer.sample_size", [">= 1"]),
    ("nrow-negative", S("trainer.nrow", -1), [], 2, "trainer.nrow", [">= 1"]),
    ("eval-every-zero", S("trainer.eval_every", 0), [], 2, "trainer.eval_every", [">= 1"]),
    (
        "ckpt-every-zero",
        S("trainer.checkpoint_every", 0),
        [],
        2,
        "trainer.checkpoint_every",
        [">= 1"],
    ),
    ("log-every-zero", S("logging.log_every", 0), [], 2, "logging.log_every", [">= 1"]),
    ("refresh-zero", S("logging.refresh_rate", 0), [], 2, "logging.refresh_rate", [">= 1"]),
    (
        "skips-negative",
        S("trainer.max_nonfinite_skips", -1),
        [],
        2,
        "trainer.max_nonfinite_skips",
        [">= 0"],
    ),
    (
        "nonfinite-bad",
        S("trainer.nonfinite", "ignore"),
        [],
        2,
        "trainer.nonfinite",
        ["valid: skip, stop"],
    ),
    ("precision-bad", S("trainer.precision", "fp16"), [], 2, "trainer.precision", ["not valid"]),
    (
        "prefetch-zero",
        S("data.loader.prefetch_factor", 0),
        [],
        2,
        "data.loader.prefetch_factor",
        [">= 1"],
    ),
    (
        "pin-memory-str",
        S("data.loader.pin_memory", "yes"),
        [],
        2,
        "data.loader.pin_memory",
        ["true or false"],
    ),
    ("val-batch-zero", S("data.val", {"batch_size": 0}), [], 2, "data.val.batch_size", [">= 1"]),
    ("losses-string", S("losses", "minimax"), [], 2, "losses", ["expected a list"]),
    ("loss-no-name", S("losses", [{"args": {}}]), [], 2, "losses.0.name", ["missing required key"]),
    ("metric-string", S("metrics", ["fid"]), [], 2, "metrics.0", ["expected a mapping"]),
    ("model-args-list", S(f"{G}.args", [1]), [], 2, f"{G}.args", ["expected a mapping"]),
    ("trainer-list", S("trainer", [1]), [], 2, "trainer", ["expected a mapping"]),
    (
        "interval-batch",
        S(GS, {"name": "step", "interval": "batch"}),
        [],
        2,
        f"{GS}.interval",
        ["valid: epoch, step"],
    ),
    ("device-cuda-x", S("device", "cuda:x"), [], 2, "device", ["cuda:N"]),
    ("int-key", RAW("1: a\n"), [], 2, "1", ["unknown key 1"], 4),
    (
        "three-errors",
        ALL(S("seed", -1), S("out_dir", ""), S("trainer.epochs", "x")),
        [],
        2,
        "out_dir",
        ["seed:", "trainer.epochs:"],
        3,
    ),
]

NAMES_AND_ARGUMENTS = [
    (
        "betas-one",
        S(f"{GOPT}.args.betas", [0.5]),
        [],
        2,
        f"{GOPT}.args.betas",
        ["list of 2 numbers", "[0.9, 0.999]"],
    ),
    ("betas-float", S(f"{GOPT}.args.betas", 0.5), [], 2, f"{GOPT}.args.betas", ["got float 0.5"]),
    (
        "betas-three",
        S(f"{GOPT}.args.betas", [0.5, 0.9, 0.1]),
        [],
        2,
        f"{GOPT}.args.betas",
        ["got 3"],
    ),
    (
        "betas-string-item",
        S(f"{GOPT}.args.betas", ["a", 0.9]),
        [],
        2,
        f"{GOPT}.args.betas.0",
        ["expected a number"],
    ),
    (
        "betas-out-of-range",
        S(f"{GOPT}.args.betas", [1.5, 0.9]),
        [],
        2,
        f"{GOPT}.args.betas.0",
        ["[0, 1)"],
    ),
    (
        "betas-yaml11",
        S(f"{GOPT}.args.betas", ["9e-1", 0.9]),
        [],
        2,
        f"{GOPT}.args.betas.0",
        ["9.0e-1"],
    ),
    (
        "betas-mapping",
        S(f"{GOPT}.args.betas", {"a": 1}),
        [],
        2,
        f"{GOPT}.args.betas",
        ["got a mapping"],
    ),
    ("adam-eps-negative", OPT("adam", eps=-1.0), [], 2, f"{GOPT}.args.eps", [">= 0"]),
    (
        "adamw-wd-negative",
        OPT("adamw", weight_decay=-0.1),
        [],
        2,
        f"{GOPT}.args.weight_decay",
        [">= 0"],
    ),
    (
        "sgd-momentum-negative",
        OPT("sgd", lr=0.1, momentum=-1.0),
        [],
        2,
        f"{GOPT}.args.momentum",
        [">= 0"],
    ),
    ("rmsprop-alpha-negative", OPT("rmsprop", alpha=-1.0), [], 2, f"{GOPT}.args.alpha", [">= 0"]),
    (
        "optimizer-arg-typo",
        OPT("adam", beta=[0.5, 0.9]),
        [],
        2,
        f"{GOPT}.args.beta",
        ["did you mean 'betas'"],
    ),
    ("lr-string", OPT("adam", lr="fast"), [], 2, f"{GOPT}.args.lr", ["expected a number"]),
    (
        "step-size-zero",
        SCHED("step", step_size=0),
        [],
        2,
        f"{GS}.args.step_size",
        ["integer >= 1", "divide by zero"],
    ),
    (
        "step-size-negative",
        SCHED("step", step_size=-3),
        [],
        2,
        f"{GS}.args.step_size",
        ["integer >= 1"],
    ),
    (
        "step-size-float",
        SCHED("step", step_size=2.5),
        [],
        2,
        f"{GS}.args.step_size",
        ["expected an integer"],
    ),
    (
        "step-size-missing",
        SCHED("step"),
        [],
        2,
        f"{GS}.args",
        ["missing required argument", "'step_size'"],
    ),
    ("step-gamma-zero", SCHED("step", step_size=2, gamma=0), [], 2, f"{GS}.args.gamma", ["> 0"]),
    ("cosine-tmax-zero", SCHED("cosine", T_max=0), [], 2, f"{GS}.args.T_max", ["integer >= 1"]),
    (
        "cosine-tmax-negative",
        SCHED("cosine", T_max=-5),
        [],
        2,
        f"{GS}.args.T_max",
        ["integer >= 1"],
    ),
    (
        "cosine-eta-negative",
        SCHED("cosine", T_max=5, eta_min=-1.0),
        [],
        2,
        f"{GS}.args.eta_min",
        [">= 0"],
    ),
    (
        "multistep-scalar",
        SCHED("multistep", milestones=5),
        [],
        2,
        f"{GS}.args.milestones",
        ["[30, 80]"],
    ),
    (
        "multistep-zero",
        SCHED("multistep", milestones=[0, 10]),
        [],
        2,
        f"{GS}.args.milestones.0",
        ["integer >= 1"],
    ),
    ("exponential-gamma-neg", SCHED("exponential", gamma=-1.0), [], 2, f"{GS}.args.gamma", ["> 0"]),
    (
        "scheduler-arg-typo",
        SCHED("step", step_sizes=3),
        [],
        2,
        f"{GS}.args.step_sizes",
        ["did you mean 'step_size'"],
    ),
    (
        "model-int-float",
        S(f"{G}.args.step_channels", 4.5),
        [],
        2,
        f"{G}.args.step_channels",
        ["expected an integer"],
    ),
    (
        "dataset-quoted-number",
        S("data.args.image_size", "16"),
        [],
        2,
        "data.args.image_size",
        ["remove the quotes"],
    ),
    (
        "unknown-callback",
        S("callbacks", [{"name": "emaa"}]),
        [],
        2,
        "callbacks.0.name",
        ["did you mean 'ema'"],
    ),
    (
        "unknown-val-arg",
        S("data.val", {"args": {"splt": "train"}}),
        [],
        2,
        "data.val.args.splt",
        ["did you mean 'split'"],
    ),
]

CONSTRUCTION = [
    (
        "linear-decay-total-zero",
        SCHED("linear_decay", total=0),
        [],
        2,
        f"{GS}.args.total",
        ["positive integer"],
    ),
    (
        "linear-decay-start",
        SCHED("linear_decay", total=5, start=10),
        [],
        2,
        f"{GS}.args.start",
        ["[0, total=5)"],
    ),
    (
        "linear-decay-factor",
        SCHED("linear_decay", total=5, final_factor=2.0),
        [],
        2,
        f"{GS}.args.final_factor",
        ["[0, 1]"],
    ),
    (
        "callback-twice",
        S("callbacks", [{"name": "checkpoint"}]),
        [],
        2,
        "callbacks.0.name",
        ["already in the run"],
    ),
    (
        "dataset-bad-split",
        S("data.args.split", "training"),
        [],
        2,
        "data.args.split",
        ["did you mean 'train'"],
    ),
    (
        "val-bad-split",
        S("data.val", {"args": {"split": "tst"}}),
        [],
        2,
        "data.val.args.split",
        ["did you mean 'test'"],
    ),
    ("adam-lr-negative", OPT("adam", lr=-1.0), [], 2, f"{GOPT}.args", ["learning rate"]),
]

SET = [  # errors of --set values name `--set KEY` at every stage
    ("set-schema", None, ["--set", "trainer.epochs=0"], 2, "--set trainer.epochs", [">= 1"]),
    ("set-empty-out-dir", None, ["--set", "out_dir="], 2, "--set out_dir", ["expected a string"]),
    (
        "set-empty-string-out-dir",
        None,
        ["--set", 'out_dir=""'],
        2,
        "--set out_dir",
        ["must not be empty"],
    ),
    (
        "set-seed-huge",
        None,
        ["--set", "seed=100000000000000000000"],
        2,
        "--set seed",
        ["0..9223372036854775807"],
    ),
    (
        "set-yaml11",
        None,
        ["--set", "trainer.ema.decay=1.0e30"],
        2,
        "--set trainer.ema.decay",
        ["1.0e+30"],
    ),
    (
        "set-name",
        None,
        ["--set", f"{G}.name=dcgan_genrator"],
        2,
        f"--set {G}.name",
        ["did you mean"],
    ),
    (
        "set-argument",
        None,
        ["--set", f"{G}.args.foo=1"],
        2,
        f"--set {G}.args.foo",
        ["unknown argument"],
    ),
    (
        "set-betas",
        None,
        ["--set", f"{GOPT}.args.betas=[0.5]"],
        2,
        f"--set {GOPT}.args.betas",
        ["list of 2"],
    ),
    (
        "set-scheduler",
        None,
        ["--set", f"{GS}={{name: step, args: {{step_size: 0}}}}"],
        2,
        f"--set {GS}",
        ["integer >= 1"],
    ),
    (
        "set-split",
        None,
        ["--set", "data.args.split=training"],
        2,
        "--set data.args.split",
        ["did you mean 'train'"],
    ),
    (
        "set-batch-too-big",
        None,
        ["--set", "data.loader.batch_size=5000"],
        2,
        "--set data.loader.batch_size",
        ["fewer than one batch"],
    ),
    (
        "set-construction",
        None,
        ["--set", f"{G}.args.out_size=20"],
        2,
        f"--set {G}.args.out_size",
        ["power of 2"],
    ),
    (
        "set-shape",
        None,
        ["--set", f"{G}.args.out_size=32"],
        2,
        f"--set {G}.args.out_size",
        ["(1, 32, 32)"],
    ),
    (
        "set-init-from",
        None,
        ["--set", f"{G}.init_from=/nonexistent.pt"],
        2,
        f"--set {G}.init_from",
        ["does not exist"],
    ),
    (
        "set-dup-key",
        None,
        ["--set", "trainer={a: 1, a: 2}"],
        2,
        "--set trainer",
        ["duplicate key 'a'"],
    ),
    ("set-deep", None, ["--set", "seed=" + _deep(1200)], 2, "--set seed", ["nested too deeply"]),
    ("set-bad-yaml", None, ["--set", "seed=[1"], 2, "--set seed", ["not valid YAML"]),
    ("set-no-equals", None, ["--set", "seed"], 2, "--set", ["expected KEY=VALUE"]),
    ("set-empty-key", None, ["--set", "=1"], 2, "--set", ["expected KEY=VALUE"]),
    (
        "set-bad-index",
        None,
        ["--set", "losses.5.name=x"],
        2,
        "--set losses.5.name",
        ["not an index", "to append"],
    ),
    (
        "set-plugins-list-item",
        None,
        ["--set", "plugins.0=no_such_module_xyz"],
        2,
        "--set plugins",
        ["failed to import"],
    ),
    ("set-plugins", None, ["--set", "plugins=[json]"], 2, "--set plugins", ["not a plugin"]),
    (
        "set-plugins-string",
        None,
        ["--set", "plugins=json"],
        2,
        "--set plugins",
        ["expected a list"],
    ),
]

CLI_FLAGS = [
    (
        "resume-and-overwrite",
        None,
        ["--resume", "--overwrite"],
        2,
        "command line",
        ["cannot be combined"],
    ),
    (
        "evaluate-and-resume",
        None,
        ["--evaluate", "--resume"],
        2,
        "command line",
        ["--evaluate does not train"],
    ),
    (
        "evaluate-and-overwrite",
        None,
        ["--evaluate", "--overwrite"],
        2,
        "command line",
        ["--overwrite"],
    ),
    ("nproc-zero", None, ["--nproc", "0"], 2, "command line", ["--nproc must be >= 1"]),
    ("nproc-not-int", None, ["--nproc", "two"], 2, "command line", ["invalid int value"]),
    ("p-empty", None, ["-p", ""], 2, "command line", ["-p expects a module name"]),
    ("p-no-empty", None, ["-p", "no:"], 2, "command line", ["-p expects a module name"]),
    ("device-flag", None, ["--device", "cuda:a"], 2, "--device", ["cuda:N"]),
    ("list-bad-kind", None, ["--list", "modles"], 2, "command line", ["invalid choice"]),
    ("unknown-flag", None, ["--resumee"], 2, "command line", ["unrecognized arguments"]),
]

PLUGINS = [
    (
        "p-not-a-plugin",
        None,
        ["-p", "json"],
        2,
        "'json'",
        ["not a plugin", "torchgan_ext_register_models"],
    ),
    ("config-not-a-plugin", S("plugins", ["json"]), [], 2, "'json'", ["not a plugin"]),
    (
        "p-missing",
        None,
        ["-p", "no_such_module_xyz"],
        2,
        "no_such_module_xyz",
        ["failed to import"],
    ),
    (
        "p-unmarked",
        None,
        ["-p", "unmarked_plugin_xyz"],
        2,
        "unmarked_plugin_xyz",
        ["lack the @torchgan_ext.hookimpl"],
    ),
    (
        "p-broken-import",
        None,
        ["-p", "broken_plugin_xyz"],
        2,
        "broken_plugin_xyz",
        ["failed to import", "ZeroDivisionError"],
    ),
    ("plugins-item-not-string", S("plugins", [1]), [], 2, "plugins.0", ["expected a string"]),
]


# ------------------------------------------------------------------------------------------
# data, files and checkpoints: edits that write files first
# ------------------------------------------------------------------------------------------
def _folder(cfg, tmp, corrupt=(), workers=0, n=6, **loader):
    root = write_image_folder(tmp / "images", classes=None, per_class=n, size=(16, 16))
    files = sorted(root.iterdir())
    for i in corrupt:
        files[i].write_bytes(b"this is not an image")
    cfg["data"] = {
        "name": "image_folder",
        "args": {"root": str(root), "image_size": 16, "channels": 1},
        "loader": {"batch_size": 2, "num_workers": workers, **loader},
    }
    cfg["trainer"]["sample_size"] = 2
    return cfg


def _torch_file(path, cut=None):
    torch.save({"models": {}}, path)
    if cut is not None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * cut)])
    return path


def _init_from(kind):
    def edit(cfg, tmp):
        path = tmp / "init.pt"
        if kind == "garbage":
            path.write_bytes(b"\x00" + os.urandom(199))  # random, but not a pickle header
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "text":
            path.write_text("not a checkpoint\n")
        elif kind == "truncated":
            _torch_file(path, cut=0.5)
        elif kind == "dir":
            path.mkdir()
        elif kind == "no-model":
            _torch_file(path)
        cfg["models"]["generator"]["init_from"] = str(path)
        return cfg

    return edit


def _out_dir_is_file(cfg, tmp):
    (tmp / "afile").write_text("x")
    cfg["out_dir"] = str(tmp / "afile")
    return cfg


def _resume_garbage(cfg, tmp):
    ckpts = tmp / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    (tmp / "run" / "config.yaml").write_text("seed: 0\n")
    (ckpts / "ckpt-00000004.pt").write_bytes(b"\x00" + os.urandom(299))  # not a pickle header
    return cfg


DATA = [
    (
        "folder-missing-root",
        lambda c, t: _folder(c, t) and S("data.args.root", str(t / "nope"))(c, t),
        [],
        2,
        "data.args.root",
        ["does not exist"],
    ),
    (
        "folder-no-images",
        lambda c, t: (
            (t / "empty").mkdir() or _folder(c, t) and S("data.args.root", str(t / "empty"))(c, t)
        ),
        [],
        2,
        "data.args.root",
        ["no images"],
    ),
    (
        "folder-channels",
        lambda c, t: _folder(c, t) and S("data.args.channels", 2)(c, t),
        [],
        2,
        "data.args.channels",
        ["must be 1 or 3"],
    ),
    (
        "corrupt-first-image",
        lambda c, t: _folder(c, t, corrupt=[0]),
        [],
        2,
        "data",
        ["reading item 0", "0000.png"],
    ),
    (
        "corrupt-image-in-run",
        lambda c, t: _folder(c, t, corrupt=[4]),
        [],
        1,
        "0004.png",
        ["cannot decode image"],
    ),
    (
        "corrupt-image-in-worker",
        lambda c, t: _folder(c, t, corrupt=[4], workers=1, shuffle=False),
        [],
        1,
        "0004.png",
        ["DataLoader worker 0", "cannot decode image"],
    ),
]

FILES_AND_CHECKPOINTS = [
    (
        "init-from-garbage",
        _init_from("garbage"),
        [],
        2,
        f"{G}.init_from",
        ["not a readable checkpoint", "init.pt"],
    ),
    ("init-from-empty-file", _init_from("empty"), [], 2, f"{G}.init_from", ["the file is empty"]),
    (
        "init-from-text",
        _init_from("text"),
        [],
        2,
        f"{G}.init_from",
        ["not a readable checkpoint", "b'not '"],
    ),
    (
        "init-from-truncated",
        _init_from("truncated"),
        [],
        2,
        f"{G}.init_from",
        ["not a readable checkpoint", "truncated"],
    ),
    ("init-from-dir", _init_from("dir"), [], 2, f"{G}.init_from", ["is a directory"]),
    (
        "init-from-no-model",
        _init_from("no-model"),
        [],
        2,
        f"{G}.init_from",
        ["has no model 'generator'"],
    ),
    ("out-dir-is-file", _out_dir_is_file, [], 2, "out_dir", ["cannot create"]),
    (
        "resume-garbage",
        _resume_garbage,
        ["--resume"],
        1,
        "ckpt-00000004.pt",
        ["not a readable checkpoint"],
    ),
]


def _pad(case):
    return case if len(case) == 7 else (*case, 1)


CASES = [
    *[("schema", *c) for c in map(_pad, SCHEMA)],
    *[("names-arguments", *c) for c in map(_pad, NAMES_AND_ARGUMENTS)],
    *[("construction", *c) for c in map(_pad, CONSTRUCTION)],
    *[("set", *c) for c in map(_pad, SET)],
    *[("cli-flags", *c) for c in map(_pad, CLI_FLAGS)],
    *[("plugins", *c) for c in map(_pad, PLUGINS)],
    *[("data", *c) for c in map(_pad, DATA)],
    *[("files-checkpoints", *c) for c in map(_pad, FILES_AND_CHECKPOINTS)],
]


@pytest.fixture
def plugin_modules(tmp_path, monkeypatch):
    """Importable modules: one with an unmarked hook, one that fails to import."""
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "unmarked_plugin_xyz.py").write_text(
        "def torchgan_ext_register_models(registry):\n    pass\n"
    )
    (mods / "broken_plugin_xyz.py").write_text("1 / 0\n")
    monkeypatch.syspath_prepend(str(mods))
    yield
    for name in ("unmarked_plugin_xyz", "broken_plugin_xyz"):
        sys.modules.pop(name, None)


def _write_config(tmp_path, edit):
    cfg = copy.deepcopy(tiny_config(tmp_path / "run"))
    out = edit(cfg, tmp_path) if edit is not None else cfg
    path = tmp_path / "bad.yaml"
    path.write_text(out if isinstance(out, str) else yaml.safe_dump(out, sort_keys=False))
    return path


@pytest.mark.parametrize(
    "kind, case_id, edit, argv, code, named, fragments, nlines",
    CASES,
    ids=[f"{c[0]}:{c[1]}" for c in CASES],
)
def test_bad_input(
    tmp_path, capsys, plugin_modules, kind, case_id, edit, argv, code, named, fragments, nlines
):
    path = _write_config(tmp_path, edit)
    rc = main([str(path), *argv])
    captured = capsys.readouterr()
    err = captured.err
    lines = [line for line in err.strip().splitlines() if line.startswith("torchgan-run: error:")]
    assert rc == code, err
    assert "Traceback" not in err, err
    expected_lines = nlines
    assert len(lines) == expected_lines, err
    assert len(err.strip().splitlines()) == expected_lines + err.count("torchgan-run: warning:"), (
        err
    )
    if named:
        assert named in err, err
    for fragment in fragments:
        assert fragment in err, err
    if code == 2:
        assert not list(tmp_path.glob("run/checkpoints/ckpt-*.pt"))


def test_corpus_size_and_classes():
    """At least twice the 67 parametrised cases of tests/test_config_errors.py (64 + 3)."""
    assert len(CASES) >= 2 * 67
    assert {c[0] for c in CASES} == {
        "schema",
        "names-arguments",
        "construction",
        "set",
        "cli-flags",
        "plugins",
        "data",
        "files-checkpoints",
    }


# ------------------------------------------------------------------------------------------
# inputs that must work (or warn in one line) rather than fail
# ------------------------------------------------------------------------------------------
def test_config_from_a_pipe_is_read_once(tmp_path, capsys):
    """`torchgan-run <(...)`: a FIFO can be read only once."""
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    text = yaml.safe_dump(tiny_config(tmp_path / "run"))

    def feed():
        with open(fifo, "w") as fh:
            fh.write(text)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        assert main([str(fifo), "--print-config"]) == 0
    finally:
        writer.join(timeout=10)
    assert "dcgan_generator" in capsys.readouterr().out


def test_nproc_spools_a_piped_config(tmp_path, monkeypatch, capsys):
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    text = yaml.safe_dump(tiny_config(tmp_path / "run"))
    seen = {}

    def fake_launch(nproc, argv):
        seen["argv"] = list(argv)
        return 0

    monkeypatch.setattr(cli, "_launch_torchrun", fake_launch)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    writer = threading.Thread(target=lambda: open(fifo, "w").write(text))
    writer.start()
    try:
        assert main([str(fifo), "--nproc", "2"]) == 0
    finally:
        writer.join(timeout=10)
    spooled = [a for a in seen["argv"] if a.endswith(".yaml")]
    assert spooled and str(fifo) not in seen["argv"]
    try:
        assert yaml.safe_load(open(spooled[0]).read()) == yaml.safe_load(text)
    finally:
        os.unlink(spooled[0])


def test_plugins_set_through_set_are_honoured(tmp_path, capsys):
    path = _write_config(tmp_path, None)
    argv = [str(path), "--set", "plugins=[torchgan_ext.testing.extractors]"]
    assert main([*argv, "--list", "models"]) == 0
    assert "tiny_feature_extractor" in capsys.readouterr().out
    assert (
        main([str(path), "--set", "plugins.0=torchgan_ext.testing.extractors", "--print-config"])
        == 0
    )
    assert "torchgan_ext.testing.extractors" in capsys.readouterr().out


def test_set_appends_to_a_list(tmp_path, capsys):
    path = _write_config(tmp_path, None)
    assert main([str(path), "--set", "callbacks.0={name: lr_schedulers}", "--print-config"]) == 0
    assert "lr_schedulers" in capsys.readouterr().out


def test_resume_skips_a_garbage_checkpoint_in_one_line(tmp_path, capsys):
    path = _write_config(tmp_path, None)
    assert main([str(path), "--set", "trainer.max_steps=2"]) == 0
    ckpts = tmp_path / "run" / "checkpoints"
    (ckpts / "ckpt-00000009.pt").write_bytes(b"garbage" * 10)
    with pytest.warns(RuntimeWarning, match="ckpt-00000009.pt") as record:
        assert main([str(path), "--resume"]) == 0
    w = next(w for w in record if "ckpt-00000009.pt" in str(w.message))
    line = cli.format_warning(w.message, w.category, w.filename, w.lineno)
    assert line.count("\n") == 1 and line.startswith("torchgan-run: warning: "), line
    assert "not a readable checkpoint" in line and "pickled" not in line, line
