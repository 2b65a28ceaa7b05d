"""Subset search: which combination of models blends best.

``search_subsets`` is the pure core (arrays in, :class:`SearchResult` out). It is exact and
exhaustive when the estimated time fits the budget (``method="auto"``) and otherwise
switches to beam search, saying so in ``result.note``. See ``docs/commands/search.md``.

The names below are imported on first use (numpy and the kernels are not needed to parse
``blend search --help``).
"""

from oof_common.lazy import lazy_attributes

#: The methods :func:`search_subsets` accepts (``blend search --method``).
METHODS = ("auto", "exact", "exhaustive", "beam")

_LAZY = {
    "SearchPlan": "blend.search._core",
    "SearchResult": "blend.search._core",
    "SubsetScore": "blend.search._core",
    "beam_search": "blend.search._core",
    "plan_search": "blend.search._core",
    "search_subsets": "blend.search._core",
    "brute_force_search": "blend.search._reference",
}
__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = ["METHODS", *_LAZY]
