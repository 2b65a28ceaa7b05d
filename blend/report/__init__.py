"""The OOF report: how the models in a store compare, agree and fail.

One pure function, :func:`build_report`, turns aligned out-of-fold arrays into a frozen
:class:`Report`. It reads no files and prints nothing: ``blend.workflows.report`` loads the
store, calls it, and renders the result in the terminal (rich), as JSON
(:meth:`Report.to_dict`) and as HTML (:mod:`blend.report_html`).

What it computes, for each task type (a section that does not apply is ``None``):

==============================  ======  ==========  =========  ==========
section                         binary  multiclass  softclass  regression
==============================  ======  ==========  =========  ==========
score overall / per fold        yes     yes         yes        yes
secondary metrics               logloss, accuracy, recall      rmse, mae
TTA gain per view               yes     yes         yes        yes
mean-of-all blend               yes     yes         yes        yes
correlation (p of true class)   yes     yes         yes        residuals
error agreement (Jaccard)       yes     yes         yes        --
breakdown by column / fold      yes     yes         yes        yes
confusion matrix (blend)        yes     yes         argmax     --
reliability diagram (blend)     yes     yes         argmax     --
label-noise candidates          yes     yes         argmax     --
==============================  ======  ==========  =========  ==========

For soft targets the "given label" is the argmax of the soft target (``y_hard``), and
the probability of the true class is the expectation ``sum_c y_c * p_c``.

Definitions
-----------
- A model's OOF prediction is the mean of its TTA views' probabilities; the blend is the
  probability mean of all models (both through :func:`blend.combine.combine`).
- Fold statistics: ``fold_mean``/``fold_std`` (population std, ``ddof=0``) of the
  per-fold scores; the worst fold is the one with the worst score in the metric's
  direction.
- TTA gain of view ``t``: ``score(mean of views) - score(view t)``, sign-flipped for
  metrics where lower is better, so a positive gain always means averaging the views
  helped.
- Correlation: Pearson correlation between models of the probability each gives the
  true class (regression: of the residuals ``pred - y``). Error agreement: Jaccard
  index of the models' error sets, ``|both wrong| / |either wrong|`` (1 when neither
  errs).
- Label-noise candidates (confident learning, Northcutt et al. 2021): the per-class
  threshold ``t_k`` is the blend's mean probability of class ``k`` over rows labelled
  ``k``. A row is a candidate when the blend's argmax ``k`` differs from the given label
  ``y`` and ``p_k >= t_k``. Candidates are ranked by the negated normalised margin
  ``score = max_{j != y} p_j - p_y`` (cleanlab's ``normalized_margin`` label quality,
  negated), which lies in ``(0, 1]``; higher means more likely mislabelled.
- Reliability: top-label confidence ``max_c p_c`` in ``n_bins`` equal-width bins; per
  bin the mean confidence, the accuracy and the count; ECE is the count-weighted mean
  absolute gap.
"""

from blend.report._build import build_report
from blend.report._checks import MAX_GROUPS
from blend.report._results import (
    Breakdown,
    NoiseCandidates,
    Pair,
    Reliability,
    Report,
    ScoreSet,
    TTAGain,
)
from oof_common.core import TASKS

__all__ = [
    "Report",
    "ScoreSet",
    "TTAGain",
    "Pair",
    "Breakdown",
    "Reliability",
    "NoiseCandidates",
    "build_report",
    "TASKS",
    "MAX_GROUPS",
]
