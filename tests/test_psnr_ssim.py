"""PSNR / SSIM: known values on synthetic images, the Y channel, border crops, the metrics."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torchgan_ext import METRICS
from torchgan_ext.metrics import PSNR, SSIM, psnr, rgb_to_y, ssim
from torchgan_ext.metrics.psnr_ssim import to_pixel_range
from torchgan_ext.models.srgan import bicubic_upscale


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    w = torch.outer(g, g)
    return w / w.sum()


def _ssim_by_hand(x: torch.Tensor, y: torch.Tensor) -> float:
    """Wang et al.'s SSIM of two 2-D images in [0, 255], window by window ('valid' positions)."""
    w = _gaussian_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            a, b = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            mu_a, mu_b = (w * a).sum(), (w * b).sum()
            var_a = (w * (a - mu_a) ** 2).sum()
            var_b = (w * (b - mu_b) ** 2).sum()
            cov = (w * (a - mu_a) * (b - mu_b)).sum()
            values.append(
                ((2 * mu_a * mu_b + c1) * (2 * cov + c2))
                / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
            )
    return float(torch.stack(values).mean())


def test_registered():
    assert METRICS.get("psnr") is PSNR
    assert METRICS.get("ssim") is SSIM


# ------------------------------------------------------------------------------------------
# Y channel
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rgb, y",
    [
        ((0, 0, 0), 16.0),
        ((255, 255, 255), 235.0),
        ((255, 0, 0), 16.0 + 65.481),
        ((0, 255, 0), 16.0 + 128.553),
        ((0, 0, 255), 16.0 + 24.966),
        ((100, 150, 200), 16.0 + (65.481 * 100 + 128.553 * 150 + 24.966 * 200) / 255),
    ],
)
def test_rgb_to_y_bt601_values(rgb, y):
    image = torch.tensor(rgb, dtype=torch.float64).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    out = rgb_to_y(image)
    assert out.shape == (1, 1, 2, 2)
    assert torch.allclose(out, torch.full_like(out, y), atol=1e-9)


def test_rgb_to_y_rejects_grey():
    with pytest.raises(ValueError, match="RGB"):
        rgb_to_y(torch.zeros(1, 1, 4, 4))


def test_to_pixel_range_clamps_and_quantizes():
    x = torch.tensor([-2.0, -1.0, 0.0, 0.001, 1.0, 3.0]).view(1, 1, 1, 6)
    assert to_pixel_range(x).flatten().tolist() == [0, 0, 128, 128, 255, 255]
    raw = to_pixel_range(x, quantize=False).flatten().tolist()
    assert raw[2] == 127.5 and raw[3] == pytest.approx(127.6275)


# ------------------------------------------------------------------------------------------
# PSNR
# ------------------------------------------------------------------------------------------
def test_psnr_of_a_known_mse():
    hr = torch.full((2, 3, 16, 16), 100.0)
    sr = hr.clone()
    sr[0] += 5.0  # MSE 25
    sr[1, :, ::2] -= 10.0  # half the pixels off by 10: MSE 50
    values = psnr(sr, hr, channel="rgb")
    assert values.shape == (2,)
    # (torchmetrics takes the log of the data range in float32: ~1e-6 dB)
    assert values[0].item() == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-5)
    assert values[1].item() == pytest.approx(10 * math.log10(255**2 / 50), abs=1e-5)


def test_psnr_y_channel_of_grey_rgb_images():
    # R = G = B: Y = 16 + v * 219 / 255, so an offset d in every channel is d * 219 / 255 in Y
    hr = torch.full((1, 3, 8, 8), 80.0)
    sr = hr + 6.0
    expected = 10 * math.log10(255**2 / (6.0 * 219 / 255) ** 2)
    assert psnr(sr, hr, channel="y").item() == pytest.approx(expected, abs=1e-5)


def test_psnr_crop_border_ignores_the_border():
    hr = torch.full((1, 3, 12, 12), 50.0)
    sr = hr.clone()
    sr[..., :2, :] = 0.0  # only the top two rows are wrong
    assert math.isfinite(psnr(sr, hr, crop_border=0).item())
    assert psnr(sr, hr, crop_border=2).item() == math.inf
    with pytest.raises(ValueError, match="too small"):
        psnr(sr, hr, crop_border=6)


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 4))


# ------------------------------------------------------------------------------------------
# SSIM
# ------------------------------------------------------------------------------------------
def test_ssim_of_identical_images_is_one():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 24, 24, generator=g) * 255
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(ssim(x, x, channel="rgb"), torch.ones(2, dtype=torch.float64))


def test_ssim_of_two_constant_images():
    # flat images: sigma terms vanish, SSIM = (2 a b + C1) / (a^2 + b^2 + C1)
    a, b = 60.0, 90.0
    c1 = (0.01 * 255) ** 2
    x = torch.full((1, 1, 16, 16), a)
    y = torch.full((1, 1, 16, 16), b)
    assert ssim(x, y).item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-12)


