"""TTA prediction: a model's logits under every view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..tta import apply_view
from ._device import _autocast, _loader, _norm_stats


def predict_views(
    model,
    ds,
    views: Sequence[str],
    *,
    device: str | Any = "cpu",
    amp: bool = True,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = False,
    description: str = "predict",
) -> np.ndarray:
    """The model's logits for every item of ``ds`` under every TTA view.

    Parameters
    ----------
    ds : torch Dataset of ``(uint8 tensor (3, S, S), anything)``
    views : list of str
        TTA view names (see :data:`base_models.image.tta.VIEWS`).

    Returns
    -------
    ndarray of shape (n_views, len(ds), n_classes), float32
    """
    import torch

    device = torch.device(device) if not isinstance(device, torch.device) else device
    amp = bool(amp and device.type == "cuda")
    model.to(device).eval()
    mean, std = _norm_stats(model, device)
    loader = _loader(ds, batch_size, num_workers=num_workers)
    outs: list[list[np.ndarray]] = [[] for _ in views]
    from oof_common.cli import progress_bar

    with progress_bar(transient=True) as prog, torch.inference_mode():
        task = prog.add_task(description, total=len(loader)) if progress else None
        for xb, _ in loader:
            xb = (xb.to(device).float() - mean) / std
            for v, name in enumerate(views):
                with _autocast(device, amp):
                    out = model(apply_view(name, xb))
                outs[v].append(out.float().cpu().numpy())
            if task is not None:
                prog.advance(task)
    return np.stack([np.concatenate(o, axis=0) for o in outs]).astype(np.float32, copy=False)
