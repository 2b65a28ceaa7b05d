"""K-fold training of a timm model over the store's folds, with TTA predictions.

:func:`train_image_model` is the library entry (the ``base-models image`` command is a thin
wrapper over it). The two pieces it is made of work on any dataset of tensors:

- :func:`fit_fold` trains one model (AdamW, cosine schedule with linear warm-up, label
  smoothing, AMP on CUDA, best epoch kept by validation metric) and saves a resumable
  checkpoint after every epoch;
- :func:`inner_split` holds out a stratified, seeded part of a fold's training rows: the
  validation set on which the epoch is selected. The fold's own rows, whose predictions
  become OOF, are never used to choose anything unless ``select_epoch_on="oof"`` is asked
  for (then the manifest records it, and ``oof ls`` and ``blend report`` flag the model).
- :func:`predict_views` returns the model's logits under every TTA view,
  ``(n_views, n, n_classes)``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ImageTrainerError
from .tta import AUGMENTS, apply_view, get_augment, resolve_views

__all__ = [
    "TrainConfig",
    "FoldFit",
    "SELECT_BY",
    "SELECT_EPOCH_ON",
    "fit_fold",
    "inner_split",
    "predict_views",
    "train_image_model",
    "default_work_dir",
]

#: how the kept epoch is chosen: best validation accuracy (ties: lower loss), lowest
#: validation loss, or simply the last epoch (no selection on the held-out fold).
SELECT_BY = ("accuracy", "loss", "last")
#: where the epoch is selected: an inner validation split of the training folds (honest,
#: the default) or the OOF fold itself (optimistic OOF scores; flagged in the manifest).
SELECT_EPOCH_ON = ("inner", "oof")

Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights (saved in the manifest's params)."""

    arch: str
    img_size: int = 224
    epochs: int = 5
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    augment: str = "hflip"
    select_by: str = "last"
    seed: int = 0
    pretrained: str | None = None
    select_epoch_on: str = "inner"
    inner_fraction: float = 0.1

    def __post_init__(self) -> None:
        checks = [
            ("img_size", self.img_size >= 8, "an integer >= 8"),
            ("epochs", self.epochs >= 1, "an integer >= 1"),
            ("batch_size", self.batch_size >= 2, "an integer >= 2"),
            ("lr", self.lr > 0, "a float > 0"),
            ("weight_decay", self.weight_decay >= 0, "a float >= 0"),
            ("warmup_epochs", self.warmup_epochs >= 0, "a float >= 0"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "a float in [0, 1)"),
            ("inner_fraction", 0 < self.inner_fraction < 1, "a float in (0, 1)"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise ImageTrainerError(
                    f"the '{name}' parameter must be {rule}; got {getattr(self, name)!r}"
                )
        if self.augment not in AUGMENTS:
            raise ImageTrainerError(
                f"unknown augmentation '{self.augment}'; choose from: {', '.join(AUGMENTS)}"
            )
        if self.select_by not in SELECT_BY:
            raise ImageTrainerError(
                f"the 'select_by' parameter must be one of {', '.join(SELECT_BY)}; "
                f"got {self.select_by!r}"
            )
        if self.select_epoch_on not in SELECT_EPOCH_ON:
            raise ImageTrainerError(
                f"the 'select_epoch_on' parameter must be one of {', '.join(SELECT_EPOCH_ON)}; "
                f"got {self.select_epoch_on!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return asdict(self)


@dataclass(frozen=True)
class FoldFit:
    """What :func:`fit_fold` returns. ``state`` is the kept epoch's state dict (on CPU)."""

    best_epoch: int
    val_accuracy: float
    val_loss: float
    history: list[dict[str, float]]
    seconds: float
    train_images_per_s: float
    state: dict = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields, without the state dict."""
        d = asdict(self)
        d.pop("state")
        return d

    def summary(self) -> str:
        """One line: kept epoch, its validation accuracy and loss, and training throughput."""
        return (
            f"best epoch {self.best_epoch}: val accuracy {self.val_accuracy:.4f}, "
            f"val loss {self.val_loss:.4f} ({self.train_images_per_s:.0f} train images/s)"
        )


def fold_seed(seed: int, fold: int) -> int:
    """A 31-bit seed for ``fold`` derived from the user's ``seed``."""
    return int(
        np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(fold) & 0xFFFFFFFF]).generate_state(1)[
            0
        ]
        & 0x7FFFFFFF
    )


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


def _autocast(device, amp: bool):
    import torch

    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast(device.type, enabled=False)


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


def inner_split(rows: np.ndarray, targets: np.ndarray, fraction: float, seed: int):
    """Split a fold's training rows into rows to fit and rows to select the epoch on.

    Stratified by class (the argmax of soft targets) and seeded: of each class's ``n``
    rows, ``round(fraction * n)`` are held out (at least one when ``n >= 2``), so every
    class is seen on both sides when it can be.

    Returns
    -------
    fit_rows, select_rows : ndarray of int
        Disjoint, sorted, together ``rows``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    t = np.asarray(targets)
    labels = t[rows].argmax(axis=1) if t.ndim == 2 else t[rows]
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        members = rows[labels == c]
        n_held = max(int(round(fraction * len(members))), 1 if len(members) >= 2 else 0)
        held.append(rng.permutation(members)[:n_held])
    select_rows = np.sort(np.concatenate(held)) if held else rows[:0]
    fit_rows = np.setdiff1d(rows, select_rows)
    if len(select_rows) == 0 or len(fit_rows) == 0:
        raise ImageTrainerError(
            f"cannot hold out an inner validation split from {len(rows)} training rows; "
            "pass --select-by last (no epoch selection) or more rows"
        )
    return fit_rows, select_rows


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


# --------------------------------------------------------------------------- orchestration


def default_work_dir(store_uri: str) -> Path:
    """``<store>.work`` beside a local store; ``./.base-models-work`` for remote stores."""
    uri = str(store_uri)
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    if "://" in uri:
        return Path.cwd() / ".base-models-work"
    p = Path(uri).resolve()
    return p.parent / (p.name + ".work")


def _safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", s)


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _image_fold(job: dict, k: int) -> tuple[dict, list, list | None]:
    """Train fold ``k``'s model; return its record and its OOF and test logits per TTA view.

    It writes nothing to the store: the caller writes the blocks inside its transaction of
    the model (a task on another worker cannot take the model's lock the caller holds).
    """
    import torch

    from .data import TorchImages
    from .model import create_model

    config, views, wd = job["config"], job["views"], job["wd"]
    dev = job["device"]
    dev = resolve_device(dev) if isinstance(dev, str) else dev
    folds, targets, test_ids = job["folds"], job["targets"], job["test_ids"]
    train_src, test_src, n_workers = job["train_src"], job["test_src"], job["n_workers"]
    progress, log = job["progress"], job["log"]
    say = log or (lambda _msg: None)
    tr = np.flatnonzero(folds != k)
    va = np.flatnonzero(folds == k)
    # the rows the epoch is selected on: never fold k's own (the OOF rows) unless asked
    if config.select_epoch_on == "oof":
        fit_rows, sel_rows = tr, va
    elif config.select_by == "last":  # nothing selected: fit every training row
        fit_rows, sel_rows = tr, tr[:0]
    else:
        fit_rows, sel_rows = inner_split(tr, targets, config.inner_fraction,
                                         fold_seed(config.seed, k))
    if len(sel_rows) == 0:
        sel_rows = va  # only reported (history), never used to choose: select_by last
    torch.manual_seed(fold_seed(config.seed, k))
    model = create_model(job["arch"], job["n_classes"], config.img_size, config.pretrained)
    ckpt = wd / f"fold{k}.pt"
    fit = fit_fold(
        model,
        TorchImages(train_src, fit_rows, targets[fit_rows]),
        TorchImages(train_src, sel_rows, targets[sel_rows]),
        config,
        fold=k,
        device=dev,
        amp=True,
        num_workers=n_workers,
        checkpoint=ckpt,
        progress=progress,
        log=log,
    )
    say(f"fold {k}: {fit.summary()}")
    t0 = time.perf_counter()
    oof = predict_views(
        model,
        TorchImages(train_src, va, None),
        views,
        device=dev,
        batch_size=max(config.batch_size, 64),
        num_workers=n_workers,
        progress=progress,
        description=f"fold {k} OOF x{len(views)} TTA",
    )
    test = (
        predict_views(
            model,
            TorchImages(test_src, np.arange(len(test_src)), None),
            views,
            device=dev,
            batch_size=max(config.batch_size, 64),
            num_workers=n_workers,
            progress=progress,
            description=f"fold {k} test x{len(views)} TTA",
        )
        if len(test_ids)
        else None
    )
    seconds = time.perf_counter() - t0
    n_pred = (len(va) + len(test_ids)) * len(views)
    rec = {**fit.to_dict(), "tta_images_per_s": n_pred / seconds if seconds > 0 else None}
    if ckpt.exists():
        ckpt.unlink()
    del model
    return rec, [np.asarray(o) for o in oof], None if test is None else [np.asarray(t) for t in test]


def train_image_model(
    store,
    images_dir: str | os.PathLike,
    labels=None,
    *,
    arch: str,
    id_col: str = "id",
    label_col: str | None = None,
    test_images_dir: str | os.PathLike | None = None,
    name: str | None = None,
    pretrained: str | None = None,
    img_size: int = 224,
    epochs: int = 5,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    warmup_epochs: float = 1.0,
    label_smoothing: float = 0.0,
    augment: str = "hflip",
    select_by: str = "last",
    tta: str | Sequence[str] | None = None,
    device: str = "auto",
    seed: int = 0,
    num_workers: int | None = None,
    cache: bool | str = "auto",
    work_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    threads: int | None = None,
    progress: bool = True,
    log: Log | None = None,
    executor: Any = None,
    select_epoch_on: str = "inner",
    inner_fraction: float = 0.1,
) -> dict:
    """Train one ``arch`` model per store fold and write its OOF and test logits.

    For every fold ``k`` of the store, a model is trained on the rows of the other folds;
    by default (``select_by="last"``) its last epoch is kept, nothing being chosen from the
    labels, and every training row is fitted. With ``select_by="accuracy"`` or ``"loss"`` the
    best epoch is chosen on an inner validation split of those rows
    (``select_epoch_on="inner"``: ``inner_fraction`` of them, stratified and seeded), which
    the model is then not fitted on. It predicts the rows of fold ``k`` (OOF)
    and the whole test set under every TTA view (view 0 is the plain image). Logits are
    written block by block, then the manifest (kind ``"logits"``).

    Parameters
    ----------
    store : oof_store.Store or str
        The store (or its URI): its ids, folds, classes, targets and test ids.
    images_dir : path
        Holds the image of store row ``x`` as ``x`` or ``x.<png|jpg|jpeg|...>``.
    labels : path or DataFrame, optional
        A labels file (CSV, TSV or Parquet) with the column ``id_col`` (and ``label_col``
        when given); it must list exactly the store's rows, and its labels must agree with
        the store's targets. ``None`` skips this check.
    test_images_dir : path, optional
        Where the test images (named by ``store.test_ids``) are; default ``images_dir``.
    name : str, optional
        The model's name in the store; default ``<arch>_<img_size>``.
    tta : str or list of str
        Extra TTA views, e.g. ``"hflip,vflip"``; ``"plain"`` is always view 0.
    cache : bool or "auto"
        Decode every image once into memory ("auto": when it fits in 2 GiB).
    work_dir : path, optional
        Where per-epoch checkpoints and per-fold records go; default ``<store>.work``.
    overwrite : bool
        Remove an existing model of this name (and its checkpoints) first.
    threads : int, optional
        torch CPU threads while training (restored afterwards); on a busy machine 1 can be
        several times faster than torch's default of one per core.
    executor : oof_store.distributed.Executor, optional
        Trains the folds as independent tasks (e.g. Ray tasks, each asking for one GPU when
        the model trains on CUDA). The decoded images are shared once; each task opens the
        store from its URI and writes its fold's blocks; the manifest is written here once
        every fold is in. Seeds are per fold (``fold_seed``).
    select_epoch_on : {"inner", "oof"}
        Where the epoch is selected. ``"oof"`` selects it on fold ``k`` itself, the fold
        whose predictions become OOF: optimistic OOF scores, recorded in the manifest
        (``params.select_epoch_on``) and flagged by ``oof ls`` and ``blend report``.
    inner_fraction : float
        Share of each fold's training rows held out to select the epoch on (default 0.1).

    Returns
    -------
    dict
        The manifest written by ``store.finish_model``.
    """
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        if int(threads) < 1:
            raise ImageTrainerError(f"the 'threads' parameter must be >= 1; got {threads!r}")
        torch.set_num_threads(int(threads))
    try:
        return _train_image_model(
            store,
            images_dir,
            labels,
            arch=arch,
            id_col=id_col,
            label_col=label_col,
            test_images_dir=test_images_dir,
            name=name,
            pretrained=pretrained,
            img_size=img_size,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            warmup_epochs=warmup_epochs,
            label_smoothing=label_smoothing,
            augment=augment,
            select_by=select_by,
            tta=tta,
            device=device,
            seed=seed,
            num_workers=num_workers,
            cache=cache,
            work_dir=work_dir,
            overwrite=overwrite,
            progress=progress,
            log=log,
            executor=executor,
            select_epoch_on=select_epoch_on,
            inner_fraction=inner_fraction,
        )
    finally:
        torch.set_num_threads(before)


def _train_image_model(
    store,
    images_dir,
    labels,
    *,
    arch,
    id_col,
    label_col,
    test_images_dir,
    name,
    pretrained,
    img_size,
    epochs,
    batch_size,
    lr,
    weight_decay,
    warmup_epochs,
    label_smoothing,
    augment,
    select_by,
    tta,
    device,
    seed,
    num_workers,
    cache,
    work_dir,
    overwrite,
    progress,
    log,
    executor=None,
    select_epoch_on="inner",
    inner_fraction=0.1,
) -> dict:
    import torch

    from oof_store import Store

    if isinstance(store, (str, os.PathLike)):
        store = Store(str(store))
    if store.task not in ("binary", "multiclass", "softclass"):
        raise ImageTrainerError(
            f"the image trainer needs a classification store; this store's task is '{store.task}'"
        )
    config = TrainConfig(
        arch=arch,
        img_size=int(img_size),
        epochs=int(epochs),
        batch_size=int(batch_size),
        lr=float(lr),
        weight_decay=float(weight_decay),
        warmup_epochs=float(warmup_epochs),
        label_smoothing=float(label_smoothing),
        augment=augment,
        select_by=select_by,
        seed=int(seed),
        pretrained=None if pretrained in (None, "", "none") else str(pretrained),
        select_epoch_on=select_epoch_on,
        inner_fraction=float(inner_fraction),
    )
    views = resolve_views(tta)
    from .model import check_arch

    check_arch(arch)
    if config.pretrained is not None and not Path(config.pretrained).is_file():
        raise ImageTrainerError(
            f"checkpoint '{config.pretrained}' does not exist; pass --pretrained none to "
            "train from scratch"
        )
    dev = resolve_device(device)
    name = name or _safe_name(f"{arch}_{img_size}")
    store.has_block("oof", name, int(store.fold_ids[0]), 0)  # raises for a bad model name
    say = log or (lambda _msg: None)
    identity = {"config": config.to_dict(), "tta_views": views}

    # ---- an existing model of this name (removed only once the inputs are checked)
    remove_existing = False
    if name in store.models(include_incomplete=False):
        if overwrite:
            remove_existing = True
        else:
            man = store.manifest(name)
            prev = man.get("params") or {}
            if prev.get("config") == config.to_dict() and list(man.get("tta_views") or []) == views:
                say(f"model '{name}' is already complete in the store; nothing to do")
                return man
            raise ImageTrainerError(
                f"the store already has a model '{name}' trained with other settings; "
                "pass another --name or --overwrite"
            )
    elif overwrite and name in store.models(include_incomplete=True):
        remove_existing = True

    # ---- inputs, all checked before any training
    from .data import (
        ImageSource,
        check_labels,
        check_readable,
        read_labels,
        resolve_image_paths,
    )

    ids = np.asarray(store.ids).astype(str)
    test_ids = np.asarray(store.test_ids).astype(str)
    class_names = list(store.class_names)
    n_classes = len(class_names)
    if labels is not None:
        if isinstance(labels, (str, os.PathLike)):
            source = f"labels file '{labels}'"
            labels_df = read_labels(labels, id_col, label_col)
        else:
            source = "the labels table"
            import pandas as pd

            labels_df = pd.DataFrame({"id": labels[id_col].astype(str).to_numpy()})
            if label_col is not None:
                labels_df["label"] = labels[label_col].astype(str).to_numpy()
        check_labels(
            labels_df,
            ids,
            class_names,
            None if store.task == "softclass" else np.asarray(store.y_hard),
            source=source,
        )
    train_paths = resolve_image_paths(images_dir, list(ids))
    test_paths = (
        resolve_image_paths(test_images_dir or images_dir, list(test_ids)) if len(test_ids) else []
    )
    check_readable(train_paths + test_paths)

    if store.task == "softclass":
        targets = np.asarray(store.y, dtype=np.float32)
    else:
        targets = np.asarray(store.y_hard, dtype=np.int64)
    folds = np.asarray(store.folds)
    fold_ids = [int(f) for f in store.fold_ids]
    if len(fold_ids) < 2:
        raise ImageTrainerError(f"the store has {len(fold_ids)} fold(s); need at least 2")

    # ---- work dir: checkpoints and per-fold records
    wd = Path(work_dir) if work_dir is not None else default_work_dir(str(store.uri))
    wd = wd / "image" / _safe_name(name)
    if overwrite and wd.exists():
        shutil.rmtree(wd)
    wd.mkdir(parents=True, exist_ok=True)
    run_file = wd / "run.json"
    if run_file.is_file():
        if json.loads(run_file.read_text()) != identity:
            raise ImageTrainerError(
                f"model '{name}' was started with other settings (see '{run_file}'); rerun "
                "with those settings to resume, or pass --overwrite to start again"
            )
    else:
        _write_json(run_file, identity)

    # ---- images
    train_src = ImageSource(train_paths, config.img_size)
    test_src = ImageSource(test_paths, config.img_size)
    if cache == "auto":
        cache = train_src.nbytes() + test_src.nbytes() <= 2 * 1024**3
    n_workers = (
        num_workers if num_workers is not None else (0 if cache else min(4, os.cpu_count() or 1))
    )
    if cache:
        t0 = time.perf_counter()
        decoders = min(4, os.cpu_count() or 1)  # only used for more than 256 images
        train_src.fill_cache(num_workers=decoders)
        test_src.fill_cache(num_workers=decoders)
        say(
            f"decoded {len(train_src) + len(test_src)} images at {config.img_size}px in "
            f"{time.perf_counter() - t0:.1f}s"
        )

    # ---- one model per fold
    job = {
        "name": name, "arch": arch, "n_classes": n_classes, "config": config,
        "views": views, "device": dev, "n_workers": n_workers, "wd": wd, "folds": folds,
        "targets": targets, "ids": ids, "test_ids": test_ids, "train_src": train_src,
        "test_src": test_src, "progress": progress, "log": log,
    }
    # One transaction for the whole run: a second writer of the model is refused until it
    # ends; each finished fold is checkpointed (pending blocks a killed run resumes from); an
    # overwritten model stays readable until the new manifest replaces it, at the end.
    with store.transaction(name, "base-models image", replace=remove_existing) as tx:
        manifest = _train_folds_in(tx, job, fold_ids, views, test_ids, ids, folds, wd, dev,
                                   executor, say, torch)
    say(
        f"model '{name}' written: {len(fold_ids)} folds x {len(views)} TTA views "
        f"({', '.join(views)})"
    )
    return manifest


def _train_folds_in(tx, job, fold_ids, views, test_ids, ids, folds, wd, dev, executor, say,
                    torch) -> dict:
    """Train the folds not yet in ``tx``'s model, write each as it comes, commit the manifest.

    With ``tx.replace`` (``--overwrite``) the model starts empty and the old one stays
    readable until the manifest is committed here.
    """
    config = job["config"]
    have = set(tx.blocks())
    fold_records: dict[str, Any] = {}
    todo = []
    for k in fold_ids:
        rec_file = wd / f"fold{k}.json"
        complete = all(("oof", k, t) in have and (not len(test_ids) or ("test", k, t) in have)
                       for t in range(len(views)))
        if complete:
            rec = json.loads(rec_file.read_text()) if rec_file.is_file() else {}
            fold_records[str(k)] = rec
            say(f"fold {k}: already complete in the store; skipped")
        else:
            todo.append(k)

    def commit(k: int, out: tuple, quiet: bool = True) -> None:
        rec, oof, test = out
        va = np.flatnonzero(folds == k)
        for t in range(len(views)):
            if test is not None:
                tx.write_block("test", k, t, test_ids, test[t], overwrite=True)
            tx.write_block("oof", k, t, ids[va], oof[t], overwrite=True)
        tx.checkpoint()
        _write_json(wd / f"fold{k}.json", rec)
        fold_records[str(k)] = rec
        if not quiet:
            say(f"fold {k}: best epoch {rec.get('best_epoch')}, "
                f"val accuracy {rec.get('val_accuracy')}")

    if executor is None:
        for k in todo:
            commit(k, _image_fold(job, k))
    elif todo:
        # each task trains quietly and asks for a GPU when the model trains on one (Ray then
        # sets CUDA_VISIBLE_DEVICES for it); it returns its logits, written here as they come
        job.update(progress=False, log=None,
                   device="cuda" if dev.type == "cuda" else "cpu")
        executor.map(_image_fold, [(k,) for k in todo], shared=job,
                     num_gpus=1 if dev.type == "cuda" else 0,
                     on_done=lambda i, out: commit(todo[i], out, quiet=False))
    fold_records = {str(k): fold_records[str(k)] for k in fold_ids}

    params = {
        "config": config.to_dict(),
        **{k: v for k, v in config.to_dict().items()},
        "best_epoch": {k: r.get("best_epoch") for k, r in fold_records.items()},
        "val_accuracy": {k: r.get("val_accuracy") for k, r in fold_records.items()},
        "val_loss": {k: r.get("val_loss") for k, r in fold_records.items()},
        "history": {k: r.get("history") for k, r in fold_records.items()},
        "device": str(dev),
        "torch": torch.__version__,
        "timm": __import__("timm").__version__,
    }
    return tx.finish_model(
        kind="logits",
        tta_views=views,
        params=params,
        source="base-models image",
        overwrite=True,
    )
