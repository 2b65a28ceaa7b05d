"""TTA planning: which stored views each model contributes to a load."""

from __future__ import annotations

from typing import Any

from oof_store._errors import StoreError


def tta_index(tta: str | int, views: list[str], model: str) -> int | None:
    if tta in ("all", "mean"):
        return None
    if isinstance(tta, str) and not tta.lstrip("-").isdigit():
        if tta not in views:
            raise StoreError(f"model {model!r} has no TTA view {tta!r}; its views: {views}")
        return views.index(tta)
    t = int(tta)
    if not 0 <= t < len(views):
        raise StoreError(f"model {model!r} has {len(views)} TTA view(s) {views}; got {tta!r}")
    return t


def tta_plan(
    models: list[str], mans: list[dict[str, Any]], tta: str | int
) -> tuple[list[list[int]], list[str]]:
    """Which views to read for each model, and the names of the output T axis."""
    views = [m["tta_views"] for m in mans]
    if tta == "all":
        counts = {len(v) for v in views}
        if len(counts) > 1:
            detail = ", ".join(f"{m}: {len(v)}" for m, v in zip(models, views, strict=False))
            raise StoreError(
                f"models have different numbers of TTA views ({detail}); load with "
                "tta='mean' (--tta mean) or a view index"
            )
        return [list(range(len(v))) for v in views], list(views[0])
    if tta == "mean":
        return [list(range(len(v))) for v in views], ["mean"]
    picks = [[tta_index(tta, v, m)] for m, v in zip(models, views, strict=False)]
    return picks, [str(tta)]  # type: ignore[list-item]
