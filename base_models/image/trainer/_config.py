"""What decides the trained weights (:class:`TrainConfig`), what a fold fit returns, the seeds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .._errors import ImageTrainerError
from ..tta import AUGMENTS

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
    import numpy as np

    return int(
        np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(fold) & 0xFFFFFFFF]).generate_state(1)[
            0
        ]
        & 0x7FFFFFFF
    )
