"""``blend report STORE``: the OOF report people read before they blend.

:func:`blend.workflows.report.report` loads the store's OOF predictions and calls the pure
core :func:`blend.report.build_report`; ``report_cli`` prints it with rich tables and writes
the optional JSON, HTML and label-noise CSV. See ``docs/commands/report.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from blend._errors import BlendError
from oof_common.outputs import output_file

if TYPE_CHECKING:  # numpy and the report are imported where used: --help parses without them
    from blend.report import Report

__all__ = ["report_cli", "register"]

_MAX_TERMINAL_MODELS_IN_BREAKDOWN = 8
_MAX_TERMINAL_CLASSES = 10


# --------------------------------------------------------------------------- terminal


def _fmt(x, digits: int = 5) -> str:
    import numpy as np

    return "-" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _print(report: Report, console, noise_top: int) -> None:
    import numpy as np
    from rich.markup import escape as e  # user text (classes, groups, ids, views) is not markup
    from rich.table import Table

    r = report
    direction = "higher" if r.greater_is_better else "lower"
    console.print(
        f"[bold]OOF report[/bold]: {len(r.models)} model(s), {r.n_rows} rows, {len(r.fold_ids)} folds, "
        f"task {r.task}, metric [bold]{r.metric}[/bold] ({direction} is better)"
    )
    for note in r.notes:
        style = "bold red" if note.startswith(("NOT HONEST", "TEST PREDICTIONS SUSPECT")) else "dim"
        console.print(f"[{style}]note: {e(note)}[/{style}]", highlight=False)

    # scores
    sec = [k for k in r.blend.secondary if k != r.metric]
    t = Table(title="Scores per model (best first; folds: mean, std, worst)", title_justify="left")
    t.add_column("model", no_wrap=True)
    for col in [r.metric, "fold mean", "fold std", "worst fold", *sec]:
        t.add_column(col, justify="right", no_wrap=True)
    order = r.ranked()

    def row(s, style=None):
        w = s.worst_fold_index
        worst = "-" if w < 0 else f"{r.fold_ids[w]}: {_fmt(s.fold_scores[w])}"
        cells = [s.name, _fmt(s.score), _fmt(s.fold_mean), _fmt(s.fold_std), worst]
        cells += [_fmt(s.secondary[k]) for k in sec]
        t.add_row(*cells, style=style)

    for s in order:
        row(s)
    t.add_section()
    row(r.blend, style="bold cyan")
    console.print(t)

    if r.blend.recall is not None and len(r.class_names) <= _MAX_TERMINAL_CLASSES:
        t = Table(title="Per-class recall", title_justify="left")
        t.add_column("model", no_wrap=True)
        for c in r.class_names:
            t.add_column(e(c), justify="right", no_wrap=True)
        for s in order:
            t.add_row(s.name, *[_fmt(v, 3) for v in s.recall])
        t.add_section()
        t.add_row(r.blend.name, *[_fmt(v, 3) for v in r.blend.recall], style="bold cyan")
        console.print(t)

    # TTA
    if r.tta:
        t = Table(title="TTA gain per view (mean of views vs the view alone; > 0: averaging helps)",
                  title_justify="left")
        for col in ["model", "view", "view alone", "mean of views", "gain"]:
            t.add_column(col, justify="left" if col in ("model", "view") else "right")
        for g in r.tta:
            for v, s, d in zip(g.views, g.view_scores, g.gains, strict=False):
                t.add_row(g.model, e(v), _fmt(s), _fmt(g.mean_score),
                          f"[{'green' if d >= 0 else 'red'}]{d:+.5f}[/]" if np.isfinite(d) else "-")
        console.print(t)
    else:
        console.print("[dim]TTA: no model has more than one view[/dim]")

    # correlation
    if r.most_correlated:
        what = "residuals" if r.task == "regression" else "p(true class)"
        t = Table(title=f"Correlation of models ({what}; error agreement = Jaccard of error sets)",
                  title_justify="left")
        for col in ["", "model a", "model b", "correlation"]:
            t.add_column(col, justify="right" if col == "correlation" else "left")
        if r.error_agreement is not None:
            t.add_column("error agreement", justify="right")
        for label, pairs in (("most", r.most_correlated), ("least", r.least_correlated)):
            for p in pairs:
                cells = [label, p.a, p.b, _fmt(p.correlation, 4)]
                if p.error_agreement is not None:
                    cells.append(_fmt(p.error_agreement, 4))
                t.add_row(*cells)
        console.print(t)

    if 1 < len(r.models) <= _MAX_TERMINAL_MODELS_IN_BREAKDOWN:
        t = Table(title="Correlation matrix", title_justify="left")
        t.add_column("", no_wrap=True)
        for m in r.model_names:
            t.add_column(m, justify="right")
        for i, m in enumerate(r.model_names):
            t.add_row(m, *[_fmt(v, 3) for v in r.correlation[i]])
        console.print(t)

    # breakdowns
    names = r.model_names
    for b in r.breakdowns:
        t = Table(title=f"{r.metric} by {e(b.column)}", title_justify="left")
        t.add_column(e(b.column))
        t.add_column("rows", justify="right")
        t.add_column("mean blend", justify="right")
        wide = len(names) <= _MAX_TERMINAL_MODELS_IN_BREAKDOWN
        if wide:
            for m in names:
                t.add_column(m, justify="right")
        else:
            t.add_column("best model", justify="right")
            t.add_column("worst model", justify="right")
        for g, v in enumerate(b.values):
            s = b.scores[:, g]
            cells = [e(str(v)), str(int(b.n_rows[g])), _fmt(b.blend_scores[g])]
            if wide:
                cells += [_fmt(x) for x in s]
            elif np.isfinite(s).any():
                filled = np.where(np.isfinite(s), s, -np.inf if r.greater_is_better else np.inf)
                hi, lo = int(np.argmax(filled)), int(np.argmin(filled))
                best, worst = (hi, lo) if r.greater_is_better else (lo, hi)
                cells += [f"{names[best]} {_fmt(s[best])}", f"{names[worst]} {_fmt(s[worst])}"]
            else:
                cells += ["-", "-"]
            t.add_row(*cells)
        console.print(t)

    # confusion / calibration
    if r.confusion is not None and len(r.class_names) <= _MAX_TERMINAL_CLASSES:
        t = Table(title="Confusion matrix of the mean blend (rows: given label, columns: predicted)",
                  title_justify="left")
        t.add_column("")
        for c in r.class_names:
            t.add_column(e(c), justify="right")
        for i, c in enumerate(r.class_names):
            t.add_row(e(c), *[str(int(x)) for x in r.confusion[i]])
        console.print(t)
    if r.reliability is not None:
        console.print(f"Calibration of the mean blend: ECE = {r.reliability.ece:.4f} "
                      f"({len(r.reliability.counts)} bins)")

    # label noise
    if r.noise is not None:
        nz = r.noise
        k = min(noise_top, len(nz))
        t = Table(title=f"Label-noise candidates: {len(nz)} rows where the mean blend confidently "
                        f"disagrees with the label, classes read against their priors (top {k}; "
                        "score = log(prior(given) / p(given)))",
                  title_justify="left")
        for col in ["id", "given", "predicted", "score", "p(given)", "p(pred)"]:
            t.add_column(col, justify="right" if col.startswith(("score", "p(")) else "left")
        for i in range(k):
            t.add_row(e(str(nz.ids[i])), e(r.class_names[int(nz.given[i])]),
                      e(r.class_names[int(nz.predicted[i])]),
                      _fmt(nz.score[i], 4), _fmt(nz.p_given[i], 4), _fmt(nz.p_predicted[i], 4))
        console.print(t)


# --------------------------------------------------------------------------- CLI


def report_cli(args: argparse.Namespace) -> int:
    """Report on the store's models and write the JSON, HTML and noise CSV asked for (``blend report``)."""
    from rich.markup import escape

    from blend.workflows.api import ReportRun, report_facts
    from blend.workflows.report import report, write_noise_csv
    from oof_common.cli import console
    from oof_store import Store

    if args.noise_top < 0:
        raise BlendError(f"--noise-top must be >= 0, got {args.noise_top}")
    store = Store(args.store)
    if args.noise_csv and store.task == "regression":
        raise BlendError("label-noise candidates do not apply to a regression task; drop --noise-csv")
    result = report(store, models=args.models, metric=args.metric, by=args.by or (),
                    n_pairs=args.pairs, n_bins=args.bins, allow_in_sample=args.allow_in_sample)
    from blend.cli import _ordinal
    from blend.workflows.ordinal import is_ordinal, ordinal_report_store

    ordinal = None
    if is_ordinal(store, args.metric, args.ordinal):
        ordinal = ordinal_report_store(store, args.models, args.grades)
    if not args.quiet:
        _print(result, console, args.noise_top)
        from blend.metrics import about_positive

        positive = about_positive(result.metric, store.task, store.class_names)
        if positive:
            console.print(positive, highlight=False)
        if ordinal is not None:
            _ordinal.print_ordinal_report(ordinal)
    if args.json:
        d = ReportRun(result, store, report_facts(store, result)).to_dict()
        if ordinal is not None:
            d["ordinal"] = ordinal.to_dict()
        Path(args.json).write_text(json.dumps(d, indent=1) + "\n", encoding="utf-8")
        console.print(escape(f"wrote {args.json}"))
    if args.noise_csv:
        n = write_noise_csv(result, args.noise_csv, id_col=store.id_col, folds=store.folds)
        console.print(escape(f"wrote {n} label-noise candidates to {args.noise_csv}"))
    if args.html:
        from blend.report_html import render_html

        page = render_html(result, title=f"OOF report: {Path(str(store.uri)).name}",
                           noise_top=max(args.noise_top, 50), meta=[f"store: {store.uri}"])
        Path(args.html).write_text(page, encoding="utf-8")
        console.print(escape(f"wrote {args.html}"))
    return 0


