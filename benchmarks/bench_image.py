"""Images/second of the image trainer: training, and TTA inference, per architecture.

Runs :func:`base_models.image.fit_fold` and :func:`base_models.image.predict_views` (the
functions ``base-models image`` runs per fold) on random in-memory uint8 images, so image
decoding is not timed (the trainer decodes each image once into memory before training
when they fit in 2 GiB). One warm-up epoch is run and not counted.

    python3 benchmarks/bench_image.py                       # CPU, default cases
    python3 benchmarks/bench_image.py --cases resnet18@224 --n 64 --device cuda

Prints one line per case: train images/s, inference images/s (one view) and inference
images x views/s with 4 TTA views (plain, hflip, vflip, rot90).

``--digits ARCH:LR:AUGMENT,...`` instead runs the built-in digits example end to end
(1,437 training images in 5 folds, 360 test images, 32 px, 3 epochs, views plain+hflip)
through ``train_image_model`` and prints the wall time and the plain-view OOF and test
accuracy read back from the store:

    python3 benchmarks/bench_image.py --threads 1 --digits test_resnet:3e-3:shift
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

DEFAULT_CASES = ["test_resnet@32", "resnet10t@32", "resnet18@64", "resnet18@224"]


def _bench_case(arch: str, size: int, n: int, batch: int, device: str, views: list[str]):
    import torch

    from base_models.image.data import ImageSource, TorchImages
    from base_models.image.model import create_model
    from base_models.image.trainer import TrainConfig, fit_fold, predict_views

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    y = rng.integers(0, 10, n)
    src = ImageSource([None] * n, size, cache=imgs)
    ds = TorchImages(src, np.arange(n), y)
    small_val = TorchImages(src, np.arange(min(n, batch)), y[: min(n, batch)])
    torch.manual_seed(0)
    model = create_model(arch, 10, size)
    # epoch 1 is the warm-up; the time of epoch 2 alone is (t2 - t1)
    cfg1 = TrainConfig(arch=arch, img_size=size, epochs=1, batch_size=batch, augment="hflip")
    t0 = time.perf_counter()
    fit_fold(model, ds, small_val, cfg1, device=device, progress=False)
    t1 = time.perf_counter()
    fit_fold(model, ds, small_val, cfg1, device=device, progress=False)
    t2 = time.perf_counter()
    train_ips = n / (t2 - t1)
    del t0
    pred_ds = TorchImages(src, np.arange(n), None)
    predict_views(model, pred_ds, ["plain"], device=device, batch_size=batch)  # warm-up
    t3 = time.perf_counter()
    predict_views(model, pred_ds, ["plain"], device=device, batch_size=batch)
    t4 = time.perf_counter()
    predict_views(model, pred_ds, views, device=device, batch_size=batch)
    t5 = time.perf_counter()
    return {
        "arch": arch,
        "img_size": size,
        "n_images": n,
        "batch_size": batch,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "train_images_per_s": train_ips,
        "infer_images_per_s": n / (t4 - t3),
        "tta_views": len(views),
        "tta_image_views_per_s": n * len(views) / (t5 - t4),
    }


def _bench_digits(spec: str, epochs: int, batch: int, threads: int | None) -> dict:
    import shutil
    import tempfile
    from pathlib import Path

    import pandas as pd

    from base_models.image import train_image_model
    from base_models.image.digits import make_digits_store, write_digits_images

    arch, lr, augment = spec.split(":")
    root = Path(tempfile.mkdtemp(prefix="bench-image-"))
    try:
        ex = write_digits_images(root / "digits", size=32)
        store = make_digits_store(ex, str(root / "store"), n_folds=5)
        t0 = time.perf_counter()
        man = train_image_model(store, ex.images_dir, ex.train_csv, arch=arch, label_col="label",
                                img_size=32, epochs=epochs, lr=float(lr), batch_size=batch,
                                augment=augment, tta="hflip", progress=False, threads=threads)
        wall = time.perf_counter() - t0
        oof = store.load_oof([man["name"]], tta=0, output="probs")
        test = store.load_test([man["name"]], tta=0, output="probs")
        y_test = pd.read_csv(ex.test_labels_csv)["label"].to_numpy()
        return {"arch": arch, "lr": float(lr), "augment": augment, "wall_s": wall,
                "oof_accuracy": float(np.mean(oof.preds[0, 0].argmax(1) == oof.y)),
                "test_accuracy": float(np.mean(test.preds[0, 0].argmax(1) == y_test))}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(DEFAULT_CASES),
                    help="comma-separated ARCH@SIZE (default: %(default)s)")
    ap.add_argument("--n", type=int, default=256, help="images per epoch (default 256)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--digits", default=None,
                    help="comma-separated ARCH:LR:AUGMENT: run the digits example instead")
    ap.add_argument("--epochs", type=int, default=3, help="epochs of --digits runs")
    args = ap.parse_args(argv)

    if args.digits:
        print(f"{'arch':<14} {'lr':>7} {'augment':<12} {'wall s':>7} {'OOF acc':>8} "
              f"{'test acc':>8}")
        rows = []
        for spec in args.digits.split(","):
            r = _bench_digits(spec, args.epochs, 64, args.threads)
            rows.append(r)
            print(f"{r['arch']:<14} {r['lr']:>7.0e} {r['augment']:<12} {r['wall_s']:>7.1f} "
                  f"{r['oof_accuracy']:>8.4f} {r['test_accuracy']:>8.4f}", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=2)
        return 0

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    views = ["plain", "hflip", "vflip", "rot90"]
    print(f"# torch {torch.__version__}, device {args.device}, threads "
          f"{torch.get_num_threads()}, {platform.processor() or platform.machine()}")
    print(f"{'case':<18} {'params':>8} {'train img/s':>12} {'infer img/s':>12} "
          f"{'TTA x4 img*view/s':>18}")
    rows = []
    for case in args.cases.split(","):
        arch, _, size = case.partition("@")
        n = args.n if int(size or 224) <= 64 else max(args.batch_size * 2, args.n // 4)
        r = _bench_case(arch, int(size or 224), n, args.batch_size, args.device, views)
        rows.append(r)
        print(f"{case:<18} {r['params_m']:>7.2f}M {r['train_images_per_s']:>12.1f} "
              f"{r['infer_images_per_s']:>12.1f} {r['tta_image_views_per_s']:>18.1f}",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
