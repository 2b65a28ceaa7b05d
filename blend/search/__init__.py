"""Subset search: which combination of models blends best.

``search_subsets`` is the pure core (arrays in, :class:`SearchResult` out). It is exact and
exhaustive when the estimated time fits the budget (``method="auto"``) and otherwise
switches to beam search, saying so in ``result.note``. See ``docs/commands/search.md``.
"""

from blend.search._core import (
    SearchPlan,
    SearchResult,
    SubsetScore,
    beam_search,
    plan_search,
    search_subsets,
)
from blend.search._reference import brute_force_search

__all__ = [
    "SearchPlan",
    "SearchResult",
    "SubsetScore",
    "beam_search",
    "brute_force_search",
    "plan_search",
    "search_subsets",
]
