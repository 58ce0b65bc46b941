"""The contract every registered component keeps (in the style of timm's and torchvision's tests).

Each registry is parametrised from ``REGISTRY.list()`` at collection time, so a newly registered
model, loss, metric or dataset is covered automatically; one missing from the tiny-argument
tables below fails with a message saying where to add it.

* models: tiny construction, a forward pass on a tiny input of the right kind, output shapes,
  and a backward pass that gives a finite gradient to every trainable parameter.
* losses: one real training step through the Trainer, using that loss alone wherever it can
  train alone; the models it trains change (compared with a copy of the same trainer's weights
  taken before training), the models it does not train stay as they were, the losses are finite.
* metrics: construction with a tiny feature extractor (never Inception/VGG weights), one
  evaluation on tiny data, a finite value.
* datasets: length > 0 and one item of the documented type, shape and dtype, from the on-disk
  fakes of :mod:`torchgan_ext.testing` (the full per-dataset suite is
  tests/test_datasets_contract.py).
* optimizers and schedulers (torch.optim by name): a step changes the weights / the lr as
  expected.
* callbacks: each one alone (with the checkpoint writer) in a real 4-step training loop, with
  its observable effect checked, and its ``state_dict`` saved under its name and restored.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import distributions, nn
from torch.utils.data import DataLoader, TensorDataset

from torchgan_ext import (
    CALLBACKS,
    DATASETS,
    LOSSES,
    METRICS,
    MODELS,
    OPTIMIZERS,
    SCHEDULERS,
    build_trainer,
)
from torchgan_ext.config import config_from_dict
from torchgan_ext.testing import (
    write_attribute_digits,
    write_celeba,
    write_cityscapes,
    write_image_folder,
    write_paired_images,
    write_unpaired_images,
)
from torchgan_ext.testing.extractors import TinyFeatureExtractor

HERE = "tests/test_contract.py"


def _table_entry(table: dict[str, Any], kind: str, table_name: str, name: str) -> Any:
    if name not in table:
        pytest.fail(
            f"{kind} {name!r} is registered but has no entry in {table_name} of {HERE}; add "
            f"one (tiny arguments and inputs) so that the contract test covers it",
            pytrace=False,
        )
    return table[name]


def _image(channels: int = 1, size: int = 16, n: int = 2) -> torch.Tensor:
    return torch.rand(n, channels, size, size) * 2 - 1


# ==========================================================================================
# models
# ==========================================================================================
@dataclass(frozen=True)
class ModelCase:
    """Tiny arguments, a tiny input and the expected output shapes of one model.

    Attributes:
        args: Constructor arguments (tiny widths and sizes).
        inputs: ``inputs(model) -> tuple`` of positional forward arguments (batch of 2);
            ``None``: the generator's own ``sampler(2, "cpu")``.
        outputs: Shapes of the tensors of the output, flattened in order (a distribution
            contributes its mean and standard deviation).
    """

    args: dict[str, Any]
    outputs: tuple[tuple[int, ...], ...]
    inputs: Callable[[nn.Module], tuple] | None = None


def _labels(*values: int) -> torch.Tensor:
    return torch.tensor(values)


def _attributes() -> torch.Tensor:
    return torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


G16 = {"out_size": 16, "out_channels": 1, "step_channels": 4}
D16 = {"in_size": 16, "in_channels": 1, "step_channels": 4}
IMG = (2, 1, 16, 16)
G16_SIZE = {"out_size": 16, "out_channels": 1}

MODEL_CASES: dict[str, ModelCase] = {
    "dcgan_generator": ModelCase({"encoding_dims": 8, **G16}, (IMG,)),
    "dcgan_discriminator": ModelCase(D16, ((2,),), lambda m: (_image(),)),
    "conditional_gan_generator": ModelCase({"num_classes": 3, "encoding_dims": 8, **G16}, (IMG,)),
    "conditional_gan_discriminator": ModelCase(
        {"num_classes": 3, **D16}, ((2,),), lambda m: (_image(), _labels(0, 2))
    ),
    "acgan_generator": ModelCase({"num_classes": 3, "encoding_dims": 8, **G16}, (IMG,)),
    # mode "combine": the score and the class logits (the auxiliary head takes part)
    "acgan_discriminator": ModelCase(
        {"num_classes": 3, **D16}, ((2,), (2, 3)), lambda m: (_image(), "combine")
    ),
    "infogan_generator": ModelCase(
        {"dim_dis": 3, "dim_cont": 2, "encoding_dims": 8, **G16}, (IMG,)
    ),
    # return_latents=True: the score and the Q head's two distributions (mean, stddev each)
    "infogan_discriminator": ModelCase(
        {"dim_dis": 3, "dim_cont": 2, **D16},
        ((2, 1, 1, 1), (2, 3), (2, 3), (2, 2), (2, 2)),
        lambda m: (_image(), True),
    ),
    "autoencoding_generator": ModelCase({"encoding_dims": 8, **G16}, (IMG,)),
    "autoencoding_discriminator": ModelCase(
        {"encoding_dims": 8, **D16}, ((2,),), lambda m: (_image(),)
    ),
    "sagan_generator": ModelCase(
        {"encoding_dims": 8, "out_size": 32, "out_channels": 1, "step_channels": 1},
        ((2, 1, 32, 32),),
    ),
    "sagan_discriminator": ModelCase(
        {"in_size": 32, "in_channels": 1, "step_channels": 1}, ((2,),), lambda m: (_image(1, 32),)
    ),
    "biggan_generator": ModelCase(
        {
            "encoding_dims": 16,
            "out_size": 16,
            "out_channels": 1,
            "ch": 4,
            "channel_multipliers": [2, 2, 1],
        },
        (IMG,),
    ),
    "unet_discriminator": ModelCase(
        {"in_channels": 1, "image_size": 16, "ch": 4, "channel_multipliers": [1, 2]},
        ((2,), IMG),
        lambda m: (_image(),),
    ),
    "srresnet_generator": ModelCase(
        {"scale": 2, "in_channels": 3, "out_channels": 3, "width": 4, "num_blocks": 1},
        ((2, 3, 16, 16),),
        lambda m: (_image(3, 8),),
    ),
    "srgan_discriminator": ModelCase(
        {"in_channels": 3, "width": 2, "hidden": 8}, ((2,),), lambda m: (_image(3, 16),)
    ),
    "stargan_generator": ModelCase(
        {"c_dim": 3, "conv_dim": 4, "repeat_num": 1, "num_down": 1},
        ((2, 3, 16, 16),),
        lambda m: (_image(3, 16), _attributes()),
    ),
    "stargan_discriminator": ModelCase(
        {"c_dim": 3, "image_size": 16, "in_channels": 3, "conv_dim": 4, "repeat_num": 2},
        ((2, 1, 4, 4), (2, 3)),
        lambda m: (_image(3, 16),),
    ),
    "attribute_classifier": ModelCase(
        {"c_dim": 3, "in_channels": 3, "conv_dim": 4, "repeat_num": 2},
        ((2, 3),),
        lambda m: (_image(3, 16),),
    ),
    # one-hot label maps (19 channels) -> photos; the sampler gives 32x32 inputs
    "pix2pix_generator": ModelCase(
        {"in_channels": 19, "out_channels": 3, "image_size": 32, "base_channels": 2},
        ((2, 3, 32, 32),),
    ),
    # conditional: (judged image, condition); 32 -> 16 -> 8 -> 4 -> 3 -> 2 patches
    "patchgan_discriminator": ModelCase(
        {"channels_a": 19, "channels_b": 3, "base_channels": 2},
        ((2, 1, 2, 2),),
        lambda m: (_image(3, 32), _image(19, 32)),
    ),
    "cyclegan_generator": ModelCase(
        {"channels_a": 1, "channels_b": 3, "image_size": 16, "base_channels": 2, "num_blocks": 1},
        ((2, 3, 16, 16),),
    ),
    "segmentation_net": ModelCase(
        {"num_classes": 5, "in_channels": 3, "width": 4, "depth": 3},
        ((2, 5, 16, 16),),
        lambda m: (_image(3, 16),),
    ),
    # masked 16x16 images -> the central 8x8 square
    "context_encoder_generator": ModelCase(
        {"channels": 1, "image_size": 16, "overlap": 1, "bottleneck": 8, "base_channels": 2},
        ((2, 1, 8, 8),),
    ),
    "context_encoder_discriminator": ModelCase(
        {"channels": 1, "image_size": 16, "base_channels": 2}, ((2,),), lambda m: (_image(1, 8),)
    ),
    "discogan_generator": ModelCase(
        {"channels_a": 1, "channels_b": 3, "image_size": 16, "base_channels": 2},
        ((2, 3, 16, 16),),
    ),
    "discogan_discriminator": ModelCase(
        {"channels_a": 1, "channels_b": 3, "image_size": 16, "base_channels": 2},
        ((2,),),
        lambda m: (_image(3, 16),),
    ),
    # 4x4 -> 8x8, halfway through the fade-in: every toRGB / fromRGB and block takes part
    "progan_generator": ModelCase(
        {"out_size": 8, "out_channels": 1, "fmap_base": 16, "fmap_max": 8},
        ((2, 1, 8, 8),),
        lambda m: (m.set_level(1, 0.5), *m.sampler(2, "cpu"))[1:],
    ),
    "progan_discriminator": ModelCase(
        {"in_size": 8, "in_channels": 1, "fmap_base": 16, "fmap_max": 8},
        ((2,),),
        lambda m: (m.set_level(1, 0.5), _image(1, 8))[1:],
    ),
    "stylegan2_generator": ModelCase(
        {"encoding_dims": 8, "w_dim": 8, "channel_base": 64, "channel_max": 8, **G16_SIZE},
        (IMG,),
    ),
    "stylegan2_discriminator": ModelCase(
        {"in_size": 16, "in_channels": 1, "channel_base": 64, "channel_max": 8},
        ((2,),),
        lambda m: (_image(),),
    ),
}


def _flatten(output: Any) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, tuple | list):
        return [t for item in output for t in _flatten(item)]
    if isinstance(output, distributions.Distribution):
        return [output.mean, output.stddev]
    raise TypeError(f"unexpected model output of type {type(output).__name__}")


@pytest.mark.parametrize("name", MODELS.list())
def test_model_contract(name):
    case = _table_entry(MODEL_CASES, "model", "MODEL_CASES", name)
    torch.manual_seed(0)
    model = MODELS.get(name)(**case.args)
    assert isinstance(model, nn.Module)
    model.train()
    inputs = case.inputs(model) if case.inputs is not None else tuple(model.sampler(2, "cpu"))
    outputs = _flatten(model(*inputs))
    assert [tuple(o.shape) for o in outputs] == [tuple(s) for s in case.outputs]
    for o in outputs:
        assert o.dtype == torch.float32 and torch.isfinite(o).all()
    assert any(o.requires_grad for o in outputs), "the output does not depend on the parameters"

    g = torch.Generator().manual_seed(1)  # random weights: no output term cancels by design
    loss = sum((o * torch.randn(o.shape, generator=g)).sum() for o in outputs)
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable, f"{name} has no trainable parameters"
    no_grad = [n for n, p in trainable if p.grad is None]
    assert not no_grad, f"trainable parameters that the forward pass never reaches: {no_grad}"
    bad = [n for n, p in trainable if not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad}"
    assert any(p.grad.abs().sum() > 0 for _, p in trainable), "every gradient is zero"


# ==========================================================================================
# losses: one training step through the Trainer
# ==========================================================================================
ADAM = {"name": "adam", "args": {"lr": 1.0e-3, "betas": [0.5, 0.999]}}
LOADER = {"batch_size": 8, "num_workers": 0, "shuffle": True, "drop_last": True}
DIGITS = {"name": "digits", "args": {"image_size": 16, "channels": 1, "split": "test"}}


def _model(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "args": args, "optimizer": ADAM}


def _digits_data(tmp_path: Path) -> dict[str, Any]:
    return copy.deepcopy(DIGITS)


def _celeba_data(tmp_path: Path) -> dict[str, Any]:
    fake = write_attribute_digits(tmp_path / "data", num_images=24, size=16)
    return {
        "name": "celeba",
        "args": {
            "root": str(fake.root),
            "attributes": ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"],
            "crop_size": None,
            "image_size": 16,
        },
    }


def _paired_data(tmp_path: Path) -> dict[str, Any]:
    root = write_paired_images(tmp_path / "pairs", {"train": 8}, size=32)
    return {"name": "paired_images", "args": {"root": str(root), "image_size": 32}}


def _unpaired_data(tmp_path: Path) -> dict[str, Any]:
    counts = {"trainA": 8, "trainB": 8, "testA": 1, "testB": 1}
    root = write_unpaired_images(tmp_path / "unpaired", counts, size=16)
    return {"name": "unpaired_images", "args": {"root": str(root), "image_size": 16}}


def _cityscapes_data(tmp_path: Path) -> dict[str, Any]:
    fake = write_cityscapes(tmp_path / "city", images={"train": 8}, size=(16, 32))
    return {
        "name": "cityscapes",
        "args": {"root": str(fake.root), "target": "train_ids", "crop_size": 16},
    }


def _sr_data(tmp_path: Path) -> dict[str, Any]:
    return {
        "name": "super_resolution",
        "args": {"dataset": copy.deepcopy(DIGITS), "scale": 2, "crop_size": 16},
    }


@dataclass(frozen=True)
class Setup:
    """Tiny models and data that a family of losses trains."""

    data: Callable[[Path], dict[str, Any]]
    models: dict[str, dict[str, Any]]


SETUPS: dict[str, Setup] = {
    "dcgan": Setup(
        _digits_data,
        {
            "generator": _model("dcgan_generator", encoding_dims=8, step_channels=4),
            "discriminator": _model("dcgan_discriminator", step_channels=4),
        },
    ),
    # the per-sample gradient penalties need samples scored independently: no batch norm
    "dcgan_no_bn": Setup(
        _digits_data,
        {
            "generator": _model("dcgan_generator", encoding_dims=8, step_channels=4),
            "discriminator": _model("dcgan_discriminator", step_channels=4, batchnorm=False),
        },
    ),
    "acgan": Setup(
        _digits_data,
        {
            "generator": _model("acgan_generator", encoding_dims=8, step_channels=4),
            "discriminator": _model("acgan_discriminator", step_channels=4),
        },
    ),
    "infogan": Setup(
        _digits_data,
        {
            "generator": _model(
                "infogan_generator", dim_dis=3, dim_cont=2, encoding_dims=8, step_channels=4
            ),
            "discriminator": _model(
                "infogan_discriminator", dim_dis=3, dim_cont=2, step_channels=4
            ),
        },
    ),
    "autoencoding": Setup(
        _digits_data,
        {
            "generator": _model("autoencoding_generator", encoding_dims=8, step_channels=4),
            "discriminator": _model(
                "autoencoding_discriminator", encoding_dims=8, step_channels=4, embeddings=True
            ),
        },
    ),
    # BEGAN's losses take the auto-encoder's reconstruction energy alone (no embeddings)
    "began": Setup(
        _digits_data,
        {
            "generator": _model("autoencoding_generator", encoding_dims=8, step_channels=4),
            "discriminator": _model("autoencoding_discriminator", encoding_dims=8, step_channels=4),
        },
    ),
    "unet": Setup(
        _digits_data,
        {
            "generator": _model(
                "biggan_generator", encoding_dims=16, ch=4, channel_multipliers=[2, 2, 1]
            ),
            "discriminator": _model("unet_discriminator", ch=4, channel_multipliers=[1, 2]),
        },
    ),
    "srgan": Setup(
        _sr_data,
        {
            "generator": _model("srresnet_generator", width=4, num_blocks=1),
            "discriminator": _model("srgan_discriminator", width=2, hidden=8),
        },
    ),
    "srresnet": Setup(_sr_data, {"generator": _model("srresnet_generator", width=4, num_blocks=1)}),
    "stargan": Setup(
        _celeba_data,
        {
            "generator": _model("stargan_generator", conv_dim=4, repeat_num=1, num_down=1),
            "discriminator": _model("stargan_discriminator", conv_dim=4, repeat_num=2),
        },
    ),
    "classifier": Setup(
        _celeba_data, {"classifier": _model("attribute_classifier", conv_dim=4, repeat_num=2)}
    ),
    "pix2pix": Setup(
        _paired_data,
        {
            "generator": _model("pix2pix_generator", base_channels=2),
            "discriminator": _model("patchgan_discriminator", base_channels=2),
        },
    ),
    # the four models of CycleGAN: (generator, discriminator) A -> B, the others B -> A
    "cyclegan": Setup(
        _unpaired_data,
        {
            "generator": _model("cyclegan_generator", base_channels=2, num_blocks=1),
            "generator_ba": _model(
                "cyclegan_generator", direction="b2a", base_channels=2, num_blocks=1
            ),
            "discriminator": _model(
                "patchgan_discriminator", conditional=False, base_channels=2, num_layers=1
            ),
            "discriminator_a": _model(
                "patchgan_discriminator",
                judges="a",
                conditional=False,
                base_channels=2,
                num_layers=1,
            ),
        },
    ),
    "segmenter": Setup(
        _cityscapes_data, {"segmenter": _model("segmentation_net", width=4, depth=2)}
    ),
    # DiscoGAN's four models; update_interval 1 in the loss cases (both step every iteration)
    "discogan": Setup(
        _unpaired_data,
        {
            "generator": _model("discogan_generator", base_channels=2),
            "generator_ba": _model("discogan_generator", direction="b2a", base_channels=2),
            "discriminator": _model("discogan_discriminator", base_channels=2),
            "discriminator_a": _model("discogan_discriminator", judges="a", base_channels=2),
        },
    ),
    # at their full size (no growing callback); no batch norm: per-sample penalty
    "progan": Setup(
        _digits_data,
        {
            "generator": _model("progan_generator", fmap_base=16, fmap_max=8),
            "discriminator": _model("progan_discriminator", fmap_base=16, fmap_max=8),
        },
    ),
    "context_encoder": Setup(
        _digits_data,
        {
            "generator": _model(
                "context_encoder_generator", overlap=1, bottleneck=8, base_channels=2
            ),
            "discriminator": _model("context_encoder_discriminator", base_channels=2),
        },
    ),
}


@dataclass(frozen=True)
class LossCase:
    """How one loss is trained for a step.

    Attributes:
        setup: Key of :data:`SETUPS`.
        trains: The models whose parameters the loss updates; every other model must stay
            unchanged.
        args: Loss arguments.
        partners: Losses the loss cannot train without (a regulariser whose gradient is zero
            on its own). The step is then also run with the partners alone, and the trained
            models must end differently: the loss itself contributed.
        steps: Training steps.
    """

    setup: str
    trains: tuple[str, ...]
    args: dict[str, Any] = field(default_factory=dict)
    partners: tuple[str, ...] = ()
    steps: int = 1


G, D = ("generator",), ("discriminator",)

LOSS_CASES: dict[str, LossCase] = {
    "minimax_generator": LossCase("dcgan", G),
    "minimax_discriminator": LossCase("dcgan", D),
    "least_squares_generator": LossCase("dcgan", G),
    "least_squares_discriminator": LossCase("dcgan", D),
    "wasserstein_generator": LossCase("dcgan", G),
    "wasserstein_discriminator": LossCase("dcgan", D),
    "wasserstein_gradient_penalty": LossCase("dcgan_no_bn", D),
    "dragan_gradient_penalty": LossCase("dcgan_no_bn", D),
    "feature_matching_generator": LossCase("dcgan", G),
    "hinge_generator": LossCase("dcgan", G),
    "hinge_discriminator": LossCase("dcgan", D),
    # the historical average equals the weights at the first step: zero gradient on its own
    "historical_average_generator": LossCase("dcgan", G, partners=("minimax_generator",), steps=3),
    "historical_average_discriminator": LossCase(
        "dcgan", D, partners=("minimax_discriminator",), steps=3
    ),
    "boundary_equilibrium_generator": LossCase("began", G),
    "boundary_equilibrium_discriminator": LossCase("began", D),
    "energy_based_generator": LossCase("autoencoding", G),
    "energy_based_discriminator": LossCase("autoencoding", D),
    "energy_based_pulling_away_term": LossCase("autoencoding", G),
    "auxiliary_classifier_generator": LossCase("acgan", G),
    "auxiliary_classifier_discriminator": LossCase("acgan", D),
    # InfoGAN's mutual information term trains the generator and the Q head
    "mutual_information_penalty": LossCase("infogan", ("generator", "discriminator")),
    "unet_generator": LossCase("unet", G),
    "unet_discriminator": LossCase("unet", D),
    "srgan_generator": LossCase("srgan", G, {"content": "none", "pixel_weight": 1.0}),
    "srgan_discriminator": LossCase("srgan", D),
    "pixel_mse": LossCase("srresnet", G),
    "stargan_generator": LossCase("stargan", G),
    "stargan_discriminator": LossCase("stargan", D),
    "attribute_classification": LossCase("classifier", ("classifier",)),
    "pix2pix_generator": LossCase("pix2pix", G),
    "pix2pix_discriminator": LossCase("pix2pix", D),
    "cyclegan_generator": LossCase("cyclegan", ("generator", "generator_ba")),
    "cyclegan_discriminator": LossCase("cyclegan", ("discriminator", "discriminator_a")),
    "segmentation_cross_entropy": LossCase("segmenter", ("segmenter",)),
    "context_encoder_generator": LossCase("context_encoder", G),
    "context_encoder_discriminator": LossCase("context_encoder", D),
    "discogan_generator": LossCase(
        "discogan", ("generator", "generator_ba"), {"update_interval": 1}
    ),
    "discogan_discriminator": LossCase(
        "discogan", ("discriminator", "discriminator_a"), {"update_interval": 1}
    ),
    "progan_generator": LossCase("progan", G),
    "progan_discriminator": LossCase("progan", D),
}


def _loss_config(out_dir: Path, setup: Setup, data: dict, losses: list, steps: int) -> dict:
    return {
        "seed": 0,
        "device": "cpu",
        "out_dir": str(out_dir),
        "data": {**copy.deepcopy(data), "loader": dict(LOADER)},
        "models": copy.deepcopy(setup.models),
        "losses": losses,
        "trainer": {
            "epochs": 1,
            "max_steps": steps,
            "ncritic": 1,
            "sample_size": 2,
            "checkpoint_every": 1000,
        },
        "logging": {"progress": False, "tensorboard": False},
    }


def _parameters(trainer) -> dict[str, dict[str, torch.Tensor]]:
    return {
        name: {k: p.detach().clone() for k, p in model.named_parameters()}
        for name, model in trainer.models.items()
    }


def _train(cfg: dict) -> tuple[Any, dict, dict]:
    trainer, loader = build_trainer(config_from_dict(cfg))
    before = _parameters(trainer)  # the same trainer's weights, before its first step
    trainer.train(loader)
    return trainer, before, _parameters(trainer)


def _changed(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    assert a.keys() == b.keys()
    return [k for k in a if not torch.equal(a[k], b[k])]


@pytest.mark.parametrize("name", LOSSES.list())
def test_loss_contract(name, tmp_path):
    case = _table_entry(LOSS_CASES, "loss", "LOSS_CASES", name)
    setup = SETUPS[case.setup]
    data = setup.data(tmp_path)
    spec = {"name": name, "args": dict(case.args)}
    partners = [{"name": p} for p in case.partners]
    cfg = _loss_config(tmp_path / "run", setup, data, [spec, *partners], case.steps)
    trainer, before, after = _train(cfg)

    assert trainer.step == case.steps
    assert set(case.trains) <= set(trainer.models), (case.trains, list(trainer.models))
    for model in trainer.models:
        changed = _changed(before[model], after[model])
        if model in case.trains:
            assert changed, f"loss {name!r} did not change any parameter of {model!r}"
        else:
            assert not changed, f"loss {name!r} changed {model!r}, which it does not train"
    for model in trainer.models:
        for k, p in after[model].items():
            assert torch.isfinite(p).all(), f"{model}.{k} is not finite after training"
    info = trainer.loss_information
    for key in ("generator_losses", "discriminator_losses"):
        value = info[key]
        value = float(value.item() if isinstance(value, torch.Tensor) else value)
        assert math.isfinite(value), f"{key} = {value}"
    trained_iters = info["generator_iters"] + info["discriminator_iters"]
    assert trained_iters >= case.steps

    if partners:  # the loss itself moved the weights, not only its partners
        alone = _loss_config(tmp_path / "partners", setup, data, partners, case.steps)
        _, before_alone, after_alone = _train(alone)
        for model in case.trains:
            assert not _changed(before[model], before_alone[model])  # same start
            assert _changed(after[model], after_alone[model]), (
                f"adding loss {name!r} to {case.partners} changed nothing in {model!r}"
            )


# ==========================================================================================
# metrics: one evaluation with tiny networks and tiny data
# ==========================================================================================
def _digits_loader(n: int = 16, batch_size: int = 8) -> DataLoader:
    dataset = DATASETS.get("digits")(image_size=16, channels=1, split="test")
    subset = torch.utils.data.Subset(dataset, range(n))
    return DataLoader(subset, batch_size=batch_size)


def _sr_loader() -> DataLoader:
    from torchgan_ext.build import build

    args = {"dataset": copy.deepcopy(DIGITS), "scale": 2, "crop_size": 16}
    dataset = build(DATASETS, "super_resolution", args, key="data.args")
    subset = torch.utils.data.Subset(dataset, range(4))
    return DataLoader(subset, batch_size=2)


def _celeba_loader(tmp_path: Path) -> DataLoader:
    args = _celeba_data(tmp_path)["args"]
    dataset = DATASETS.get("celeba")(**args, split="all")
    return DataLoader(dataset, batch_size=8)


def _build(name: str, **extra: Any) -> nn.Module:
    case = MODEL_CASES[name]
    torch.manual_seed(0)
    return MODELS.get(name)(**{**case.args, **extra})


def _fid_kid_args(tmp_path: Path) -> dict[str, Any]:
    return {
        "extractor": TinyFeatureExtractor(),
        "num_samples": 16,
        "batch_size": 8,
        "cache_dir": str(tmp_path / "cache"),
    }


def _unconditional_image_run(tmp_path: Path) -> dict[str, Any]:
    generator = _build("dcgan_generator")
    return {
        "generator": generator,
        "eval_generator": generator,
        "data_loader": _digits_loader(),
        "val_loader": _digits_loader(),
    }


def _sr_run(tmp_path: Path) -> dict[str, Any]:
    generator = _build("srresnet_generator", in_channels=1, out_channels=1)
    return {"generator": generator, "eval_generator": generator, "val_loader": _sr_loader()}


def _unet_run(tmp_path: Path) -> dict[str, Any]:
    generator = _build("biggan_generator")
    return {
        "generator": generator,
        "eval_generator": generator,
        "discriminator": _build("unet_discriminator"),
        "val_loader": _digits_loader(),
    }


def _stargan_run(tmp_path: Path) -> dict[str, Any]:
    generator = _build("stargan_generator", c_dim=5)
    return {
        "generator": generator,
        "eval_generator": generator,
        "val_loader": _celeba_loader(tmp_path),
    }


def _classifier_run(tmp_path: Path) -> dict[str, Any]:
    return {
        "classifier": _build("attribute_classifier", c_dim=5),
        "val_loader": _celeba_loader(tmp_path),
    }


def _classifier_weights(tmp_path: Path) -> dict[str, Any]:
    """A bare state dict of a tiny attribute classifier (the judge of attribute_accuracy)."""
    path = tmp_path / "judge.pt"
    torch.save(_build("attribute_classifier", c_dim=5).state_dict(), path)
    args = dict(MODEL_CASES["attribute_classifier"].args, c_dim=5)
    return {"weights": str(path), "classifier_args": args, "max_images": 16}


def _pairs_loader() -> DataLoader:
    """Colour label maps (Cityscapes train-id colours) and photos: the pairs of label ->
    photo translation."""
    from torchgan_ext.data.cityscapes import train_ids_to_color

    ids = torch.randint(0, 19, (4, 16, 16), generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(train_ids_to_color(ids), _image(3, 16, 4)), batch_size=2)


def _translation_run(tmp_path: Path) -> dict[str, Any]:
    generator = nn.Conv2d(3, 3, 1)  # any label -> photo module
    return {"generator": generator, "eval_generator": generator, "val_loader": _pairs_loader()}


def _segmenter_weights(tmp_path: Path) -> dict[str, Any]:
    """A bare state dict of a tiny segmentation_net (the judge of segmentation_score)."""
    path = tmp_path / "segmenter.pt"
    args = dict(MODEL_CASES["segmentation_net"].args, num_classes=19)
    torch.save(_build("segmentation_net", **args).state_dict(), path)
    return {"weights": str(path), "segmenter_args": args, "max_images": 4}


def _segmenter_run(tmp_path: Path) -> dict[str, Any]:
    args = _cityscapes_data(tmp_path)["args"]
    dataset = DATASETS.get("cityscapes")(**args, split="train")
    return {
        "segmenter": _build("segmentation_net", num_classes=19),
        "val_loader": DataLoader(dataset, batch_size=4),
    }


@dataclass(frozen=True)
class MetricCase:
    """Arguments (``args(tmp_path)``) and the run (models, loaders) a metric evaluates."""

    args: Callable[[Path], dict[str, Any]]
    run: Callable[[Path], dict[str, Any]]


METRIC_CASES: dict[str, MetricCase] = {
    "fid": MetricCase(_fid_kid_args, _unconditional_image_run),
    "kid": MetricCase(
        lambda p: {**_fid_kid_args(p), "subsets": 2, "subset_size": 8}, _unconditional_image_run
    ),
    "inception_score": MetricCase(
        lambda p: {"extractor": TinyFeatureExtractor(), "num_samples": 16, "splits": 2},
        _unconditional_image_run,
    ),
    "precision_recall": MetricCase(
        lambda p: {**_fid_kid_args(p), "chunk_size": 5}, _unconditional_image_run
    ),
    "density_coverage": MetricCase(
        lambda p: {**_fid_kid_args(p), "chunk_size": 5}, _unconditional_image_run
    ),
    "classifier_score": MetricCase(
        lambda p: {"classifier": TinyFeatureExtractor(num_features=4), "sample_size": 4},
        _unconditional_image_run,
    ),
    "psnr": MetricCase(lambda p: {"channel": "y"}, _sr_run),
    "ssim": MetricCase(lambda p: {"channel": "y", "crop_border": 0}, _sr_run),
    "unet_cutmix_accuracy": MetricCase(lambda p: {}, _unet_run),
    "attribute_accuracy": MetricCase(_classifier_weights, _stargan_run),
    "classifier_accuracy": MetricCase(lambda p: {}, _classifier_run),
    "segmentation_score": MetricCase(_segmenter_weights, _translation_run),
    "segmenter_accuracy": MetricCase(lambda p: {}, _segmenter_run),
}


def _call_with_available(method: Callable, available: dict[str, Any]) -> Any:
    """Call ``method`` with the values it names (torchgan's argument maps, by name)."""
    kwargs = {}
    for param in inspect.signature(method).parameters.values():
        if param.name in available:
            kwargs[param.name] = available[param.name]
        elif param.default is inspect.Parameter.empty:
            pytest.fail(f"metric_ops needs {param.name!r}, which the metric case does not provide")
    return method(**kwargs)


@pytest.mark.parametrize("name", METRICS.list())
def test_metric_contract(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no weights from the machine
    monkeypatch.setenv("TORCHGAN_EXT_CACHE_DIR", str(tmp_path / "feature_cache"))
    case = _table_entry(METRIC_CASES, "metric", "METRIC_CASES", name)
    metric = METRICS.get(name)(**case.args(tmp_path))
    available = {"device": torch.device("cpu"), **case.run(tmp_path)}
    models = [m for m in available.values() if isinstance(m, nn.Module)]
    for m in models:
        m.train()
    value = _call_with_available(metric.metric_ops, available)
    value = float(value.item() if isinstance(value, torch.Tensor) else value)
    assert math.isfinite(value), f"metric {name!r} gave {value}"


# ==========================================================================================
# datasets: length and one item of the documented kind (full suite: test_datasets_contract)
# ==========================================================================================
@dataclass(frozen=True)
class DatasetCase:
    """``args(tmp_path)`` writes the fake data and returns constructor arguments; ``item``
    lists ``(shape, dtype)`` per element (one element: the item is a bare tensor)."""

    args: Callable[[Path], dict[str, Any]]
    item: tuple[tuple[tuple[int, ...], torch.dtype], ...]


def _image_folder_args(tmp_path: Path) -> dict[str, Any]:
    root = write_image_folder(tmp_path / "images", classes=("cat", "dog"), per_class=3)
    return {"root": str(root), "image_size": 8, "labels": True}


DATASET_CASES: dict[str, DatasetCase] = {
    "digits": DatasetCase(
        lambda p: {"image_size": 8, "split": "test"},
        (((1, 8, 8), torch.float32), ((), torch.int64)),
    ),
    "celeba": DatasetCase(
        lambda p: {
            "root": str(write_celeba(p, num_images=6, size=(22, 18)).root),
            "attributes": ["Male", "Young"],
            "crop_size": 16,
            "image_size": 8,
        },
        (((3, 8, 8), torch.float32), ((2,), torch.float32)),
    ),
    "cityscapes": DatasetCase(
        lambda p: {
            "root": str(write_cityscapes(p, size=(16, 32)).root),
            "target": "train_ids",
            "crop_size": 8,
        },
        (((3, 8, 8), torch.float32), ((8, 8), torch.int64)),
    ),
    "super_resolution": DatasetCase(
        lambda p: {"dataset": copy.deepcopy(DIGITS), "scale": 2, "crop_size": 8},
        (((1, 4, 4), torch.float32), ((1, 8, 8), torch.float32)),
    ),
    "image_folder": DatasetCase(
        _image_folder_args, (((3, 8, 8), torch.float32), ((), torch.int64))
    ),
    "paired_images": DatasetCase(
        lambda p: {"root": str(write_paired_images(p, size=16)), "image_size": 8, "load_size": 12},
        (((3, 8, 8), torch.float32), ((3, 8, 8), torch.float32)),
    ),
    "unpaired_images": DatasetCase(
        lambda p: {"root": str(write_unpaired_images(p, size=16)), "image_size": 8},
        (((3, 8, 8), torch.float32), ((3, 8, 8), torch.float32)),
    ),
    # one-hot train ids (19 channels) and the photo on the same grid
    "cityscapes_pairs": DatasetCase(
        lambda p: {
            "root": str(write_cityscapes(p, size=(16, 32)).root),
            "label_format": "onehot",
            "image_size": 8,
        },
        (((19, 8, 8), torch.float32), ((3, 8, 8), torch.float32)),
    ),
    "skimage_photos": DatasetCase(
        lambda p: {"photos": ["coins"], "channels": 1}, (((1, 303, 384), torch.float32),)
    ),
}


@pytest.mark.parametrize("name", DATASETS.list())
def test_dataset_contract(name, tmp_path):
    from torchgan_ext.build import build

    case = _table_entry(DATASET_CASES, "dataset", "DATASET_CASES", name)
    # as a config builds it: registry metadata included (super_resolution's source dataset)
    dataset = build(DATASETS, name, case.args(tmp_path), key="data.args")
    assert len(dataset) > 0
    item = dataset[0]
    elements = (item,) if len(case.item) == 1 else item
    if len(case.item) > 1:
        assert isinstance(item, tuple) and len(item) == len(case.item), type(item)
    for element, (shape, dtype) in zip(elements, case.item, strict=True):
        assert isinstance(element, torch.Tensor), type(element)
        assert tuple(element.shape) == shape and element.dtype == dtype, (
            element.shape,
            element.dtype,
        )
        if element.is_floating_point():
            assert torch.isfinite(element).all()
            assert element.min() >= -1 and element.max() <= 1  # images in [-1, 1]


# ==========================================================================================
# optimizers and schedulers (torch.optim by name): a step changes the weights / the lr
# ==========================================================================================
OPTIMIZER_CASES: dict[str, dict[str, Any]] = {
    "adam": {"lr": 1.0e-2},
    "adamw": {"lr": 1.0e-2},
    "sgd": {"lr": 1.0e-2, "momentum": 0.9},
    "rmsprop": {"lr": 1.0e-2},
}

#: Scheduler arguments and the lr factors after steps 1..4 (optimizer lr 1).
SCHEDULER_CASES: dict[str, tuple[dict[str, Any], list[float]]] = {
    "step": ({"step_size": 2, "gamma": 0.5}, [1.0, 0.5, 0.5, 0.25]),
    "multistep": ({"milestones": [1, 3], "gamma": 0.1}, [0.1, 0.1, 0.01, 0.01]),
    "exponential": ({"gamma": 0.5}, [0.5, 0.25, 0.125, 0.0625]),
    "cosine": ({"T_max": 4}, [(1 + math.cos(math.pi * k / 4)) / 2 for k in range(1, 5)]),
    "linear_decay": ({"total": 4, "start": 2}, [1.0, 1.0, 0.5, 0.0]),
    "stepwise_decay": (
        {"total": 4, "decay": 4, "every": 2, "decrement": 0.25},
        [1, 0.75, 0.75, 0.5],
    ),
}


@pytest.mark.parametrize("name", OPTIMIZERS.list())
def test_optimizer_contract(name):
    args = _table_entry(OPTIMIZER_CASES, "optimizer", "OPTIMIZER_CASES", name)
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = OPTIMIZERS.get(name)(model.parameters(), **args)
    model(torch.randn(4, 3)).square().sum().backward()
    optimizer.step()
    for b, p in zip(before, model.parameters(), strict=True):
        assert not torch.equal(b, p) and torch.isfinite(p).all()


@pytest.mark.parametrize("name", SCHEDULERS.list())
def test_scheduler_contract(name):
    args, factors = _table_entry(SCHEDULER_CASES, "scheduler", "SCHEDULER_CASES", name)
    optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
    scheduler = SCHEDULERS.get(name)(optimizer, **args)
    lrs = []
    for _ in factors:
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx(factors, abs=1e-12)


# ==========================================================================================
# callbacks: each one in a real (tiny) training loop, alone with the checkpoint writer
# ==========================================================================================
#: Callbacks that need other models than the tiny DCGAN: ``{name: (generator, discriminator)}``
#: classes and arguments.
CALLBACK_MODELS: dict[str, tuple[Any, dict, Any, dict]] = {
    "progressive_growing": (
        MODELS.get("progan_generator"),
        {"out_size": 16, "out_channels": 1, "fmap_base": 16, "fmap_max": 8},
        MODELS.get("progan_discriminator"),
        {"in_size": 16, "in_channels": 1, "fmap_base": 16, "fmap_max": 8},
    ),
}


def _callback_trainer(tmp_path, callbacks, metrics=None, max_steps=4):
    from torchgan.losses import MinimaxDiscriminatorLoss, MinimaxGeneratorLoss
    from torchgan.models import DCGANDiscriminator, DCGANGenerator

    from torchgan_ext import Trainer

    torch.manual_seed(0)
    adam = {"name": torch.optim.Adam, "args": {"lr": 1.0e-3}}
    g_cls, g_args, d_cls, d_args = (
        DCGANGenerator,
        {"encoding_dims": 8, **G16},
        DCGANDiscriminator,
        D16,
    )
    for name in callbacks:
        g_cls, g_args, d_cls, d_args = CALLBACK_MODELS.get(name, (g_cls, g_args, d_cls, d_args))
    models = {
        "generator": {
            "name": g_cls,
            "args": g_args,
            "optimizer": {
                **adam,
                "scheduler": {
                    "name": torch.optim.lr_scheduler.StepLR,
                    "args": {"step_size": 1, "gamma": 0.5},
                    "interval": "step",
                },
            },
        },
        "discriminator": {"name": d_cls, "args": d_args, "optimizer": adam},
    }
    trainer = Trainer(
        models,
        [MinimaxGeneratorLoss(), MinimaxDiscriminatorLoss()],
        metrics,
        device="cpu",
        sample_size=4,
        out_dir=tmp_path,
        max_steps=max_steps,
        callbacks=callbacks,
    )
    data = torch.rand(16, 1, 16, 16) * 2 - 1
    return trainer, DataLoader(data, batch_size=4, drop_last=True)


def _lr(trainer):
    return trainer.optimizer_generator.param_groups[0]["lr"]


def _check_progress(trainer, tmp_path, stream):
    assert "step 4/4 (100.0%)" in stream.getvalue()


def _check_tensorboard(trainer, tmp_path, stream):
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def _check_samples(trainer, tmp_path, stream):
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.png")) == [
        "step00000002_generator.png",
        "step00000004_generator.png",
    ]


def _check_ema(trainer, tmp_path, stream):
    ema = trainer.ema["generator"].module
    assert trainer.eval_generator is ema
    live = dict(trainer.generator.named_parameters())
    for k, p in ema.named_parameters():  # an average: neither the start nor the live weights
        assert not torch.equal(p, live[k]) and not torch.equal(p, trainer.initial_generator[k])


def _check_evaluation(trainer, tmp_path, stream):
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and '"step": 4' in lines[-1]


def _check_checkpoint(trainer, tmp_path, stream):
    names = sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt-*.pt"))
    assert names == ["ckpt-00000002.pt", "ckpt-00000004.pt"]


def _check_schedulers(trainer, tmp_path, stream):
    assert _lr(trainer) == pytest.approx(1.0e-3 * 0.5**4)


def _check_nonfinite(trainer, tmp_path, stream):
    from torchgan_ext.errors import NonFiniteLossError

    trainer.logger.get_loss_viz().logs["MinimaxGeneratorLoss"].append(torch.tensor(float("nan")))
    with pytest.raises(NonFiniteLossError, match="MinimaxGeneratorLoss"):
        trainer.callbacks["nonfinite_guard"].on_train_batch_end(trainer)


def _check_diffaugment(trainer, tmp_path, stream):
    cb = trainer.callbacks["diffaugment"]
    assert not cb._handles  # the hooks are gone after training: the model is plain again
    x = torch.rand(8, 1, 16, 16)
    cb.on_train_start(trainer)
    seen = []
    handle = trainer.discriminator.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    trainer.discriminator(x)
    handle.remove()
    cb.on_train_end(trainer)
    assert not torch.equal(seen[0], x)


def _check_ada(trainer, tmp_path, stream):
    cb = trainer.callbacks["ada"]
    assert float(cb.p) > 0  # interval 1 and a fast speed: four adjustments of 4 images


def _check_regulariser(trainer, tmp_path, stream):
    names = ("r1_penalty", "r2_penalty", "lecam", "path_length")
    (name,) = (n for n in names if n in trainer.callbacks)
    reg = trainer.callbacks[name]
    assert reg.last_value is not None and torch.isfinite(reg.last_value)
    if name == "lecam":  # anchors: moving averages of the scores, saved with the run
        assert torch.isfinite(reg.anchor_real) and torch.isfinite(reg.anchor_fake)
    else:
        assert reg.last_value > 0
    if name == "path_length":  # the running mean of the lengths, saved with the run
        assert reg.pl_mean > 0


def _check_progressive(trainer, tmp_path, stream):
    cb = trainer.callbacks["progressive_growing"]
    # 4 images a step: steps 1-2 at 4x4, step 3 fades 8x8 in (alpha 0.5), step 4 at 8x8
    assert cb.images == 16 and (cb.level, cb.alpha) == (1, 1.0)
    assert (trainer.generator.level, trainer.discriminator.level) == (1, 1)
    assert tuple(trainer.real_inputs.shape[-2:]) == (8, 8)
    # the optimizer state was cleared when the fade-in began (step 3) and ended (step 4)
    assert {int(s["step"]) for s in trainer.optimizer_generator.state.values()} == {1}


#: Tiny arguments and the observable effect of each callback after 4 steps.
CALLBACK_CASES: dict[str, tuple[dict[str, Any], Callable[..., None]]] = {
    "progress_bar": ({"refresh_rate": 1, "log_every": 2, "force_tty": False}, _check_progress),
    "tensorboard": ({"log_every": 2}, _check_tensorboard),
    "sample_grids": ({"every": 2}, _check_samples),
    "ema": ({"decay": 0.5}, _check_ema),
    "evaluation": ({"every": 2}, _check_evaluation),
    "checkpoint": ({"every": 2, "keep": 5}, _check_checkpoint),
    "lr_schedulers": ({}, _check_schedulers),
    "nonfinite_guard": ({"every": 1}, _check_nonfinite),
    "diffaugment": ({"policy": ["color", "translation", "cutout"]}, _check_diffaugment),
    "ada": ({"p": 0.2, "speed_kimg": 0.01, "interval": 1}, _check_ada),
    "r1_penalty": ({"gamma": 1.0, "every": 2}, _check_regulariser),
    "r2_penalty": ({"gamma": 1.0, "every": 2}, _check_regulariser),
    "lecam": ({"weight": 0.3, "decay": 0.5, "start_step": 2}, _check_regulariser),
    "progressive_growing": ({"stabilise_kimg": 0.004, "fade_kimg": 0.008}, _check_progressive),
    # on the DCGAN generator of this loop: lengths with respect to its input z
    "path_length": ({"every": 2}, _check_regulariser),
}


@pytest.mark.parametrize("name", CALLBACKS.list())
def test_callback_contract(name, tmp_path):
    import io

    from torchgan_ext.callbacks import CALLBACK_HOOKS
    from torchgan_ext.trainer.checkpoint import list_checkpoints, load_checkpoint

    args, check = _table_entry(CALLBACK_CASES, "callback", "CALLBACK_CASES", name)
    args = dict(args)
    stream = io.StringIO()
    if name == "progress_bar":
        args["stream"] = stream
    callback = CALLBACKS.get(name)(**args)
    assert any(callable(getattr(callback, hook, None)) for hook in CALLBACK_HOOKS)
    callbacks = {name: callback}
    if name != "checkpoint":
        callbacks["checkpoint"] = CALLBACKS.get("checkpoint")()
    metrics = None
    if name == "evaluation":
        metric = METRICS.get("inception_score")
        metrics = [metric(extractor=TinyFeatureExtractor(), num_samples=4, splits=2)]
    trainer, loader = _callback_trainer(tmp_path, callbacks, metrics)
    trainer.initial_generator = {
        k: p.detach().clone() for k, p in trainer.generator.named_parameters()
    }
    trainer.train(loader)
    assert trainer.step == 4
    check(trainer, tmp_path, stream)
    if callable(getattr(callback, "state_dict", None)):  # saved under its name, restorable
        state = load_checkpoint(list_checkpoints(tmp_path / "checkpoints")[-1])
        saved = state["callbacks"][name]
        assert saved.keys() == callback.state_dict().keys()
        fresh, _ = _callback_trainer(tmp_path / "fresh", {name: CALLBACKS.get(name)(**args)})
        fresh.load_state_dict(state)
        _assert_same_state(fresh.callbacks[name].state_dict(), callback.state_dict())


def _assert_same_state(a: Any, b: Any) -> None:
    if isinstance(b, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(b, dict):
        assert a.keys() == b.keys()
        for k in b:
            _assert_same_state(a[k], b[k])
    else:
        assert a == b


def test_trainer_switches_configure_the_default_callbacks(tmp_path):
    """The built-in behaviours' keyword switches of a Trainer without ``callbacks`` still work
    (they configure the default callbacks) and are refused beside an explicit list."""
    from torchgan.losses import MinimaxDiscriminatorLoss, MinimaxGeneratorLoss
    from torchgan.models import DCGANDiscriminator, DCGANGenerator

    from torchgan_ext import Trainer

    adam = {"name": torch.optim.Adam, "args": {"lr": 1.0e-3}}
    models = {
        "generator": {
            "name": DCGANGenerator,
            "args": {"encoding_dims": 8, **G16},
            "optimizer": adam,
        },
        "discriminator": {"name": DCGANDiscriminator, "args": D16, "optimizer": adam},
    }
    losses = [MinimaxGeneratorLoss(), MinimaxDiscriminatorLoss()]
    kw = {"device": "cpu", "out_dir": tmp_path}
    t = Trainer(models, losses, ema={"decay": 0.9}, progress=False, checkpoint_every=5, **kw)
    assert "generator" in t.ema and "progress_bar" not in t.callbacks
    assert t.callbacks["checkpoint"].every == 5 and t.callbacks["ema"].decay == 0.9
    with pytest.raises(TypeError, match="ema"):
        Trainer(models, losses, callbacks={}, ema={"decay": 0.9}, **kw)


def test_a_builtin_listed_under_callbacks_runs_in_its_slot(tmp_path):
    from torchgan_ext.runner import build_callbacks
    from torchgan_ext.testing import tiny_config

    cfg = tiny_config(tmp_path / "r")
    cfg["callbacks"] = [{"name": "ema", "args": {"decay": 0.9}}]
    names = list(build_callbacks(config_from_dict(cfg)))
    assert names.index("ema") < names.index("sample_grids") < names.index("evaluation")
    assert names[-1] == "checkpoint"


def test_ema_starts_from_init_from_weights(tmp_path):
    from torchgan_ext.testing import tiny_config

    cfg = tiny_config(tmp_path / "a")
    trainer, _ = build_trainer(config_from_dict(cfg))
    weights = {k: torch.full_like(v, 0.25) for k, v in trainer.generator.state_dict().items()}
    path = tmp_path / "g.pt"
    torch.save(weights, path)
    cfg = tiny_config(tmp_path / "b", trainer={"ema": {"decay": 0.999}})
    cfg["models"]["generator"]["init_from"] = str(path)
    trainer, _ = build_trainer(config_from_dict(cfg))
    ema = trainer.ema["generator"].module.state_dict()
    assert all(torch.equal(ema[k], w) for k, w in weights.items())
    assert trainer.eval_generator is trainer.ema["generator"].module
