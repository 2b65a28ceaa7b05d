"""The training loop shared by the neural stackers (``mlp``, ``cnn1d``, ``cnn2d``).

torch is imported only inside the functions here, so importing :mod:`blend.stack` never
pulls it in. Training runs on CUDA when present, else on CPU with a small thread count;
it is seeded (``torch.manual_seed`` plus a generator for the batch order), so on CPU a
fit repeats exactly for a given seed.
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from blend._errors import BlendError
from blend.stack._stacker import Stacker

if TYPE_CHECKING:  # numpy is imported where used (start-up < 0.3 s, issue 22)
    pass

__all__ = ["NeuralStacker"]


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed with the [vision] extra
        raise BlendError(
            "the neural stackers need torch; install it with `pip install oof-blend[vision]` "
            "or use `stack lgbm` / `stack linear`"
        ) from exc
    return torch


class NeuralStacker(Stacker):
    """Base of the torch stackers: subclasses only build the network.

    The network maps ``x`` (b, M, C) standardised features and ``e`` (b, E) standardised
    extra features (or None) to (b, C) logits, or (b, 1) for regression. Loss: cross
    entropy (soft-target cross-entropy for softclass; MSE on the standardised target for
    regression). AdamW; the epoch with the lowest validation loss is kept (early stopping
    with ``patience``).
    """

    uses_torch = True

    def default_params(self, task: str, n_classes: int) -> dict[str, Any]:
        return {
            "hidden": 64,
            "dropout": 0.2,
            "lr": 3e-3,
            "weight_decay": 1e-4,
            "batch_size": 256,
            "max_epochs": 30,
            "patience": 5,
            "num_threads": 1,  # small networks: one thread avoids OpenMP spinning on busy CPUs
        }

    def suggest_params(self, trial: Any, task: str, n_classes: int) -> dict[str, Any]:
        return {
            "hidden": trial.suggest_int("hidden", 16, 256, log=True),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "lr": trial.suggest_float("lr", 3e-4, 1e-2, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        }

    @abstractmethod
    def build(self, M: int, C: int, E: int, out: int, params: dict[str, Any]) -> Any:
        """Return a ``torch.nn.Module`` with ``forward(x, e)``."""

    # ------------------------------------------------------------------ fit / predict

    def fit_one(self, X, E, y, X_val, E_val, y_val, *, task, n_classes, params, seed):
        import numpy as np

        torch = _torch()
        F = torch.nn.functional
        torch.set_num_threads(int(params.get("num_threads", 1)))
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)

        mu, sd = X.mean(axis=0), X.std(axis=0) + 1e-6
        emu = esd = None
        if E is not None:
            emu, esd = E.mean(axis=0), E.std(axis=0) + 1e-6
        ym, ys = 0.0, 1.0
        if task == "regression":
            ym, ys = float(np.mean(y)), float(np.std(y) + 1e-12)
        meta = {"mu": mu, "sd": sd, "emu": emu, "esd": esd, "ym": ym, "ys": ys, "task": task}

        def tensors(Xa, Ea, ya):
            x = torch.as_tensor((Xa - mu) / sd, dtype=torch.float32, device=device)
            e = None if Ea is None else torch.as_tensor((Ea - emu) / esd, dtype=torch.float32, device=device)
            if task in ("binary", "multiclass"):
                t = torch.as_tensor(ya, dtype=torch.long, device=device)
            elif task == "softclass":
                t = torch.as_tensor(ya, dtype=torch.float32, device=device)
            else:
                t = torch.as_tensor((np.asarray(ya) - ym) / ys, dtype=torch.float32, device=device)
            return x, e, t

        def loss_fn(out, t):
            if task in ("binary", "multiclass"):
                return F.cross_entropy(out, t)
            if task == "softclass":
                return -(t * F.log_softmax(out, dim=1)).sum(dim=1).mean()
            return F.mse_loss(out[:, 0], t)

        M, C = X.shape[1], X.shape[2]
        out_dim = 1 if task == "regression" else n_classes
        net = self.build(M, C, 0 if E is None else E.shape[1], out_dim, params).to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=float(params["lr"]), weight_decay=float(params["weight_decay"]))
        x, e, t = tensors(X, E, y)
        xv, ev, tv = tensors(X_val, E_val, y_val)
        n, bs = x.shape[0], int(params["batch_size"])
        best_loss, best_state, best_epoch = float("inf"), None, 0
        for epoch in range(int(params["max_epochs"])):
            net.train()
            perm = torch.randperm(n, generator=gen).to(device)
            for i in range(0, n, bs):
                idx = perm[i : i + bs]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(x[idx], None if e is None else e[idx]), t[idx])
                loss.backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                vloss = float(loss_fn(net(xv, ev), tv))
            if vloss < best_loss - 1e-6:
                best_loss, best_state, best_epoch = vloss, copy.deepcopy(net.state_dict()), epoch
            elif epoch - best_epoch >= int(params["patience"]):
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        meta["best_epoch"] = best_epoch + 1
        return (net, meta)

    def predict_one(self, fitted, X, E):
        import numpy as np

        torch = _torch()
        net, meta = fitted
        device = next(net.parameters()).device
        outs = []
        with torch.no_grad():
            for i in range(0, X.shape[0], 8192):
                x = torch.as_tensor((X[i : i + 8192] - meta["mu"]) / meta["sd"], dtype=torch.float32, device=device)
                e = None
                if E is not None:
                    e = torch.as_tensor(
                        (E[i : i + 8192] - meta["emu"]) / meta["esd"], dtype=torch.float32, device=device
                    )
                o = net(x, e)
                if meta["task"] == "regression":
                    outs.append((o[:, 0].double() * meta["ys"] + meta["ym"]).cpu().numpy())
                else:
                    outs.append(torch.softmax(o.double(), dim=1).cpu().numpy())
        return np.concatenate(outs, axis=0)
