"""Metrics at :math:`\\psi = 1`: switch off a generator's truncation for a while.

A generator that applies the truncation trick in eval mode exposes it as a ``truncation_psi``
attribute (:class:`~torchgan_ext.models.stylegan2.StyleGAN2Generator`; 1 means none). Sample
grids and ``--sample`` use the configured value, but metrics must see the untruncated
generator to be comparable with published figures (StyleGAN2, https://arxiv.org/abs/1912.04958;
the authors' metric code, NVlabs/stylegan2-ada-pytorch ``metrics/metric_utils.py``, calls the
generator with its default :math:`\\psi = 1`), so the trainer's metric evaluation and
``--evaluate`` run inside :func:`untruncated`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["untruncated"]


@contextmanager
def untruncated(*modules: nn.Module | None) -> Iterator[None]:
    """Set ``truncation_psi`` to 1 on every module (and submodule) that has one as an
    attribute; restore the previous values on exit, also after an error.

    Wrappers are seen through: a compiled or distributed module holds the generator as a
    submodule. ``None`` and modules without truncation are ignored.

    Args:
        modules: The models about to be evaluated (each may appear more than once).
    """
    saved: dict[int, tuple[nn.Module, object]] = {}
    for module in modules:
        if module is None:
            continue
        for m in module.modules():
            if "truncation_psi" in vars(m) and id(m) not in saved:
                saved[id(m)] = (m, m.truncation_psi)
    try:
        for m, _ in saved.values():
            m.truncation_psi = 1.0
        yield
    finally:
        for m, psi in saved.values():
            m.truncation_psi = psi
