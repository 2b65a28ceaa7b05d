"""Parameter validation and JSON conversion shared by the optimisers, stackers and cut methods.

One helper, one message template. A method declares its keyword parameters as a mapping
``{name: Param(...)}`` (or a plain set of names when only the names are checked);
:func:`check_params` rejects unknown names and values of the wrong type or range with::

    The 'maxiter' parameter of optimizer 'de' must be an int >= 1. Got 'x' instead.

:func:`jsonable` turns numpy scalars and arrays (and non-finite floats, which JSON lacks)
into plain Python values, recursively, for every ``to_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from blend._errors import BlendError

__all__ = ["Param", "check_params", "jsonable", "param_error"]


@dataclass(frozen=True)
class Param:
    """What one keyword parameter accepts.

    Parameters
    ----------
    kind : {"int", "float", "bool", "str", "any"}
        ``float`` accepts ints too; ``any`` accepts every value (only the name is checked).
    low, high : float, optional
        Inclusive bounds.
    choices : tuple, optional
        The accepted values (for ``str``).
    none : bool
        Whether ``None`` is accepted.
    """

    kind: str = "any"
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    none: bool = False

    def describe(self) -> str:
        """What the parameter must be, e.g. ``"an int >= 1"``, ``"a float in [0, 1]"``."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        noun = {"int": "an int", "float": "a float", "bool": "a bool", "str": "a str",
                "any": "a value"}[self.kind]
        if self.low is not None and self.high is not None:
            noun += f" in [{self.low:g}, {self.high:g}]"
        elif self.low is not None:
            noun += f" >= {self.low:g}"
        elif self.high is not None:
            noun += f" <= {self.high:g}"
        return noun + (" or None" if self.none else "")

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is of the declared kind and within the bounds."""
        import numpy as np

        if value is None:
            return self.none or self.kind == "any"
        if self.choices is not None:
            return value in self.choices
        if self.kind == "any":
            return True
        if self.kind == "bool":
            return isinstance(value, (bool, np.bool_))
        if self.kind == "str":
            return isinstance(value, str)
        if isinstance(value, (bool, np.bool_)):
            return False
        if self.kind == "int" and not isinstance(value, (int, np.integer)):
            return False
        if self.kind == "float" and not isinstance(value, (int, float, np.integer, np.floating)):
            return False
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


def param_error(param: str, what: str, owner: str, must: str, got: Any) -> BlendError:
    """The one message template, e.g. "The 'maxiter' parameter of optimizer 'de' must be ..."."""
    return BlendError(f"The {param!r} parameter of {what} {owner!r} must be {must}. "
                      f"Got {got!r} instead.")


def check_params(owner: str, params: Mapping[str, Any] | None,
                 allowed: Mapping[str, Param] | Iterable[str], *, what: str = "optimizer") -> None:
    """Raise a :class:`BlendError` for an unknown parameter or a value it does not accept.

    Parameters
    ----------
    owner : str
        The method's registered name (``"de"``, ``"lgbm"``, ...).
    params : dict
        The keyword parameters given.
    allowed : mapping of name to Param, or iterable of names
        What the method takes; with plain names only the names are checked.
    what : str
        ``"optimizer"``, ``"stacker"``, ``"cut-point method"``: the word before ``owner``.
    """
    spec = dict(allowed) if isinstance(allowed, Mapping) else {n: Param() for n in allowed}
    for name, value in (params or {}).items():
        if name not in spec:
            takes = ", ".join(sorted(spec)) or "none: it takes no parameters"
            raise param_error(name, what, owner, f"one of its parameters ({takes})", name)
        if not spec[name].accepts(value):
            raise param_error(name, what, owner, spec[name].describe(), value)


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy values as Python ones and non-finite floats as strings, recursively."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj
