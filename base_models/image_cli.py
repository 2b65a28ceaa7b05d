"""``base-models image`` and ``base-models digits-images`` commands.

Thin wrappers over :func:`base_models.image.train_image_model` and
:func:`base_models.image.write_digits_images`.

``register(subparsers)`` adds both sub-commands to the ``base-models`` parser. torch and
timm are imported only when a command runs.
"""

from __future__ import annotations

import argparse

from .image.trainer import SELECT_BY, SELECT_EPOCH_ON
from .image.tta import AUGMENTS, VIEW_GROUPS, VIEWS

__all__ = ["register", "image_cli", "digits_images_cli"]


def _add_debug(p: argparse.ArgumentParser) -> None:
    from oof_common.cli import add_debug_flag

    add_debug_flag(p)


def register(subparsers) -> None:
    """Add the ``image`` and ``digits-images`` sub-commands."""
    p = subparsers.add_parser(
        "image",
        help="train a timm image model per store fold; write OOF + test logits with TTA",
        description=(
            "Train one timm model per fold of the store (on the other folds), keep its best "
            "epoch, and write its logits for the held-out fold (OOF) and for the whole test "
            "set under every TTA view (view 0 = plain image). The image of id X is "
            "IMAGES/X or IMAGES/X.<png|jpg|jpeg|bmp|gif|tif|tiff|webp>. Re-running resumes: "
            "finished folds are skipped, an interrupted fold continues from its last epoch."
        ),
    )
    p.add_argument("store", help="the store (path or URI)")
    p.add_argument("--images", required=True, help="folder of the training images")
    p.add_argument(
        "--test-images", default=None, help="folder of the test images (default: --images)"
    )
    p.add_argument(
        "--labels", required=True, help="labels file (CSV, TSV or Parquet) listing the store's rows"
    )
    p.add_argument("--id", dest="id_col", required=True, help="id column of the labels file")
    p.add_argument(
        "--label",
        dest="label_col",
        default=None,
        help="label column of the labels file (checked against the store)",
    )
    p.add_argument("--arch", required=True, help="timm architecture, e.g. resnet18")
    p.add_argument(
        "--pretrained",
        default="none",
        help="local checkpoint (state dict) to start from, or 'none' (default)",
    )
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument(
        "--augment",
        default="hflip",
        choices=list(AUGMENTS),
        help="train-time augmentation (default hflip)",
    )
    p.add_argument(
        "--select-by",
        default="last",
        choices=list(SELECT_BY),
        help="which epoch to keep: the last (default: nothing chosen from the labels, every "
        "training row fitted), or the best validation accuracy or lowest loss on "
        "--select-epoch-on",
    )
    p.add_argument(
        "--select-epoch-on",
        default="inner",
        choices=list(SELECT_EPOCH_ON),
        help="where the epoch is selected: an inner validation split of each fold's training "
        "rows (default; honest), or the OOF fold itself (optimistic OOF scores: the model "
        "is flagged in the manifest, oof ls and blend report)",
    )
    p.add_argument(
        "--inner-fraction",
        type=float,
        default=0.1,
        help="share of each fold's training rows held out to select the epoch on (default 0.1)",
    )
    p.add_argument(
        "--tta",
        default="",
        help="comma-separated TTA views besides 'plain': "
        + ", ".join(v for v in VIEWS if v != "plain")
        + " (or groups: "
        + ", ".join(VIEW_GROUPS)
        + ")",
    )
    p.add_argument("--name", default=None, help="model name in the store (default ARCH_SIZE)")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda[:N]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--num-workers",
        type=int,
        default=None,
        help="data-loader processes (default: 0 when the images fit in memory)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's own, one per core)",
    )
    p.add_argument(
        "--no-cache", action="store_true", help="do not decode all images into memory first"
    )
    p.add_argument(
        "--work-dir",
        default=None,
        help="checkpoints and fold records (default: STORE.work beside the store)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a model of the same name and its checkpoints",
    )
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    from oof_store.distributed import add_ray_flag

    add_ray_flag(p)
    _add_debug(p)
    p.set_defaults(func=image_cli)

    d = subparsers.add_parser(
        "digits-images",
        help="write scikit-learn's digits as an image folder (the image example)",
        description=(
            "Write DIR/images/<id>.png (digits upscaled), DIR/train.csv (id,label), "
            "DIR/test.csv (id) and DIR/test_labels.csv. With --store, also create a store "
            "over the training part with stratified folds and the test ids."
        ),
    )
    d.add_argument("dir", help="output folder")
    d.add_argument("--size", type=int, default=32, help="image side in pixels (default 32)")
    d.add_argument("--test-size", type=float, default=0.2)
    d.add_argument("--n", type=int, default=None, help="use only the first N digits")
    d.add_argument("--store", default=None, help="also create a store here")
    d.add_argument("--folds", type=int, default=5, help="folds of the created store")
    d.add_argument("--seed", type=int, default=0)
    _add_debug(d)
    d.set_defaults(func=digits_images_cli)


