"""Components raise standard exceptions naming their argument; the launcher adds the config key."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import Dataset

from torchgan_ext import _validation
from torchgan_ext.build import construct as _construct
from torchgan_ext.data.skip_corrupt import SkipCorrupt
from torchgan_ext.errors import ConfigError
from torchgan_ext.preflight import validate_components as _validate_components


# ------------------------------------------------------------------------------------------
# the shared checks
# ------------------------------------------------------------------------------------------
def test_close_matches():
    assert _validation.close_matches("tran", ["train", "test"]) == "did you mean 'train'?"
    assert _validation.close_matches("x", ["b", "a"]) == "valid: a, b"


@pytest.mark.parametrize(
    "call, kind, message",
    [
        (lambda: _validation.check_positive_int(0, "n"), ValueError, "n: must be a positive"),
        (lambda: _validation.check_positive_int(True, "n"), TypeError, "n: must be a positive"),
        (lambda: _validation.check_positive_int("3", "n"), TypeError, "n: "),
        (lambda: _validation.check_int(1, "k", minimum=2), ValueError, "k: must be an integer"),
        (lambda: _validation.check_number(-1, "w"), ValueError, "w: must be a number >= 0"),
        (lambda: _validation.check_number("1", "w"), TypeError, "w: "),
        (lambda: _validation.check_bool(1, "flip"), TypeError, "flip: expected true or false"),
        (
            lambda: _validation.check_choice("tran", "split", ["train", "test"], "split"),
            ValueError,
            "split: unknown split 'tran'; did you mean 'train'?",
        ),
    ],
)
def test_checks_name_the_argument(call, kind, message):
    with pytest.raises(kind) as info:
        call()
    assert str(info.value).startswith(message)
    assert not isinstance(info.value, ConfigError)


def test_checks_return_the_value():
    assert _validation.check_positive_int(3, "n") == 3
    assert _validation.check_int(0, "n") == 0
    assert _validation.check_number(0.5, "w") == 0.5
    assert _validation.check_choice("a", "x", ("a", "b")) == "a"
    assert _validation.check_bool(False, "flip") is False


# ------------------------------------------------------------------------------------------
# the launcher turns them into config errors
# ------------------------------------------------------------------------------------------
def _raising(exc):
    def factory(root=None, photos=None, size=None):
        raise exc

    return factory


@pytest.mark.parametrize(
    "exc, key, message",
    [
        (ValueError("root: /x does not exist"), "data.args.root", "/x does not exist"),
        (TypeError("size: expected an int"), "data.args.size", "expected an int"),
        (ValueError("photos.2: unknown photo 'cta'"), "data.args.photos.2", "unknown photo 'cta'"),
        (FileNotFoundError("root: no weights at /w.pt"), "data.args.root", "no weights at /w.pt"),
        # not an argument of the factory: the whole first line, under the args key
        (ValueError("lr: bad\nsecond line"), "data.args", "building dataset 'x' failed: lr: bad"),
        (FileNotFoundError("weights /w.pt missing"), "data.args", "weights /w.pt missing"),
        (AssertionError("must be a power of 2"), "data.args", "failed: must be a power of 2"),
    ],
)
def test_construct_names_the_argument(exc, key, message):
    with pytest.raises(ConfigError) as info:
        _construct(_raising(exc), {}, "data.args", "dataset 'x'")
    assert info.value.key == key
    assert message in info.value.message
    assert "\n" not in info.value.message


def test_construct_matches_the_given_arguments_of_a_kwargs_factory():
    def factory(**kwargs):
        raise ValueError("depth: too deep")

    with pytest.raises(ConfigError) as info:
        _construct(factory, {"depth": 9}, "models.generator.args", "model 'x'")
    assert info.value.key == "models.generator.args.depth"


def test_construct_keeps_a_plugins_own_config_error():
    own = _raising(ConfigError("bad", key="data.args.root"))
    with pytest.raises(ConfigError) as info:
        _construct(own, {}, "data.args", "dataset 'x'")
    assert info.value.key == "data.args.root"
    keyless = _raising(ConfigError("bad"))
    with pytest.raises(ConfigError) as info:
        _construct(keyless, {}, "data.args", "dataset 'x'")
    assert info.value.key == "data.args"


class _Checked:
    def __init__(self, weight: float = 1.0, exc: Exception | None = None):
        self.exc = exc

    def validate(self, trainer):
        if self.exc is not None:
            raise self.exc


@pytest.mark.parametrize(
    "exc, key, message",
    [
        (ValueError("weight: needs a discriminator"), "losses.1.args.weight", "needs a discrim"),
        (ValueError("no labels"), "losses.1", "cannot train these models: no labels"),
        (TypeError("wrong batch"), "losses.1", "wrong batch"),
        (FileNotFoundError("missing /w.pt"), "losses.1", "missing /w.pt"),
    ],
)
def test_validate_errors_name_the_component(exc, key, message):
    components = [_Checked(), _Checked(exc=exc)]
    with pytest.raises(ConfigError) as info:
        _validate_components(components, "losses", SimpleNamespace(), "cannot train these models")
    assert info.value.key == key and message in info.value.message


def test_validate_errors_of_metrics():
    with pytest.raises(ConfigError) as info:
        _validate_components([_Checked(exc=ValueError("x"))], "metrics", SimpleNamespace())
    assert info.value.key == "metrics.0" and info.value.message == "x"


# ------------------------------------------------------------------------------------------
# data errors while loading
# ------------------------------------------------------------------------------------------
class _Faulty(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 1:
            raise ValueError(f"cannot decode image /data/{i}.jpg: corrupt")
        if i == 2:
            raise FileNotFoundError(f"missing image file /data/{i}.jpg")
        return torch.tensor(i)


def test_skip_corrupt_skips_standard_errors():
    ds = SkipCorrupt(_Faulty())
    with pytest.warns(RuntimeWarning, match="/data/[12].jpg"):
        assert int(ds[1]) == 3
    assert ds.skipped == 2
    with (
        pytest.warns(RuntimeWarning),
        pytest.raises(RuntimeError, match="2 unreadable samples in a row.*/data/2.jpg"),
    ):
        SkipCorrupt(_Faulty(), max_consecutive=2)[1]
