"""Progressive GAN under ``compile: true``: the models compile (their state dict holds a dict),
the critic step trains through the penalty, and growing stays compiled at every level."""

from __future__ import annotations

import warnings

import pytest
import torch

from torchgan_ext import config, run
from torchgan_ext.models.progan import ProGANGenerator
from torchgan_ext.trainer.acceleration import compile_model

TINY = {"fmap_base": 16, "fmap_max": 8}


def test_compile_check_restores_the_level_kept_as_extra_state():
    """The state dict's ``_extra_state`` is a dict ``{level, alpha}``: the compile check keeps
    it (it used to call ``.clone()`` on it and fall back to eager) and restores it after a
    test forward that changed it."""
    g = ProGANGenerator(16, 1, **TINY)
    g.set_level(1, 0.5)

    def check(model):
        model.set_level(0)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert compile_model(g, check) is True
    assert (g.level, g.fading, float(g.alpha)) == (1, True, 0.5)


def _compiled(model: torch.nn.Module) -> bool:
    return any(getattr(m, "_compiled_call_impl", None) is not None for m in model.modules())


def _cfg(out_dir, steps):
    adam = {"name": "adam", "args": {"lr": 1.0e-3, "betas": [0.0, 0.99], "eps": 1.0e-8}}
    return config.config_from_dict(
        {
            "seed": 0,
            "device": "cpu",
            "out_dir": str(out_dir),
            "data": {
                "name": "digits",
                "args": {"image_size": 8, "channels": 1, "split": "test"},
                "loader": {"batch_size": 8, "num_workers": 0, "shuffle": True, "drop_last": True},
            },
            "models": {
                "generator": {"name": "progan_generator", "args": TINY, "optimizer": adam},
                "discriminator": {"name": "progan_discriminator", "args": TINY, "optimizer": adam},
            },
            "losses": [{"name": "progan_generator"}, {"name": "progan_discriminator"}],
            # 8 images a step: steps 1-2 at 4x4, 3 fades 8x8 in (alpha 0.5), 4 at 8x8
            "callbacks": [
                {
                    "name": "progressive_growing",
                    "args": {"stabilise_kimg": 0.016, "fade_kimg": 0.016},
                }
            ],
            "trainer": {"epochs": 2, "max_steps": steps, "sample_size": 4, "compile": True},
            "logging": {"progress": False, "tensorboard": False},
        }
    )


@pytest.mark.slow
def test_compiled_progan_trains_through_a_fade_in(tmp_path):
    """``compile: true`` compiles both networks (no eager fallback) and the critic step, which
    trains through the gradient penalty, runs the critic's penalty pass eagerly."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(_cfg(tmp_path, 4))
    eager = [str(w.message) for w in caught if "running it eagerly" in str(w.message)]
    assert not eager, eager
    trainer = result.trainer
    assert result.step == 4
    assert trainer.callbacks["progressive_growing"].level == 1
    for model in (trainer.generator, trainer.discriminator):
        assert _compiled(model)
        params = list(model.parameters())
        assert all(torch.isfinite(p).all() for p in params)
    grads = [p.grad for p in trainer.discriminator.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
