"""Score generators of finished runs on the bundled digits (the digit-classifier IS analogue).

For each run directory (``out_dir`` of a digits config), builds the generator from the run's
resolved ``config.yaml``, loads the newest checkpoint and prints the score of 1000 samples for
the trained weights and, when the run keeps one, the EMA copy, with the per-class counts
(:func:`torchgan_ext.testing.digits_score`; real digits score 7.5, an untrained generator
about 1.1).

    python benchmarks/digits_score.py runs/quickstart runs/unetgan_digits [--images 1000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from torchgan_ext._registry import MODELS
from torchgan_ext.testing import digits_score
from torchgan_ext.trainer.checkpoint import list_checkpoints, load_checkpoint


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="run directories")
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--judge", choices=("sklearn", "mnist"), default="sklearn", help="digit classifier"
    )
    args = p.parse_args()
    for run in args.runs:
        resolved = yaml.safe_load((run / "config.yaml").read_text())
        g_cfg = resolved["models"]["generator"]
        ckpts = list_checkpoints(run / "checkpoints")
        if not ckpts:
            raise SystemExit(f"{run}: no checkpoint in {run / 'checkpoints'}")
        state = load_checkpoint(ckpts[-1])
        ema = state.get("callbacks", {}).get("ema", {})  # the ema callback's averages
        trained = state["models"].get("generator")
        for kind, weights in (("models", trained), ("ema", ema.get("generator"))):
            if weights is None:
                continue
            g = MODELS.get(g_cfg["name"])(**g_cfg["args"])
            g.load_state_dict(weights)
            result = digits_score(g, args.images, seed=args.seed, judge=args.judge)
            label = "trained" if kind == "models" else "EMA"
            print(
                f"{run} step {state['step']} {label:<7} score {result.score:.2f}  "
                f"per class {list(result.counts)}"
            )


if __name__ == "__main__":
    main()