def image_cli(args: argparse.Namespace) -> int:
    """Train an image model into the store (``base-models image``); print its mean fold accuracy."""
    from oof_common.cli import console, err_console

    from .image import train_image_model

    def log(msg: str) -> None:
        err_console.print(msg, highlight=False, markup=False)

    from oof_store.distributed import get_executor

    executor = get_executor(args.ray) if args.ray else None  # Ray shuts down at exit on errors
    manifest = train_image_model(
        args.store,
        args.images,
        args.labels,
        arch=args.arch,
        id_col=args.id_col,
        label_col=args.label_col,
        test_images_dir=args.test_images,
        name=args.name,
        pretrained=args.pretrained,
        img_size=args.img_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs,
        label_smoothing=args.label_smoothing,
        augment=args.augment,
        select_by=args.select_by,
        select_epoch_on=args.select_epoch_on,
        inner_fraction=args.inner_fraction,
        tta=args.tta,
        device=args.device,
        seed=args.seed,
        num_workers=args.num_workers,
        cache=False if args.no_cache else "auto",
        work_dir=args.work_dir,
        overwrite=args.overwrite,
        threads=args.threads,
        progress=True,
        log=None if args.quiet else log,
        executor=executor,
    )
    if executor is not None:
        err_console.print(executor.summary(), highlight=False)
        executor.close()
    params = manifest.get("params", {})
    accs = [a for a in (params.get("val_accuracy") or {}).values() if a is not None]
    acc = f", mean fold accuracy {sum(accs) / len(accs):.4f}" if accs else ""
    name = manifest.get("model") or manifest.get("name") or args.name or ""
    console.print(
        f"image model {name} complete: TTA views {', '.join(manifest.get('tta_views') or [])}{acc}",
        highlight=False, markup=False,
    )
    return 0


def digits_images_cli(args: argparse.Namespace) -> int:
    """Write the digits images (``base-models digits-images``), and with ``--store`` a store over them."""
    from oof_common.cli import console

    from .image.digits import make_digits_store, write_digits_images

    ex = write_digits_images(
        args.dir, size=args.size, test_size=args.test_size, n=args.n, seed=args.seed
    )
    console.print(ex.summary(), highlight=False, markup=False)
    if args.store:
        make_digits_store(ex, args.store, n_folds=args.folds, seed=args.seed)
        console.print(
            f"created store {args.store} ({args.folds} folds); next:\n"
            f"  base-models image {args.store} --images {ex.images_dir} "
            f"--labels {ex.train_csv} --id id --label label --arch test_resnet "
            f"--img-size 32 --epochs 3 --tta hflip",
            highlight=False, markup=False,
        )
    return 0


def main(argv=None) -> int:  # pragma: no cover - for `python3 -m base_models.image_cli`
    from oof_common.cli import run_main

    parser = argparse.ArgumentParser(prog="base-models")
    register(parser.add_subparsers(dest="command"))
    return run_main(parser, argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
