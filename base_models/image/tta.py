"""Test-time augmentation views and train-time augmentations, each a small registry.

A *view* is a deterministic transform of a batch ``x`` of shape ``(B, C, H, W)`` (square
images, so that transposes and quarter turns keep the shape). View 0 of every model is
always ``"plain"`` (the image as is); the views a user asks for follow in the order given.

An *augmentation* is a random transform of a training batch, drawn per sample from a
``torch.Generator`` so that a fixed seed repeats.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ._errors import ImageTrainerError

if TYPE_CHECKING:  # torch is imported lazily by the functions that need it
    import torch

__all__ = [
    "VIEWS",
    "AUGMENTS",
    "register_view",
    "register_augment",
    "resolve_views",
    "apply_view",
    "get_augment",
]

View = Callable[["torch.Tensor"], "torch.Tensor"]
Augment = Callable[["torch.Tensor", "torch.Generator"], "torch.Tensor"]

VIEWS: dict[str, View] = {}
AUGMENTS: dict[str, Augment] = {}

#: shorthands that expand to several views
VIEW_GROUPS: dict[str, tuple[str, ...]] = {
    "flips": ("hflip", "vflip"),
    "d4": ("hflip", "vflip", "rot90", "rot180", "rot270", "transpose", "transverse"),
}


def register_view(name: str) -> Callable[[View], View]:
    """Decorator: add a deterministic TTA view under ``name``."""

    def deco(fn: View) -> View:
        VIEWS[name] = fn
        return fn

    return deco


def register_augment(name: str) -> Callable[[Augment], Augment]:
    """Decorator: add a random train-time augmentation under ``name``."""

    def deco(fn: Augment) -> Augment:
        AUGMENTS[name] = fn
        return fn

    return deco


@register_view("plain")
def _plain(x):
    return x


@register_view("hflip")
def _hflip(x):
    return x.flip(-1)


@register_view("vflip")
def _vflip(x):
    return x.flip(-2)


@register_view("rot90")
def _rot90(x):
    return x.rot90(1, (-2, -1))


@register_view("rot180")
def _rot180(x):
    return x.flip(-2, -1)


@register_view("rot270")
def _rot270(x):
    return x.rot90(3, (-2, -1))


@register_view("transpose")
def _transpose(x):
    return x.transpose(-2, -1)


@register_view("transverse")
def _transverse(x):
    return x.transpose(-2, -1).flip(-2, -1)


def resolve_views(spec: str | Sequence[str] | None) -> list[str]:
    """Turn ``"hflip,vflip"`` (or a list, or ``None``) into the model's view names.

    ``"plain"`` is always first; duplicates are dropped; ``"flips"`` and ``"d4"`` expand to
    several views.

    Raises
    ------
    ImageTrainerError
        For an unknown view name; the message lists the known ones.
    """
    if spec is None:
        names: list[str] = []
    elif isinstance(spec, str):
        names = [s.strip() for s in spec.split(",") if s.strip()]
    else:
        names = [str(s).strip() for s in spec]
    out = ["plain"]
    for name in names:
        expanded = VIEW_GROUPS.get(name, (name,))
        for view in expanded:
            if view not in VIEWS:
                choices = ", ".join(list(VIEWS) + list(VIEW_GROUPS))
                raise ImageTrainerError(f"unknown TTA view '{view}'; choose from: {choices}")
            if view not in out:
                out.append(view)
    return out


def apply_view(name: str, x):
    """Apply the TTA view ``name`` to a batch ``x`` of shape ``(B, C, H, W)``."""
    try:
        fn = VIEWS[name]
    except KeyError:
        raise ImageTrainerError(
            f"unknown TTA view '{name}'; choose from: {', '.join(VIEWS)}"
        ) from None
    return fn(x)


def get_augment(name: str) -> Augment:
    """The train-time augmentation called ``name`` (unknown names list the choices)."""
    try:
        return AUGMENTS[name]
    except KeyError:
        raise ImageTrainerError(
            f"unknown augmentation '{name}'; choose from: {', '.join(AUGMENTS)}"
        ) from None


def _coin(x, gen, p: float = 0.5):
    import torch

    return (torch.rand(x.shape[0], generator=gen) < p).to(x.device)


def _where(mask, a, b):
    return a.where(mask.view(-1, 1, 1, 1), b)


@register_augment("none")
def _aug_none(x, gen):
    return x


@register_augment("hflip")
def _aug_hflip(x, gen):
    return _where(_coin(x, gen), x.flip(-1), x)


@register_augment("flips")
def _aug_flips(x, gen):
    """A random element of the dihedral group D4 per sample (flips and quarter turns)."""
    x = _where(_coin(x, gen), x.flip(-1), x)
    x = _where(_coin(x, gen), x.flip(-2), x)
    return _where(_coin(x, gen), x.transpose(-2, -1), x)


@register_augment("shift")
def _aug_shift(x, gen):
    """Translate each sample by up to 1/8 of its side (reflect padding)."""
    import torch
    import torch.nn.functional as F

    b, _, h, w = x.shape
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect" if pad < min(h, w) else "replicate")
    offs = torch.randint(0, 2 * pad + 1, (b, 2), generator=gen).tolist()
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offs)])


@register_augment("shift+hflip")
def _aug_shift_hflip(x, gen):
    return _aug_hflip(_aug_shift(x, gen), gen)
