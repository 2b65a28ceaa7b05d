"""MLP stacker: two hidden layers over the flattened models x classes features."""

from __future__ import annotations

from typing import Any

from blend.stack._neural import NeuralStacker, _torch
from blend.stack._registry import register_stacker

__all__ = ["MLPStacker"]


@register_stacker("mlp")
class MLPStacker(NeuralStacker):
    """MLP with two hidden layers over the flattened models x classes features.

    ``[x.flatten(), e] -> Linear(h) -> ReLU -> Dropout -> Linear(h) -> ReLU -> Dropout -> Linear(out)``.
    """

    def build(self, M: int, C: int, E: int, out: int, params: dict[str, Any]) -> Any:
        torch = _torch()
        nn = torch.nn
        h, p = int(params["hidden"]), float(params["dropout"])

        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(
                    nn.Linear(M * C + E, h), nn.ReLU(), nn.Dropout(p),
                    nn.Linear(h, h), nn.ReLU(), nn.Dropout(p),
                    nn.Linear(h, out),
                )

            def forward(self, x, e):
                z = x.flatten(1)
                if e is not None:
                    z = torch.cat([z, e], dim=1)
                return self.body(z)

        return MLP()
