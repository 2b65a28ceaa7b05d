"""`base-models image --ray local`: folds as Ray tasks give the serial run's logits."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("timm", reason="the [vision] extra is not installed")

from base_models.image_cli import register  # noqa: E402
from oof_store import Store  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "tiny_images", Path(__file__).resolve().parents[1] / "image" / "conftest.py")
tiny_images = importlib.util.module_from_spec(_spec)
sys.modules["tiny_images"] = tiny_images  # dataclasses look their module up
_spec.loader.exec_module(tiny_images)


def _main(argv):
    import argparse

    from oof_common.cli import run_main

    parser = argparse.ArgumentParser(prog="base-models")
    register(parser.add_subparsers(dest="command"))
    return run_main(parser, argv)


def test_image_cli_with_ray_matches_the_plain_run(ray_session, tmp_path):
    import torch

    torch.set_num_threads(1)  # as the Ray workers (OMP_NUM_THREADS=1)
    a = tiny_images.make_tiny(tmp_path / "a")
    b = tiny_images.make_tiny(tmp_path / "b")
    common = ["--id", "image_id", "--label", "label", "--arch", "test_resnet", "--img-size", "16",
              "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--tta", "hflip",
              "--name", "cnn", "--quiet"]
    assert _main(["image", str(a.store_uri), "--images", str(a.images), "--labels", str(a.labels),
                  *common]) == 0
    assert _main(["image", str(b.store_uri), "--images", str(b.images), "--labels", str(b.labels),
                  *common, "--ray", "local"]) == 0
    sa, sb = Store(a.store_uri), Store(b.store_uri)
    assert sb.validate() == []
    pa = sa.load_oof(["cnn"], tta="all", output="raw").preds
    pb = sb.load_oof(["cnn"], tta="all", output="raw").preds
    np.testing.assert_allclose(pa, pb, rtol=1e-5, atol=1e-5)
    ta = sa.load_test(["cnn"], tta="all", folds="all", output="raw").preds
    tb = sb.load_test(["cnn"], tta="all", folds="all", output="raw").preds
    np.testing.assert_allclose(ta, tb, rtol=1e-5, atol=1e-5)
    assert sb.manifest("cnn")["params"]["best_epoch"].keys() == sa.manifest("cnn")["params"]["best_epoch"].keys()
