"""Domain labels of multi-domain translation: attribute vectors and exclusive groups.

`StarGAN <https://arxiv.org/abs/1711.09020>`_ conditions its generator on a target *domain*,
given as a vector of binary attributes (CelebA: ``Black_Hair, Blond_Hair, Brown_Hair, Male,
Young``) or as one of ``n`` exclusive classes (RaFD expressions). Some attributes exclude each
other: a face has one hair colour. An **exclusive group** is a set of attribute indices of which
a target sets at most one; setting one clears the others.

Conventions used by the StarGAN models, losses and the ``attribute_accuracy`` metric:

* multi-label attributes are ``float`` tensors ``[B, c]`` of 0/1;
* exclusive domains (a class index per image) are integer tensors ``[B]``; they are turned
  into one-hot vectors, and all ``c`` domains form one exclusive group;
* a **single-attribute flip** of attribute ``j`` (one column of the paper's figures) toggles
  ``j`` when it is in no group, and otherwise sets ``j`` and clears the rest of its group
  (so "to blond hair" of a blond face keeps the labels unchanged).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._validation import close_matches

__all__ = [
    "CELEBA_HAIR_COLORS",
    "Groups",
    "resolve_exclusive_groups",
    "as_attribute_vector",
    "is_domain_index",
    "flip_attribute",
    "single_flip_targets",
    "random_targets",
    "check_exclusive",
]

#: CelebA's hair-colour attributes: the default exclusive group (members not selected are
#: dropped; a group needs at least two selected members).
CELEBA_HAIR_COLORS: tuple[str, ...] = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")

#: Exclusive groups as tuples of attribute indices.
Groups = tuple[tuple[int, ...], ...]


def resolve_exclusive_groups(
    groups: Sequence[Sequence[str | int]] | None,
    attributes: Sequence[str] | None,
    c_dim: int,
    name: str = "exclusive_groups",
) -> Groups:
    """Turn exclusive groups given by attribute names or indices into index tuples.

    Args:
        groups: Lists of attribute names (need ``attributes``) or indices. ``None``: the
            hair colours of :data:`CELEBA_HAIR_COLORS` among ``attributes`` (no group when fewer
            than two are selected or the names are unknown). ``[]``: no group.
        attributes: The attribute names, in label order (or ``None``).
        c_dim: Number of attributes.
        name: The argument's name, for messages.

    Returns:
        Index tuples in ascending order.

    Raises:
        TypeError: Groups or members of the wrong type (the message starts with ``name``).
        ValueError: An unknown name or an index out of range, a group of fewer than two
            members, or an attribute in two groups (the message starts with ``name.<group>``).
    """
    if groups is None:
        if attributes is None:
            return ()
        hair = tuple(i for i, a in enumerate(attributes) if a in CELEBA_HAIR_COLORS)
        return (hair,) if len(hair) >= 2 else ()
    if isinstance(groups, str) or not isinstance(groups, Sequence):
        raise _error(
            name, f"expected a list of lists of attribute names, got {groups!r}", TypeError
        )
    out: list[tuple[int, ...]] = []
    seen: dict[int, int] = {}
    for g, group in enumerate(groups):
        where = f"{name}.{g}"
        if isinstance(group, str) or not isinstance(group, Sequence):
            raise _error(
                where, f"expected a list of attribute names or indices, got {group!r}", TypeError
            )
        indices = [_index_of(member, attributes, c_dim, where) for member in group]
        if len(set(indices)) < 2:
            raise _error(where, f"a group needs at least two different attributes, got {group!r}")
        for i in indices:
            if i in seen and seen[i] != g:
                attr = attributes[i] if attributes is not None else i
                raise _error(
                    where,
                    f"attribute {attr!r} is also in group {seen[i]}; an attribute may belong "
                    "to one exclusive group only",
                )
            seen[i] = g
        out.append(tuple(sorted(set(indices))))
    return tuple(out)


def _error(name: str, message: str, kind: type[Exception] = ValueError) -> Exception:
    return kind(f"{name}: {message}")


def _index_of(member: Any, attributes: Sequence[str] | None, c_dim: int, name: str) -> int:
    if isinstance(member, int) and not isinstance(member, bool):
        if not 0 <= member < c_dim:
            raise _error(name, f"index {member} is out of range [0, {c_dim})")
        return member
    if isinstance(member, str):
        if attributes is None:
            raise _error(
                name,
                f"attribute {member!r} is given by name but the attribute names are unknown; "
                "pass attributes (taken from the dataset) or use indices",
            )
        if member not in attributes:
            raise _error(name, f"unknown attribute {member!r}; {close_matches(member, attributes)}")
        return list(attributes).index(member)
    raise _error(name, f"expected an attribute name or index, got {member!r}", TypeError)


def is_domain_index(labels: torch.Tensor) -> bool:
    """Whether ``labels`` are exclusive domain indices (an integer tensor ``[B]``)."""
    return labels.dim() == 1 and not labels.is_floating_point()


def as_attribute_vector(
    labels: torch.Tensor, c_dim: int, groups: Groups = ()
) -> tuple[torch.Tensor, Groups]:
    """Float ``[B, c_dim]`` labels and the groups that apply to them.

    Domain indices ``[B]`` become one-hot vectors, with all ``c_dim`` domains as one group;
    attribute vectors are returned as float with ``groups`` unchanged.

    Raises:
        ValueError: The labels do not have ``c_dim`` entries (or a domain index is out of range).
    """
    if is_domain_index(labels):
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= c_dim):
            raise ValueError(f"domain labels must be in [0, {c_dim}), got {labels.tolist()}")
        vec = torch.nn.functional.one_hot(labels.long(), c_dim).float()
        return vec, (tuple(range(c_dim)),)
    if labels.dim() != 2 or labels.size(1) != c_dim:
        raise ValueError(
            f"expected attribute labels of shape [B, {c_dim}] or domain indices [B], got "
            f"{tuple(labels.shape)}"
        )
    return labels.float(), groups


def flip_attribute(labels: torch.Tensor, index: int, groups: Groups = ()) -> torch.Tensor:
    """Target labels that change attribute ``index`` of every row of ``labels`` ``[B, c]``.

    Outside a group the attribute is toggled; inside a group it is set and the other members
    are cleared.
    """
    out = labels.clone()
    for group in groups:
        if index in group:
            out[:, list(group)] = 0
            out[:, index] = 1
            return out
    out[:, index] = 1 - out[:, index]
    return out


def single_flip_targets(labels: torch.Tensor, groups: Groups = ()) -> list[torch.Tensor]:
    """One target per attribute: ``[flip_attribute(labels, j, groups) for j in range(c)]``."""
    return [flip_attribute(labels, j, groups) for j in range(labels.size(1))]


def random_targets(
    batch_size: int,
    c_dim: int,
    groups: Groups = (),
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random attribute vectors ``[B, c_dim]``: each attribute on with probability 1/2, and
    exactly one member of each exclusive group on (chosen uniformly)."""
    out = (torch.rand(batch_size, c_dim, generator=generator) < 0.5).float()
    for group in groups:
        pick = torch.randint(len(group), (batch_size,), generator=generator)
        out[:, list(group)] = 0
        out[torch.arange(batch_size), torch.tensor(group)[pick]] = 1
    return out.to(device) if device is not None else out


def check_exclusive(labels: torch.Tensor, groups: Groups) -> torch.Tensor:
    """Per row: whether at most one member of every group is set (``bool [B]``)."""
    ok = torch.ones(labels.size(0), dtype=torch.bool, device=labels.device)
    for group in groups:
        ok &= labels[:, list(group)].sum(1) <= 1
    return ok
