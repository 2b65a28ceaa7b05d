"""The ``base-models`` command: ``base-models tabular|image|demo|digits-images ...``."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Sequence

from oof_common.cli import add_debug_flag, add_version_flag, console, run_main
from oof_common.outputs import output_file
from oof_store.distributed import add_ray_flag

__all__ = ["main", "build_parser"]

# Modules (besides this one) that add sub-commands through ``register(subparsers)``.
EXTRA_SUBCOMMAND_MODULES = ["base_models.image_cli"]


def tabular_cli(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from base_models.tabular import parse_params, train_tabular
    from oof_store import Store
    from oof_store.distributed import get_executor

    store = Store(args.store)
    with get_executor(args.ray) as executor:
        result = train_tabular(
            store,
            args.data,
            model=args.model,
            name=args.name or args.model,
            params=parse_params(args.params),
            features=args.features.split(",") if args.features else None,
            seed=args.seed,
            overwrite=args.overwrite,
            executor=executor if args.ray else None,
        )
    console.print(escape(result.summary()))
    if args.ray:
        console.print(executor.summary(), highlight=False)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result.to_dict(), f, indent=2)
    return 0


def demo_cli(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from base_models.demo import make_demo_store
    from oof_store.cli import ls_cli

    result = make_demo_store(
        args.store,
        models=args.models.split(",") if args.models else None,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    console.print(escape(result.summary()))
    if args.with_image:
        from base_models.image import train_image_model
        from base_models.image.digits import write_digits_images

        console.print(
            f"training the image model 'cnn' ({args.image_arch} from scratch on 32 px digit "
            f"images, {args.image_epochs} epochs, TTA views plain + hflip) ..."
        )
        example = write_digits_images(f"{args.store}/example/digits", size=32, seed=args.seed)
        train_image_model(
            result.store, example.images_dir, example.train_csv, id_col="id", label_col="label",
            arch=args.image_arch, img_size=32, epochs=args.image_epochs, batch_size=64, lr=3e-3,
            augment="shift", tta="hflip", name="cnn", seed=args.seed, threads=1,
        )
    ls_cli(argparse.Namespace(store=args.store, json=False))
    console.print(
        f"\nnext: [bold]blend report {escape(args.store)}[/bold], [bold]blend search {escape(args.store)} --top 10[/bold], "
        f"[bold]blend optimize {escape(args.store)} --method de[/bold], [bold]stack lgbm {escape(args.store)}[/bold]"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the ``base-models`` parser: ``tabular``, ``demo`` and the extra sub-commands."""
    from base_models._estimators import available_tabular_models

    parser = argparse.ArgumentParser(
        prog="base-models", description="Train K-fold base models that fill an OOF store."
    )
    add_version_flag(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser(
        "tabular",
        help="train a LightGBM / scikit-learn model per store fold",
        description="Train one model per fold of the store's fold assignment (on the other "
        "folds), write its OOF block and its test predictions (every fold model predicts the "
        "whole test set) and the manifest. LightGBM early-stops on an inner 10% split of the "
        "training folds, never on the OOF fold. Folds already in the store are skipped.",
    )
    p.add_argument("store")
    p.add_argument("--data", required=True,
                   help="CSV/Parquet with the store's id column and the features of the "
                   "training and test rows")
    p.add_argument("--model", required=True, choices=available_tabular_models())
    p.add_argument("--name", help="name in the store (default: the model)")
    p.add_argument("--params", help="JSON object of estimator parameters (or a .json file)")
    p.add_argument("--features", help="comma-separated feature columns (default: all others)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="retrain a model already stored")
    p.add_argument("--json", type=output_file, help="write the result as JSON here")
    add_ray_flag(p)
    add_debug_flag(p)
    p.set_defaults(func=tabular_cli)

    p = sub.add_parser(
        "demo",
        help="build the built-in example store (scikit-learn digits), offline",
        description="Create a complete store from scikit-learn's digits (1,797 images, 10 "
        "classes): a stratified 20% test part, 5 stratified folds, and 7 diverse tabular base "
        "models with real OOF and test predictions. Re-running resumes.",
    )
    p.add_argument("store")
    p.add_argument("--models", help="comma-separated subset of the demo models")
    p.add_argument("--with-image", action="store_true",
                   help="also train a small timm CNN on the digit images (needs the [vision] extra)")
    p.add_argument("--image-arch", default="test_resnet",
                   help="timm architecture of the image model (default: test_resnet, tiny)")
    p.add_argument("--image-epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    add_debug_flag(p)
    p.set_defaults(func=demo_cli)

    for mod in EXTRA_SUBCOMMAND_MODULES:
        importlib.import_module(mod).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``base-models`` command on ``argv`` and return its exit code."""
    return run_main(build_parser(), argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
