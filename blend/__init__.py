"""Blending and stacking over out-of-fold predictions.

Algorithms here are pure numpy functions over aligned arrays; ``blend.workflows`` connects
them to the store, and ``blend.cli`` (the commands) only parses arguments, calls a workflow
and prints.

In a notebook::

    import blend
    store = blend.open_store("my-store")
    res = blend.compare(store, metric="auc")     # the defaults of `blend compare`
    res.leaderboard()                            # a pandas DataFrame
    res.to_recipe().apply(store).to_csv("submission.csv")

``blend.compare``, ``blend.optimize``, ``blend.search``, ``blend.stack`` and ``blend.report``
are both the algorithm packages (``from blend.compare import CompareData``) and, called,
the store-level workflows of :mod:`blend.workflows.api`: ``blend.compare(store)`` runs
:func:`blend.workflows.api.compare`. Nothing heavy is imported until one is used.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from blend._errors import BlendError

#: The names that are an algorithm package and, called, a workflow.
WORKFLOWS = ("compare", "optimize", "search", "stack", "report")

__all__ = ["BlendError", "__version__", "open_store", *WORKFLOWS]


class _Workflow(types.ModuleType):
    """An algorithm package that, called, runs the store-level workflow of the same name."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from blend.workflows import api

        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


def _workflow_module(name: str) -> types.ModuleType:
    mod = importlib.import_module(f"{__name__}.{name}")
    if not isinstance(mod, _Workflow):
        mod.__class__ = _Workflow
        mod.__doc__ = (mod.__doc__ or "") + (
            f"\n\nCalled, ``blend.{name}(store, ...)`` runs :func:`blend.workflows.api.{name}`.")
    return mod


def _attribute(name: str) -> property:
    # a data descriptor on the module's class: ``blend.compare`` always goes through here,
    # even after the import system has set the submodule as an attribute of the package
    return property(lambda self: _workflow_module(name), lambda self, value: None,
                    doc=f"The package blend.{name}; called, blend.workflows.api.{name}.")


class _Blend(types.ModuleType):
    """The ``blend`` package, whose five workflow names are callable packages."""

    @property
    def __version__(self) -> str:
        # read from the package metadata on first use (~20 ms the commands do not spend)
        from oof_common.version import package_version

        return package_version()


for _name in WORKFLOWS:
    setattr(_Blend, _name, _attribute(_name))


def open_store(store: Any) -> Any:
    """The OOF store at ``store`` (a path or URI), as :class:`oof_store.Store`."""
    from blend.workflows.api import open_store as _open

    return _open(store)


sys.modules[__name__].__class__ = _Blend
