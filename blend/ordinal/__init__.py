"""Ordinal targets: grades, cut points fitted inside the nested CV, and QWK."""

from blend.ordinal._cuts import available_cut_methods, fit_cuts, get_cut_method, register_cut_method
from blend.ordinal._qwk import (
    Grades,
    SortedScores,
    apply_cuts,
    infer_grades,
    parse_grades,
    qwk_from_confusion,
    qwk_grades,
)

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
]
