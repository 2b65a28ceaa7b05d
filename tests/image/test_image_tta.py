"""TTA views and train-time augmentations."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from base_models.image import ImageTrainerError
from base_models.image.tta import (
    AUGMENTS,
    VIEW_GROUPS,
    VIEWS,
    apply_view,
    get_augment,
    resolve_views,
)


def test_view_zero_is_always_plain_and_duplicates_drop():
    assert resolve_views(None) == ["plain"]
    assert resolve_views("") == ["plain"]
    assert resolve_views("hflip,vflip") == ["plain", "hflip", "vflip"]
    assert resolve_views("vflip, plain,hflip,vflip") == ["plain", "vflip", "hflip"]
    assert resolve_views(["flips"]) == ["plain", "hflip", "vflip"]
    assert len(resolve_views("d4")) == 8


def test_unknown_view_lists_the_choices():
    with pytest.raises(ImageTrainerError, match=r"unknown TTA view 'hflp'; choose from: .*hflip"):
        resolve_views("hflp")


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_view_keeps_shape_and_pixels(name):
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    out = apply_view(name, x)
    assert out.shape == x.shape
    # a view only moves pixels within each image and channel
    assert torch.equal(out.flatten(2).sort(-1).values, x.flatten(2).sort(-1).values)


def test_the_eight_views_are_the_distinct_elements_of_d4():
    x = torch.randn(1, 1, 4, 4)
    outs = [apply_view(v, x) for v in resolve_views("d4")]
    assert all(not torch.equal(a, b) for i, a in enumerate(outs) for b in outs[i + 1 :])
    assert torch.equal(apply_view("rot90", apply_view("rot270", x)), x)
    assert torch.equal(apply_view("transverse", x), x.rot90(2, (-2, -1)).transpose(-2, -1))


@pytest.mark.parametrize("name", sorted(AUGMENTS))
def test_augmentations_repeat_with_a_seed(name):
    x = torch.randn(6, 3, 8, 8)
    a = get_augment(name)(x, torch.Generator().manual_seed(3))
    b = get_augment(name)(x, torch.Generator().manual_seed(3))
    assert a.shape == x.shape
    assert torch.equal(a, b)


def test_unknown_augmentation_lists_the_choices():
    with pytest.raises(ImageTrainerError, match="unknown augmentation 'mixup'; choose from"):
        get_augment("mixup")


@given(st.lists(st.sampled_from(sorted(VIEWS) + sorted(VIEW_GROUPS)), max_size=12))
def test_resolved_views_start_plain_are_unique_and_known(names):
    views = resolve_views(names)
    assert views[0] == "plain"
    assert len(set(views)) == len(views)
    assert set(views) <= set(VIEWS)
    for n in names:  # every asked view (or group member) is there
        assert set(VIEW_GROUPS.get(n, (n,))) <= set(views)
