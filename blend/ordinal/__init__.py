"""Ordinal targets: grades, cut points fitted inside the nested CV, and QWK.

- :mod:`blend.ordinal._qwk`: grades, :func:`apply_cuts`, QWK from a confusion matrix, and
  :class:`SortedScores` (QWK of any cut points from cumulative counts; one-cut scans);
- :mod:`blend.ordinal._cuts`: the registry of cut-point methods (``round``, ``distribution``,
  ``nelder-mead``, ``coordinate``, ``bagged``);
- :func:`fit_ordinal`: blend weights and cut points fitted per fold, pooled held-out QWK;
  :func:`procedure_ordinal`: the choice between such candidates scored doubly nested;
- :func:`search_ordinal`: subsets graded by their own cut points;
- :func:`stack_cuts`: cut points for a stacker's out-of-fold score without the graded fold;
- :func:`ordinal_report`: QWK per model and fold, rounded against fitted cut points.
"""

from oof_common.lazy import lazy_attributes

# imported on first use: `blend optimize --help` lists the cut-point methods without numpy
# (the registry in _cuts imports numpy where used; issue 22)
_LAZY = {
    "available_cut_methods": "blend.ordinal._cuts",
    "fit_cuts": "blend.ordinal._cuts",
    "get_cut_method": "blend.ordinal._cuts",
    "register_cut_method": "blend.ordinal._cuts",
    "OrdinalResult": "blend.ordinal._fit",
    "ProcedureResult": "blend.ordinal._fit",
    "fit_ordinal": "blend.ordinal._fit",
    "ordinal_scores": "blend.ordinal._fit",
    "procedure_ordinal": "blend.ordinal._fit",
    "Grades": "blend.ordinal._qwk",
    "SortedScores": "blend.ordinal._qwk",
    "apply_cuts": "blend.ordinal._qwk",
    "infer_grades": "blend.ordinal._qwk",
    "parse_grades": "blend.ordinal._qwk",
    "qwk_from_confusion": "blend.ordinal._qwk",
    "qwk_grades": "blend.ordinal._qwk",
    "OrdinalReport": "blend.ordinal._report",
    "ordinal_report": "blend.ordinal._report",
    "OrdinalSearchResult": "blend.ordinal._search",
    "search_ordinal": "blend.ordinal._search",
    "StackCutsResult": "blend.ordinal._stack",
    "stack_cuts": "blend.ordinal._stack",
}
__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "Grades",
    "SortedScores",
    "apply_cuts",
    "infer_grades",
    "parse_grades",
    "qwk_from_confusion",
    "qwk_grades",
    "available_cut_methods",
    "fit_cuts",
    "get_cut_method",
    "register_cut_method",
    "OrdinalResult",
    "fit_ordinal",
    "ordinal_scores",
    "ProcedureResult",
    "procedure_ordinal",
    "OrdinalReport",
    "ordinal_report",
    "OrdinalSearchResult",
    "search_ordinal",
    "StackCutsResult",
    "stack_cuts",
]