def register(subparsers) -> None:
    """Add the ``report`` sub-command to the ``blend`` parser."""
    from blend.metrics import canonical_metric, metric_help
    from oof_common.cli import add_debug_flag

    p = subparsers.add_parser(
        "report",
        help="per-model, per-fold, TTA, correlation, breakdown and label-noise report of the OOF",
        description="Report on the models in an OOF store: scores overall and per fold, secondary "
                    "metrics, TTA gains, the mean-of-all blend, pairwise correlation, breakdowns by "
                    "fold and by extra target columns, and label-noise candidates.",
    )
    p.add_argument("store", help="path or URI of the store")
    p.add_argument("--models", nargs="+", metavar="MODEL", help="models to include (default: all)")
    p.add_argument("--metric", type=canonical_metric, help="primary " + metric_help())
    p.add_argument("--by", action="append", metavar="COLUMN",
                   help="break the score down by this column of the targets (repeatable)")
    p.add_argument("--html", metavar="FILE", type=output_file, help="write a self-contained HTML report")
    p.add_argument("--json", metavar="FILE", type=output_file, help="write the report as JSON")
    p.add_argument("--noise-csv", metavar="FILE", type=output_file,
                   help="write every label-noise candidate (id, given, predicted, score) as CSV")
    p.add_argument("--noise-top", type=int, default=10, metavar="N",
                   help="label-noise candidates shown in the terminal (default 10; HTML: max(N, 50))")
    p.add_argument("--pairs", type=int, default=3, metavar="N",
                   help="most/least correlated pairs to name (default 3)")
    p.add_argument("--bins", type=int, default=15, metavar="N",
                   help="bins of the reliability diagram (default 15)")
    p.add_argument("--quiet", action="store_true", help="print no tables (only the files written)")
    p.add_argument("--allow-in-sample", action="store_true",
                   help="also show blends written by `blend apply --write-model` (fitted on all "
                        "OOF rows), labelled NOT HONEST")
    p.add_argument("--ordinal", action="store_true",
                   help="ordinal section (also on with --metric qwk on a regression store): QWK "
                        "rounded vs cut points per model and fold, grade confusion matrix")
    p.add_argument("--grades", metavar="SPEC", help="grade values for the ordinal section, e.g. 1..6")
    add_debug_flag(p)
    p.set_defaults(func=report_cli)
