"""The epoch loop: one model trained on a fold, the best epoch kept, a checkpoint per epoch."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from .._errors import ImageTrainerError
from ..tta import get_augment
from ._config import FoldFit, Log, TrainConfig, fold_seed
from ._device import _autocast, _loader, _norm_stats


def _evaluate(model, loader, device, amp, mean, std) -> tuple[float, float]:
    """Validation (plain view): mean cross-entropy (no smoothing) and accuracy."""
    import torch
    import torch.nn.functional as F

    model.eval()
    tot_loss, correct, n = 0.0, 0, 0
    with torch.inference_mode():
        for xb, yb in loader:
            xb = (xb.to(device).float() - mean) / std
            yb = yb.to(device)
            with _autocast(device, amp):
                out = model(xb)
            out = out.float()
            tot_loss += float(F.cross_entropy(out, yb, reduction="sum"))
            hard = yb if yb.ndim == 1 else yb.argmax(1)
            correct += int((out.argmax(1) == hard).sum())
            n += len(xb)
    return tot_loss / max(n, 1), correct / max(n, 1)


def _atomic_torch_save(obj, path: Path) -> None:
    import torch

    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def fit_fold(
    model,
    train_ds,
    val_ds,
    config: TrainConfig,
    *,
    fold: int = 0,
    device: str | Any = "cpu",
    amp: bool = True,
    num_workers: int = 0,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    log: Log | None = None,
) -> FoldFit:
    """Train ``model`` on ``train_ds`` and keep its best epoch on ``val_ds``.

    Parameters
    ----------
    model : torch.nn.Module
        Outputs ``(B, n_classes)`` logits for a normalised ``(B, 3, S, S)`` batch.
    train_ds, val_ds : torch Dataset
        Items ``(uint8 tensor (3, S, S), target)``; the target is a class index (int64) or
        a soft target vector of shape ``(n_classes,)`` (float32).
    config : TrainConfig
    fold : int
        Only seeds the random streams (with ``config.seed``) and labels the progress bar.
    checkpoint : path, optional
        Written (atomically) after every epoch; when it exists at the start, training
        continues from it. It must come from the same ``config``.

    Returns
    -------
    FoldFit
        The kept epoch (1-based), its validation accuracy and loss, the per-epoch history
        and the kept weights (``state``, already loaded into ``model``).
    """
    import torch
    import torch.nn.functional as F

    device = torch.device(device) if not isinstance(device, torch.device) else device
    amp = bool(amp and device.type == "cuda")
    s = fold_seed(config.seed, fold)
    torch.manual_seed(s)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    model.to(device)
    mean, std = _norm_stats(model, device)
    augment = get_augment(config.augment)

    n_train = len(train_ds)
    if n_train < 2:
        raise ImageTrainerError(f"fold {fold} has {n_train} training image(s); need at least 2")
    bs = min(config.batch_size, n_train)
    drop_last = n_train % bs == 1  # a batch of one breaks batch norm
    loader_gen = torch.Generator().manual_seed(s)
    aug_gen = torch.Generator().manual_seed(s + 1)
    train_loader = _loader(
        train_ds,
        bs,
        shuffle=True,
        generator=loader_gen,
        num_workers=num_workers,
        drop_last=drop_last,
    )
    val_loader = _loader(val_ds, max(bs, 64), num_workers=num_workers)
    steps = len(train_loader)
    total = steps * config.epochs
    warm = int(min(round(config.warmup_epochs * steps), 0.3 * total))

    def lr_lambda(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    start_epoch = 0
    history: list[dict[str, float]] = []
    best: dict[str, Any] | None = None
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    if ckpt_path is not None and ckpt_path.is_file():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)  # no pickled code
        if ck.get("config") != config.to_dict() or ck.get("fold") != fold:
            raise ImageTrainerError(
                f"checkpoint '{ckpt_path}' was written with other settings; delete it or "
                "rerun with the settings it was made with (or pass --overwrite)"
            )
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        scaler.load_state_dict(ck["scaler"])
        loader_gen.set_state(ck["loader_gen"])
        aug_gen.set_state(ck["aug_gen"])
        torch.set_rng_state(ck["torch_rng"])
        start_epoch, history, best = ck["epoch"], ck["history"], ck["best"]
        if log and start_epoch < config.epochs:
            log(f"fold {fold}: resuming from epoch {start_epoch + 1} ({ckpt_path})")

    from oof_common.cli import progress_bar

    t0 = time.perf_counter()
    seen = 0
    with progress_bar(transient=True) as prog:
        # the whole fold (every remaining epoch) with its time left, above the epoch's bar
        whole = (prog.add_task(f"fold {fold}: {config.epochs - start_epoch} epoch(s)",
                               total=(config.epochs - start_epoch) * steps) if progress else None)
        for epoch in range(start_epoch, config.epochs):
            model.train()
            task = None
            if progress:
                task = prog.add_task(f"fold {fold} epoch {epoch + 1}/{config.epochs}", total=steps)
            run_loss, run_n = 0.0, 0
            for xb, yb in train_loader:
                xb = (augment(xb.to(device).float(), aug_gen) - mean) / std
                yb = yb.to(device)
                with _autocast(device, amp):
                    out = model(xb)
                    loss = F.cross_entropy(out.float(), yb, label_smoothing=config.label_smoothing)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                sched.step()
                run_loss += float(loss.detach()) * len(xb)
                run_n += len(xb)
                seen += len(xb)
                if whole is not None:
                    prog.advance(whole)
                if task is not None:
                    prog.update(
                        task,
                        advance=1,
                        description=(
                            f"fold {fold} epoch {epoch + 1}/{config.epochs} "
                            f"loss {run_loss / run_n:.4f}"
                        ),
                    )
            val_loss, val_acc = _evaluate(model, val_loader, device, amp, mean, std)
            rec = {
                "epoch": epoch + 1,
                "train_loss": run_loss / max(run_n, 1),
                "val_loss": val_loss,
                "val_accuracy": val_acc,
            }
            history.append(rec)
            if task is not None:
                prog.update(
                    task,
                    description=(
                        f"fold {fold} epoch {epoch + 1}/{config.epochs} loss "
                        f"{rec['train_loss']:.4f} val_loss {val_loss:.4f} val_acc {val_acc:.4f}"
                    ),
                )
            if best is None or _better(rec, best, config.select_by):
                best = {
                    **rec,
                    "state": {
                        k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()
                    },
                }
            if ckpt_path is not None:
                _atomic_torch_save(
                    {
                        "config": config.to_dict(),
                        "fold": fold,
                        "epoch": epoch + 1,
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(),
                        "scaler": scaler.state_dict(),
                        "loader_gen": loader_gen.get_state(),
                        "aug_gen": aug_gen.get_state(),
                        "torch_rng": torch.get_rng_state(),
                        "history": history,
                        "best": best,
                    },
                    ckpt_path,
                )
            if log:  # after the checkpoint: a logged epoch is a saved epoch
                log(
                    f"fold {fold} epoch {epoch + 1}/{config.epochs}: train loss "
                    f"{rec['train_loss']:.4f}, val loss {val_loss:.4f}, val accuracy "
                    f"{val_acc:.4f}"
                )
    seconds = time.perf_counter() - t0
    assert best is not None  # epochs >= 1 is checked by TrainConfig
    model.load_state_dict(best["state"])
    return FoldFit(
        best_epoch=int(best["epoch"]),
        val_accuracy=float(best["val_accuracy"]),
        val_loss=float(best["val_loss"]),
        history=list(history),
        seconds=seconds,
        train_images_per_s=seen / seconds if seen and seconds > 0 else float("nan"),
        state=best["state"],
    )


def _better(rec: dict, best: dict, select_by: str) -> bool:
    if select_by == "last":
        return True
    if select_by == "loss":
        return rec["val_loss"] < best["val_loss"]
    return (rec["val_accuracy"], -rec["val_loss"]) > (best["val_accuracy"], -best["val_loss"])
