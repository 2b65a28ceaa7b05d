"""1D-CNN and 2D-CNN stackers over the models x classes matrix (37th place, Cassava; MoA).

The base models' outputs for one row form an (M, C) matrix. ``cnn1d`` reads it as a
sequence of M models with C channels; ``cnn2d`` as a one-channel M x C image. torch is
imported only inside the methods.
"""

from __future__ import annotations

from typing import Any

from blend.stack._neural import NeuralStacker, _torch
from blend.stack._registry import register_stacker

__all__ = ["CNN1DStacker", "CNN2DStacker"]


@register_stacker("cnn1d")
class CNN1DStacker(NeuralStacker):
    """1D-CNN over the models as a sequence (C channels per model).

    A per-model 1x1 convolution (C -> h), a width-3 convolution across models, then a
    linear head on the flattened (h * M) map (plus the extra features).
    """

    def default_params(self, task: str, n_classes: int) -> dict[str, Any]:
        return {**super().default_params(task, n_classes), "hidden": 32}

    def build(self, M: int, C: int, E: int, out: int, params: dict[str, Any]) -> Any:
        torch = _torch()
        nn = torch.nn
        h, p = int(params["hidden"]), float(params["dropout"])

        class CNN1D(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Sequential(
                    nn.Conv1d(C, h, kernel_size=1), nn.ReLU(),
                    nn.Conv1d(h, h, kernel_size=3, padding=1), nn.ReLU(),
                )
                self.head = nn.Sequential(nn.Dropout(p), nn.Linear(h * M + E, out))

            def forward(self, x, e):
                z = self.conv(x.transpose(1, 2)).flatten(1)  # (b, C, M) -> (b, h * M)
                if e is not None:
                    z = torch.cat([z, e], dim=1)
                return self.head(z)

        return CNN1D()


@register_stacker("cnn2d")
class CNN2DStacker(NeuralStacker):
    """2D-CNN over the models x classes matrix as a one-channel image.

    A 3x3 convolution over the (M, C) image, a (M, 1) convolution that mixes the models
    per class, then a linear head on the flattened (h * C) map (plus the extra features).
    """

    def default_params(self, task: str, n_classes: int) -> dict[str, Any]:
        return {**super().default_params(task, n_classes), "hidden": 16}

    def build(self, M: int, C: int, E: int, out: int, params: dict[str, Any]) -> Any:
        torch = _torch()
        nn = torch.nn
        h, p = int(params["hidden"]), float(params["dropout"])

        class CNN2D(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Sequential(
                    nn.Conv2d(1, h, kernel_size=3, padding=1), nn.ReLU(),
                    nn.Conv2d(h, h, kernel_size=(M, 1)), nn.ReLU(),
                )
                self.head = nn.Sequential(nn.Dropout(p), nn.Linear(h * C + E, out))

            def forward(self, x, e):
                z = self.conv(x.unsqueeze(1)).flatten(1)  # (b, 1, M, C) -> (b, h * C)
                if e is not None:
                    z = torch.cat([z, e], dim=1)
                return self.head(z)

        return CNN2D()
