"""The runtime: the device, mixed precision, the data loader and the input normalisation."""

from __future__ import annotations

from .._errors import ImageTrainerError


def resolve_device(device: str):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ImageTrainerError(
            f"--device {device} was asked for but torch sees no CUDA GPU; use --device cpu"
        )
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ImageTrainerError(f"unknown device '{device}'; use auto, cpu or cuda") from exc


def _autocast(device, amp: bool):
    import torch

    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast(device.type, enabled=False)


def _norm_stats(model, device):
    import torch

    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean = cfg.get("mean", (0.485, 0.456, 0.406))
    std = cfg.get("std", (0.229, 0.224, 0.225))
    mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1) * 255
    std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1) * 255
    return mean, std


def _loader(ds, batch_size, *, shuffle=False, generator=None, num_workers=0, drop_last=False):
    import torch

    return torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        drop_last=drop_last,
        persistent_workers=False,
        pin_memory=False,
    )