def test_ssim_equals_a_window_by_window_computation():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, 15, 17, generator=g, dtype=torch.float64) * 255
    y = (x + torch.randn(1, 1, 15, 17, generator=g, dtype=torch.float64) * 20).clamp(0, 255)
    expected = _ssim_by_hand(x[0, 0], y[0, 0])
    assert ssim(x, y).item() == pytest.approx(expected, abs=1e-10)
    assert ssim(y, x).item() == pytest.approx(expected, abs=1e-10)  # symmetric
    assert expected < 0.99


def test_ssim_rgb_is_the_channel_mean_and_y_uses_luma():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 13, 13, generator=g, dtype=torch.float64) * 255
    y = (x + 30 * torch.rand(1, 3, 13, 13, generator=g, dtype=torch.float64)).clamp(0, 255)
    per_channel = [_ssim_by_hand(x[0, c], y[0, c]) for c in range(3)]
    assert ssim(x, y, channel="rgb").item() == pytest.approx(sum(per_channel) / 3, abs=1e-10)
    luma = _ssim_by_hand(rgb_to_y(x)[0, 0], rgb_to_y(y)[0, 0])
    assert ssim(x, y, channel="y").item() == pytest.approx(luma, abs=1e-10)


def test_ssim_too_small():
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16), crop_border=3)


# ------------------------------------------------------------------------------------------
# the metrics on a validation loader
# ------------------------------------------------------------------------------------------
class _Bicubic(nn.Module):
    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.weight = nn.Parameter(torch.zeros(()))  # so that train()/eval() have a module

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return bicubic_upscale(lr, self.scale) + self.weight


class _Oracle(nn.Module):
    """Returns the HR images it was given, batch by batch (a perfect SR model)."""

    def __init__(self, targets: torch.Tensor) -> None:
        super().__init__()
        self.targets = targets
        self.calls = 0

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        out = self.targets[self.calls : self.calls + len(lr)]
        self.calls += len(lr)
        return out


def _val_loader(n: int = 3, scale: int = 4, size: int = 32, batch_size: int = 2) -> DataLoader:
    g = torch.Generator().manual_seed(3)
    hr = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    hr = (to_pixel_range(hr) / 127.5 - 1).float()  # 8-bit values, as from image files
    lr = hr[..., ::scale, ::scale].contiguous()  # any LR will do here
    return DataLoader(TensorDataset(lr, hr), batch_size=batch_size)


@pytest.mark.parametrize("cls", [PSNR, SSIM])
def test_bicubic_generator_scores_the_bicubic_baseline(cls):
    loader = _val_loader()
    metric = cls()
    value = metric.metric_ops(_Bicubic(4), "cpu", val_loader=loader)
    assert value == pytest.approx(metric.last_result["bicubic"], abs=1e-12)
    assert metric.last_result["num_images"] == 3
    assert metric.last_result["crop_border"] == 4  # the scale, from the shapes
    assert metric.last_result["channel"] == "y"


def test_perfect_generator_and_max_images():
    loader = _val_loader()
    hr = torch.cat([b[1] for b in loader])
    metric = PSNR(max_images=2)
    assert metric.metric_ops(_Oracle(hr), "cpu", val_loader=loader) == math.inf
    assert metric.last_result["num_images"] == 2
    assert SSIM().metric_ops(_Oracle(hr), "cpu", val_loader=loader) == pytest.approx(1.0)


def test_metric_value_is_the_mean_of_per_image_values():
    loader = _val_loader(n=3, batch_size=2)
    gen = _Bicubic(4)
    with torch.no_grad():
        gen.weight.fill_(0.05)
    metric = PSNR(channel="rgb", crop_border=2, bicubic_baseline=False)
    value = metric.metric_ops(gen, "cpu", val_loader=loader)
    lr, hr = next(iter(DataLoader(loader.dataset, batch_size=3)))
    sr = to_pixel_range(gen(lr).detach())
    expected = psnr(sr, to_pixel_range(hr), "rgb", 2).mean().item()
    assert value == pytest.approx(expected, abs=1e-12)
    assert metric.last_result["bicubic"] is None


def test_metric_restores_training_mode():
    gen = _Bicubic(4).train()
    PSNR().metric_ops(gen, "cpu", val_loader=_val_loader())
    assert gen.training


def test_metric_needs_a_validation_split():
    with pytest.raises(ValueError, match="validation split"):
        PSNR().metric_ops(_Bicubic(4), "cpu", val_loader=None)


def test_metric_reports_a_wrong_scale():
    with pytest.raises(ValueError, match="check the generator's scale"):
        PSNR().metric_ops(_Bicubic(2), "cpu", val_loader=_val_loader())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"channel": "ycbcr"}, "unknown channel"),
        ({"crop_border": -1}, "crop_border"),
        ({"max_images": 0}, "max_images"),
    ],
)
def test_metric_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        PSNR(**kwargs)
    assert str(info.value).startswith(f"{next(iter(kwargs))}: ")
