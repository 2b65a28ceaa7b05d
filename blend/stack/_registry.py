"""The stacker registry: :func:`register_stacker`, :func:`get_stacker`, :func:`available_stackers`."""

from __future__ import annotations

from collections.abc import Callable

from blend._errors import BlendError
from blend.stack._stacker import Stacker

_REGISTRY: dict[str, type[Stacker]] = {}


def register_stacker(name: str) -> Callable[[type[Stacker]], type[Stacker]]:
    """Class decorator: register a :class:`Stacker` subclass under ``name``.

    The ``stack`` command gets one sub-command per registered name and the contract
    tests in ``tests/stack`` run against every one of them.
    """

    def deco(cls: type[Stacker]) -> type[Stacker]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise BlendError(f"a stacker named {name!r} is already registered ({_REGISTRY[name].__name__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def available_stackers() -> list[str]:
    """The names of the registered stackers, sorted."""
    return sorted(_REGISTRY)


def get_stacker(name: str | Stacker) -> Stacker:
    """Return a new stacker instance for ``name`` (an instance is returned unchanged).

    Raises
    ------
    BlendError
        For an unknown name; the message lists the available stackers.
    """
    if isinstance(name, Stacker):
        return name
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise BlendError(
            f"unknown stacker {name!r}; choose one of: {', '.join(available_stackers())}"
        ) from None
