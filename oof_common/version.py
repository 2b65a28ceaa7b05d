"""The project's version, read once from the installed package's metadata."""

from __future__ import annotations

__all__ = ["DISTRIBUTION", "package_version"]

#: The distribution name in ``pyproject.toml``.
DISTRIBUTION = "oof-blend"


def package_version() -> str:
    """The installed version of ``oof-blend``; ``"0+unknown"`` when it is not installed.

    A source checkout used through ``PYTHONPATH`` without ``pip install`` has no metadata;
    the fallback says so rather than guessing a number.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"
