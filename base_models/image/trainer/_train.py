"""The library entry: :func:`train_image_model` checks, plans and runs the K folds."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ImageTrainerError
from ..tta import resolve_views
from ._config import Log, TrainConfig
from ._device import resolve_device
from ._folds import _train_folds_in
from ._workdir import _safe_name, _write_json, default_work_dir

__all__ = ["train_image_model"]


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
    from ..model import check_arch

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
    from ..data import (
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
