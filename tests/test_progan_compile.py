"""Progressive GAN under ``compile: true``: the models compile (their state dict holds a dict),
the critic step trains through the penalty, and growing stays compiled at every level."""

from __future__ import annotations

import warnings

import pytest
import torch
from test_progan import _cfg as progan_config

from torchgan_ext import config, run
from torchgan_ext.models.progan import ProGANDiscriminator, ProGANGenerator
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
    """test_progan's run at 8x8, 8 images a step: step 1 at 4x4, 2 fades 8x8 in (alpha 0.5)."""
    cfg = config.config_to_dict(progan_config(out_dir, steps))
    cfg["data"]["args"]["image_size"] = 8
    cfg["data"]["loader"]["batch_size"] = 8
    cfg["callbacks"][0]["args"] = {"stabilise_kimg": 0.004, "fade_kimg": 0.008}
    cfg["trainer"] = {"epochs": 2, "max_steps": steps, "sample_size": 2, "compile": True}
    return config.config_from_dict(cfg)


@pytest.mark.slow
def test_compiled_progan_trains_through_a_fade_in(tmp_path, monkeypatch):
    """``compile: true`` compiles both networks (no eager fallback) and the critic step, which
    trains through the gradient penalty, runs the critic's penalty pass eagerly.

    The backend is ``aot_eager``: AOTAutograd's graphs (whose donated buffers refused the
    penalty's double backward) without inductor's C++ code generation, which takes minutes
    on a CPU."""
    module_compile = torch.nn.Module.compile

    def aot_eager(self, *args, **kwargs):
        return module_compile(self, *args, **{"backend": "aot_eager", **kwargs})

    monkeypatch.setattr(torch.nn.Module, "compile", aot_eager)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(_cfg(tmp_path, 2))
    eager = [str(w.message) for w in caught if "running it eagerly" in str(w.message)]
    assert not eager, eager
    trainer = result.trainer
    assert result.step == 2
    cb = trainer.callbacks["progressive_growing"]
    assert (cb.level, cb.alpha) == (1, 0.5)
    for model in (trainer.generator, trainer.discriminator):
        assert _compiled(model)
        params = list(model.parameters())
        assert all(torch.isfinite(p).all() for p in params)
    grads = [p.grad for p in trainer.discriminator.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.slow
def test_growing_through_every_level_stays_compiled():
    """Every ``(level, fading)`` state is a new graph: 9 states at 64x64, past dynamo's
    global limit of 8 graphs per model. The models' own
    limit keeps every state compiled (``fail_on_recompile_limit_hit`` raises on a fallback to
    eager) and leaves the global limit alone."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    g = ProGANGenerator(64, 1, fmap_base=256, fmap_max=4)
    d = ProGANDiscriminator(64, 1, fmap_base=256, fmap_max=4)
    g.compile(backend="eager")
    d.compile(backend="eager")
    states = [(0, 1.0)] + [s for k in range(1, g.num_levels) for s in ((k, 0.5), (k, 1.0))]
    with torch._dynamo.config.patch(fail_on_recompile_limit_hit=True):
        for level, alpha in states:
            g.set_level(level, alpha)
            d.set_level(level, alpha)
            (-d(g(torch.randn(2, g.encoding_dims))).mean()).backward()  # a generator step
    assert counters["stats"]["unique_graphs"] == 2 * 9  # more than the global limit allows
    assert counters["frames"]["total"] == counters["frames"]["ok"]
    assert not any("recompile limit" in k for k in counters["unimplemented"])
    assert len(states) == 9 and g.recompile_limit == d.recompile_limit == 72
    assert torch._dynamo.config.recompile_limit == 8
    torch._dynamo.reset()
