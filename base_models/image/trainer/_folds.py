"""One fold as a task (local or on Ray), and the folds run into one store transaction."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from ._config import fold_seed
from ._device import resolve_device
from ._epochs import fit_fold
from ._predict import predict_views
from ._split import inner_split
from ._workdir import _write_json


def _image_fold(job: dict, k: int) -> tuple[dict, list, list | None]:
    """Train fold ``k``'s model; return its record and its OOF and test logits per TTA view.

    It writes nothing to the store: the caller writes the blocks inside its transaction of
    the model (a task on another worker cannot take the model's lock the caller holds).
    """
    import torch

    from ..data import TorchImages
    from ..model import create_model

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
