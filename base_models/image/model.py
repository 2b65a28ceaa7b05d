"""Building a timm model by name and loading a local checkpoint into it."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from ._errors import ImageTrainerError

__all__ = ["check_arch", "create_model", "load_checkpoint"]


def check_arch(arch: str) -> None:
    """Raise, listing close matches from ``timm.list_models()``, when ``arch`` is unknown."""
    import timm

    if timm.is_model(arch):
        return
    names = timm.list_models()
    close = difflib.get_close_matches(arch, names, n=8, cutoff=0.6)
    if not close:
        close = [n for n in names if arch.lower() in n.lower()][:8]
    hint = f"close matches: {', '.join(close)}" if close else "see timm.list_models()"
    raise ImageTrainerError(f"unknown timm architecture '{arch}'; {hint}")


def create_model(arch: str, num_classes: int, img_size: int, pretrained: str | None = None):
    """Build a timm model and load the local checkpoint if given.

    Calls ``timm.create_model(arch, pretrained=False, num_classes=C)`` (with ``img_size`` for
    the architectures that take it, such as ViTs), then loads ``pretrained`` if given.
    """
    import timm

    check_arch(arch)
    try:
        model = timm.create_model(
            arch, pretrained=False, num_classes=num_classes, img_size=img_size
        )
    except TypeError:
        model = timm.create_model(arch, pretrained=False, num_classes=num_classes)
    if pretrained not in (None, "", "none"):
        load_checkpoint(model, pretrained)
    return model


def _unwrap(obj):
    for key in ("state_dict", "model", "model_state", "module"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            return _unwrap(obj[key])
    return obj


def load_checkpoint(model, path: str | os.PathLike) -> dict:
    """Load a local state dict into ``model``.

    Tensors whose shape differs (the classifier head of a checkpoint trained for other
    classes) are skipped.

    Returns
    -------
    dict
        ``{"loaded": n, "skipped": [names], "missing": [names]}``.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ImageTrainerError(
            f"checkpoint '{path}' does not exist; pass --pretrained none to train from scratch"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ImageTrainerError(f"cannot read checkpoint '{path}': {exc}") from exc
    state = _unwrap(state)
    if not isinstance(state, dict):
        raise ImageTrainerError(f"checkpoint '{path}' holds no state dict")
    state = {(k[7:] if k.startswith("module.") else k): v for k, v in state.items()}
    own = model.state_dict()
    keep = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    skipped = sorted(k for k in state if k in own and k not in keep)
    if not keep:
        raise ImageTrainerError(
            f"checkpoint '{path}' matches none of the parameters of this architecture "
            f"(first keys: {', '.join(list(state)[:3])}); is it for another --arch?"
        )
    model.load_state_dict(keep, strict=False)
    missing = sorted(k for k in own if k not in keep)
    return {"loaded": len(keep), "skipped": skipped, "missing": missing}
