"""Names a package exports but imports on first use (PEP 562), so the commands start fast.

A package whose submodules import numpy, scipy or torch lists its public names with the
module that defines each; ``import blend.search`` then costs nothing, and
``blend.search.search_subsets`` (or ``from blend.search import search_subsets``) imports
``blend.search._core`` the first time it is asked for. ``oof_store`` does the same for its
store classes (pandas, pyarrow).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """The module ``__getattr__`` of ``package`` that imports ``names[name]`` on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : mapping of str to str
        Public name -> the module (absolute name) that defines it.

    Returns
    -------
    callable
        ``__getattr__(name)``: the value, also stored on the package so the next access is a
        plain attribute; ``AttributeError`` for a name not in ``names``.
    """

    def __getattr__(name: str) -> object:
        try:
            module = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
