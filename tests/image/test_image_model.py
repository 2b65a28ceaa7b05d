"""Building models, loading local checkpoints, and the training core on tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from base_models.image import ImageTrainerError, TrainConfig, fit_fold, predict_views
from base_models.image.data import ImageSource, TorchImages
from base_models.image.model import create_model, load_checkpoint


def test_checkpoint_for_other_classes_loads_all_but_the_head(tmp_path):
    torch.manual_seed(0)
    donor = create_model("test_resnet", 5, 16)
    path = tmp_path / "donor.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in donor.state_dict().items()}}, path)
    model = create_model("test_resnet", 3, 16, pretrained=str(path))
    head = model.get_classifier()
    assert head.out_features == 3
    donor_sd, sd = donor.state_dict(), model.state_dict()
    body = [k for k in sd if not k.startswith("fc.")]
    assert all(torch.equal(sd[k], donor_sd[k]) for k in body)
    report = load_checkpoint(create_model("test_resnet", 3, 16), path)
    assert report["skipped"] == ["fc.bias", "fc.weight"]


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "vit.pth"
    torch.save(create_model("test_vit", 3, 16).state_dict(), path)
    with pytest.raises(ImageTrainerError, match="matches none of the parameters.*another --arch"):
        create_model("test_resnet", 3, 16, pretrained=str(path))


def _easy_images(n: int, seed: int = 0):
    """Class c = a bright square in channel c at its own corner; easy to learn."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.integers(0, 60, (n, 3, 16, 16)).astype(np.uint8)
    for i, c in enumerate(y):
        r0, c0 = [(0, 0), (0, 8), (8, 0)][c]
        x[i, c, r0 : r0 + 8, c0 : c0 + 8] = 255
    return ImageSource([None] * n, 16, cache=x), y


def test_fit_fold_learns_an_easy_task_and_keeps_the_best_epoch():
    src, y = _easy_images(96)
    tr, va = np.arange(72), np.arange(72, 96)
    torch.manual_seed(0)
    model = create_model("test_resnet", 3, 16)
    cfg = TrainConfig(
        arch="test_resnet", img_size=16, epochs=4, batch_size=12, lr=3e-3, augment="none"
    )
    fit = fit_fold(
        model, TorchImages(src, tr, y[tr]), TorchImages(src, va, y[va]), cfg, progress=False
    )
    accs = [h["val_accuracy"] for h in fit.history]
    assert len(accs) == 4
    assert fit.val_accuracy == max(accs)
    assert fit.history[fit.best_epoch - 1]["val_accuracy"] == fit.val_accuracy
    assert fit.val_accuracy >= 0.9
    # the model holds the kept epoch: its plain-view predictions score the same
    logits = predict_views(model, TorchImages(src, va, None), ["plain", "hflip"])
    assert logits.shape == (2, 24, 3)
    assert logits.dtype == np.float32
    assert np.mean(logits[0].argmax(1) == y[va]) == pytest.approx(fit.val_accuracy)


def test_soft_targets_train_too():
    src, y = _easy_images(24)
    soft = np.full((24, 3), 0.05, dtype=np.float32)
    soft[np.arange(24), y] = 0.9
    model = create_model("test_resnet", 3, 16)
    cfg = TrainConfig(arch="test_resnet", img_size=16, epochs=1, batch_size=8)
    fit = fit_fold(
        model,
        TorchImages(src, np.arange(16), soft[:16]),
        TorchImages(src, np.arange(16, 24), soft[16:]),
        cfg,
        progress=False,
    )
    assert np.isfinite(fit.val_loss)
