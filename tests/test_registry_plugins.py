"""Registries, the pluggy plugin host, entry points, -p / no:NAME, and the autoload switch."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import torchgan_ext
from torchgan_ext import DATASETS, LOSSES, METRICS, MODELS, OPTIMIZERS, SCHEDULERS, load_plugins
from torchgan_ext._plugins import DISABLE_AUTOLOAD_ENV, ENTRY_POINT_GROUP
from torchgan_ext._registry import Registry
from torchgan_ext.cli import main
from torchgan_ext.errors import DuplicateComponentError, PluginError, UnknownComponentError

TORCHGAN_MODELS = [
    "dcgan_generator",
    "dcgan_discriminator",
    "conditional_gan_generator",
    "conditional_gan_discriminator",
    "acgan_generator",
    "acgan_discriminator",
    "infogan_generator",
    "infogan_discriminator",
    "autoencoding_generator",
    "autoencoding_discriminator",
]
TORCHGAN_LOSSES = [
    "minimax_generator",
    "minimax_discriminator",
    "least_squares_generator",
    "least_squares_discriminator",
    "wasserstein_generator",
    "wasserstein_discriminator",
    "wasserstein_gradient_penalty",
    "boundary_equilibrium_generator",
    "boundary_equilibrium_discriminator",
    "energy_based_generator",
    "energy_based_discriminator",
    "energy_based_pulling_away_term",
    "dragan_gradient_penalty",
    "historical_average_generator",
    "historical_average_discriminator",
    "feature_matching_generator",
    "auxiliary_classifier_generator",
    "auxiliary_classifier_discriminator",
    "mutual_information_penalty",
]

PLUGIN_SOURCE = textwrap.dedent(
    '''
    """A third-party plugin: a tiny generator/discriminator and a loss pair."""
    import torch
    from torch import nn
    from torchgan.losses import MinimaxDiscriminatorLoss, MinimaxGeneratorLoss
    from torchgan.models import Discriminator, Generator

    from torchgan_ext import hookimpl


    class TinyGenerator(Generator):
        data_arguments = {"out_size": "image_size", "out_channels": "channels"}

        def __init__(self, encoding_dims=4, out_size=16, out_channels=1):
            super().__init__(encoding_dims)
            n_out = out_channels * out_size**2
            self.net = nn.Sequential(nn.Linear(encoding_dims, n_out), nn.Tanh())
            self.shape = (out_channels, out_size, out_size)

        def forward(self, z):
            return self.net(z).view(-1, *self.shape)


    class TinyDiscriminator(Discriminator):
        def __init__(self, in_size=16, in_channels=1):
            super().__init__(in_channels)
            self.net = nn.Linear(in_channels * in_size**2, 1)

        def forward(self, x):
            return self.net(x.flatten(1)).squeeze(1)


    class TinyGeneratorLoss(MinimaxGeneratorLoss):
        pass


    class TinyDiscriminatorLoss(MinimaxDiscriminatorLoss):
        pass


    @hookimpl
    def torchgan_ext_register_models(registry):
        registry.register("tiny_plugin_generator", TinyGenerator)
        registry.register("tiny_plugin_discriminator", TinyDiscriminator)


    class TinyBar:
        """A plugin's progress "bar": one line per step, and a count that survives resume."""

        def __init__(self, prefix="tinybar"):
            self.prefix = prefix
            self.calls = 0

        def on_train_batch_end(self, trainer):
            self.calls += 1
            print(f"{self.prefix} step {trainer.step} calls {self.calls}", flush=True)

        def state_dict(self):
            return {"calls": self.calls}

        def load_state_dict(self, state):
            self.calls = int(state["calls"])


    @hookimpl
    def torchgan_ext_register_losses(registry):
        registry.register("tiny_plugin_generator_loss", TinyGeneratorLoss)
        registry.register("tiny_plugin_discriminator_loss", TinyDiscriminatorLoss)


    @hookimpl
    def torchgan_ext_register_callbacks(registry):
        registry.register("tiny_bar", TinyBar)
    '''
)


def write_fake_distribution(site: Path, module: str = "tiny_gan_plugin", source=PLUGIN_SOURCE):
    """A faithful installed distribution: a module plus a dist-info with entry_points.txt."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source)
    dist = site / f"{module.replace('_', '-')}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{module} = {module}\n")
    return site


@pytest.fixture
def fake_dist(tmp_path, monkeypatch):
    site = write_fake_distribution(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in list(sys.modules):
        if name.startswith("tiny_gan_plugin") or name.startswith("broken_plugin"):
            del sys.modules[name]
    load_plugins(autoload=False)


def tiny_plugin_config(out_dir):
    return {
        "seed": 0,
        "device": "cpu",
        "out_dir": str(out_dir),
        "data": {
            "name": "digits",
            "args": {"image_size": 16, "split": "test"},
            "loader": {"batch_size": 8},
        },
        "models": {
            "generator": {
                "name": "tiny_plugin_generator",
                "optimizer": {"name": "adam", "args": {"lr": 1.0e-3}},
            },
            "discriminator": {
                "name": "tiny_plugin_discriminator",
                "optimizer": {"name": "adam", "args": {"lr": 1.0e-3}},
            },
        },
        "losses": [
            {"name": "tiny_plugin_generator_loss"},
            {"name": "tiny_plugin_discriminator_loss"},
        ],
        "trainer": {"max_steps": 3, "sample_size": 4},
        "logging": {"progress": False, "tensorboard": False},
    }


def test_torchgan_components_are_registered():
    assert set(TORCHGAN_MODELS) <= set(MODELS.list())
    assert set(TORCHGAN_LOSSES) <= set(LOSSES.list())
    assert "classifier_score" in METRICS
    assert {"adam", "adamw", "sgd", "rmsprop"} <= set(OPTIMIZERS.list())
    assert {"step", "multistep", "cosine", "linear_decay"} <= set(SCHEDULERS.list())
    assert "digits" in DATASETS
    from torchgan.models import DCGANGenerator

    assert MODELS.get("dcgan_generator") is DCGANGenerator
    assert MODELS.entry("dcgan_generator").registered_by == (
        "torchgan_ext.plugins.torchgan_components"
    )


def test_every_name_is_snake_case():
    for registry in (MODELS, LOSSES, METRICS, DATASETS, OPTIMIZERS, SCHEDULERS):
        for name in registry.list():
            assert name == name.lower() and " " not in name and "-" not in name


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownComponentError, match=r"did you mean 'dcgan_generator'"):
        MODELS.get("dcgan_genrator")
    with pytest.raises(UnknownComponentError, match=r"valid: "):
        OPTIMIZERS.get("zzzzzz")


def test_duplicate_registration_names_both_registrants():
    reg = Registry("models")
    reg.register("a_model", object, registered_by="pkg_one.plugin")
    with pytest.raises(DuplicateComponentError, match=r"first by pkg_one\.plugin.*pkg_two"):
        reg.register("a_model", object, registered_by="pkg_two")


def test_bad_names_are_refused():
    reg = Registry("models")
    for bad in ("CamelCase", "with-dash", "1starts_with_digit", ""):
        with pytest.raises(ValueError, match="snake_case"):
            reg.register(bad, object)


def test_list_with_pattern():
    assert MODELS.list("dcgan_*") == ["dcgan_discriminator", "dcgan_generator"]


def test_entry_point_plugin_registers_and_trains(fake_dist, tmp_path):
    load_plugins()
    assert "tiny_plugin_generator" in MODELS
    assert MODELS.entry("tiny_plugin_generator").registered_by == "tiny_gan_plugin"
    config = torchgan_ext.config.config_from_dict(tiny_plugin_config(tmp_path / "run"))
    result = torchgan_ext.run(config)
    assert result.step == 3
    assert (tmp_path / "run" / "checkpoints" / "ckpt-00000003.pt").is_file()


def test_autoload_switch_skips_entry_points(fake_dist, monkeypatch):
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    load_plugins()
    assert "tiny_plugin_generator" not in MODELS
    # ... but -p still loads it explicitly
    load_plugins(["tiny_gan_plugin"])
    assert "tiny_plugin_generator" in MODELS


def test_block_plugin_by_name(fake_dist):
    load_plugins(["no:tiny_gan_plugin"])
    assert "tiny_plugin_generator" not in MODELS
    load_plugins(["no:torchgan"])
    assert "dcgan_generator" not in MODELS
    assert "digits" in DATASETS


def test_duplicate_between_plugins_names_both_modules(fake_dist, tmp_path, monkeypatch):
    dup = tmp_path / "dup"
    dup.mkdir()
    (dup / "dup_plugin.py").write_text(
        "from torchgan_ext import hookimpl\n"
        "from torchgan.models import DCGANGenerator\n"
        "@hookimpl\n"
        "def torchgan_ext_register_models(registry):\n"
        "    registry.register('dcgan_generator', DCGANGenerator)\n"
    )
    monkeypatch.syspath_prepend(str(dup))
    with pytest.raises(DuplicateComponentError) as info:
        load_plugins(["dup_plugin"])
    msg = str(info.value)
    assert "torchgan_ext.plugins.torchgan_components" in msg and "dup_plugin" in msg


def test_plugin_import_error_is_reported_with_cause(tmp_path, monkeypatch):
    site = write_fake_distribution(
        tmp_path / "site", module="broken_plugin", source="import does_not_exist_xyz\n"
    )
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(PluginError, match=r"broken_plugin.*ModuleNotFoundError.*does_not_exist"):
        load_plugins()
    try:
        load_plugins()
    except PluginError as e:
        assert isinstance(e.__cause__, ModuleNotFoundError)
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    load_plugins()  # the broken plugin is skipped when autoload is off


def test_plugin_with_unknown_hook_is_refused(tmp_path, monkeypatch):
    (tmp_path / "typo_plugin.py").write_text(
        "from torchgan_ext import hookimpl\n"
        "@hookimpl\n"
        "def torchgan_ext_register_modles(registry):\n"
        "    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"torchgan_ext_register_modles.*valid hooks"):
        load_plugins(["typo_plugin"])


def test_cli_list_and_config_plugins(fake_dist, tmp_path, capsys):
    assert main(["--list", "models"]) == 0
    out = capsys.readouterr().out.split()
    assert "tiny_plugin_generator" in out and "dcgan_generator" in out
    assert main(["--list", "losses", "-p", "no:tiny_gan_plugin"]) == 0
    assert "tiny_plugin_generator_loss" not in capsys.readouterr().out


def test_config_plugins_key_loads_module(tmp_path, monkeypatch, capsys):
    import yaml

    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    (tmp_path / "cfg_plugin.py").write_text(PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = tiny_plugin_config(tmp_path / "run")
    cfg["plugins"] = ["cfg_plugin"]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path)]) == 0, capsys.readouterr().err
    assert (tmp_path / "run" / "config.yaml").is_file()
    sys.modules.pop("cfg_plugin", None)


@pytest.mark.slow
def test_real_pip_installed_plugin_trains_through_cli(tmp_path):
    """A throw-away distribution installed with pip shows up in --list and trains from YAML."""
    import yaml

    src = tmp_path / "src"
    (src / "tiny_pip_plugin").mkdir(parents=True)
    (src / "tiny_pip_plugin" / "__init__.py").write_text(PLUGIN_SOURCE)
    (src / "setup.py").write_text(
        "from setuptools import setup\n"
        "setup(name='tiny-pip-plugin', version='0.1', packages=['tiny_pip_plugin'],\n"
        f"      entry_points={{'{ENTRY_POINT_GROUP}': ['tiny_pip = tiny_pip_plugin']}})\n"
    )
    target = tmp_path / "target"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop(DISABLE_AUTOLOAD_ENV, None)
    cmd = [sys.executable, "-m", "torchgan_ext.cli"]
    listed = subprocess.run(cmd + ["--list", "models"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "tiny_plugin_generator" in listed.stdout.split()
    cfg_path = tmp_path / "plugin.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny_plugin_config(tmp_path / "run")))
    ran = subprocess.run(cmd + [str(cfg_path)], env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    state = torch.load(tmp_path / "run" / "checkpoints" / "ckpt-00000003.pt", weights_only=True)
    assert state["step"] == 3

    # the plugin's callback: listed, run from YAML, its state saved and restored by --resume,
    # and with logging.progress: false its bar is the only one
    listed = subprocess.run(cmd + ["--list", "callbacks"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert {"tiny_bar", "progress_bar", "checkpoint"} <= set(listed.stdout.split())
    cfg = tiny_plugin_config(tmp_path / "bar_run")
    cfg["callbacks"] = [{"name": "tiny_bar", "args": {"prefix": "plugin-bar"}}]
    cfg_path.write_text(yaml.safe_dump(cfg))
    first = subprocess.run(cmd + [str(cfg_path)], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "plugin-bar step 3 calls 3" in first.stdout
    assert " it/s" not in first.stdout  # the built-in bar's line format
    state = torch.load(tmp_path / "bar_run" / "checkpoints" / "ckpt-00000003.pt", weights_only=True)
    assert state["callbacks"]["tiny_bar"] == {"calls": 3}
    resumed = subprocess.run(
        cmd + [str(cfg_path), "--resume", "--set", "trainer.max_steps=5"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "plugin-bar step 4 calls 4" in resumed.stdout  # 3 restored, not a fresh 0
    assert "plugin-bar step 5 calls 5" in resumed.stdout


def test_builtin_progress_bar_is_a_registered_callback(fake_dist, tmp_path, capsys):
    """logging.progress switches the registered progress_bar callback; a plugin's bar from
    callbacks: runs beside it, or alone when the built-in one is off."""
    from torchgan_ext import CALLBACKS
    from torchgan_ext.callbacks import ProgressBarCallback
    from torchgan_ext.config import config_from_dict
    from torchgan_ext.runner import run

    load_plugins()
    assert CALLBACKS.get("progress_bar") is ProgressBarCallback
    assert CALLBACKS.entry("progress_bar").registered_by == "torchgan_ext.plugins.builtin"
    for progress in (True, False):
        cfg = tiny_plugin_config(tmp_path / f"run_{progress}")
        cfg["logging"] = {"progress": progress, "tensorboard": False, "log_every": 1}
        cfg["callbacks"] = [{"name": "tiny_bar"}]
        result = run(config_from_dict(cfg))
        out = capsys.readouterr().out
        assert ("progress_bar" in result.trainer.callbacks) is progress
        assert "tinybar step 3 calls 3" in out
        assert (" it/s" in out) is progress


def test_callback_listed_twice_or_unknown_is_a_config_error(fake_dist, tmp_path):
    from torchgan_ext.config import config_from_dict
    from torchgan_ext.errors import ConfigError
    from torchgan_ext.runner import build_trainer

    load_plugins()
    cfg = tiny_plugin_config(tmp_path / "r")
    cfg["logging"] = {"progress": True, "tensorboard": False}
    cfg["callbacks"] = [{"name": "progress_bar"}]
    with pytest.raises(ConfigError, match="already in the run") as e:
        build_trainer(config_from_dict(cfg))
    assert e.value.key == "callbacks.0.name"
    cfg["callbacks"] = [{"name": "tiny_barr"}]
    with pytest.raises(ConfigError, match="did you mean 'tiny_bar'"):
        build_trainer(config_from_dict(cfg))
