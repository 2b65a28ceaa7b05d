"""Render a :class:`blend.report.Report` as one self-contained HTML file.

Plots are drawn with matplotlib's Agg canvas (no pyplot, no display) and embedded as
base64 PNG ``data:`` URIs; the CSS is inline and there is no JavaScript and no network
resource, so the file opens anywhere, offline. Every section has an ``<h2>`` with a
stable ``id`` (:data:`SECTIONS`); a section that does not apply to the task says so
instead of disappearing, so a reader (and the browser check in
``scripts/check_report_html.py``) always finds the same headings.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import numpy as np

from blend.report import Report, ScoreSet

__all__ = ["render_html", "SECTIONS"]

#: (id, heading) of every section, in page order.
SECTIONS: list[tuple[str, str]] = [
    ("scores", "Scores per model"),
    ("folds", "Score by fold per model"),
    ("correlation", "Correlation of models"),
    ("confusion", "Confusion matrix of the mean blend"),
    ("reliability", "Reliability diagram of the mean blend"),
    ("tta", "TTA gains"),
    ("breakdown", "Breakdown by group"),
    ("noise", "Label-noise candidates"),
]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;
color:#222;padding:0 16px}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}tr.blend td{font-weight:bold;background:#eef6ff}
.best{background:#e6f7e6}.worst{background:#fdeaea}.na{color:#888;font-style:italic}
.meta{color:#555}img{max-width:100%;height:auto;display:block;margin:.5em 0}
nav a{margin-right:1em}.scroll{overflow-x:auto;max-width:100%}
"""


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def _num(x: float | None, digits: int = 5) -> str:
    if x is None or not np.isfinite(x):
        return "&ndash;"
    return f"{x:.{digits}f}"


def _png(fig) -> str:
    """Embed a matplotlib Figure as an <img> with a base64 PNG data URI."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _figure(w: float, h: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


def _na(text: str) -> str:
    return f'<p class="na">{_esc(text)}</p>'


# --------------------------------------------------------------------------- sections


def _scores_table(r: Report) -> str:
    sec_names = [k for k in r.blend.secondary if k != r.metric]
    show_recall = r.blend.recall is not None and len(r.class_names) <= 20
    head = (
        '<tr><th class="l">model</th>'
        f"<th>{_esc(r.metric)}</th><th>fold mean</th><th>fold std</th><th>worst fold</th>"
        + "".join(f"<th>{_esc(s)}</th>" for s in sec_names)
        + ("".join(f"<th>recall {_esc(c)}</th>" for c in r.class_names) if show_recall else "")
        + "</tr>"
    )
    best = r.best_model().name

    def row(s: ScoreSet, cls: str = "") -> str:
        w = s.worst_fold_index
        worst = "&ndash;" if w < 0 else f"{_esc(r.fold_ids[w])} ({_num(s.fold_scores[w])})"
        cells = [
            f'<td class="l">{_esc(s.name)}</td>',
            f"<td>{_num(s.score)}</td>",
            f"<td>{_num(s.fold_mean)}</td>",
            f"<td>{_num(s.fold_std)}</td>",
            f"<td>{worst}</td>",
        ]
        cells += [f"<td>{_num(s.secondary[k])}</td>" for k in sec_names]
        if show_recall:
            cells += [f"<td>{_num(v, 3)}</td>" for v in s.recall]
        return f'<tr class="{cls}">' + "".join(cells) + "</tr>"

    body = "".join(row(s, "best" if s.name == best and len(r.models) > 1 else "") for s in r.ranked())
    body += row(r.blend, "blend")
    return f'<div class="scroll"><table>{head}{body}</table></div>'


def _folds_plot(r: Report) -> str:
    m = len(r.models)
    ranked = r.ranked()  # best first, top of the plot, as in the tables
    names = [s.name for s in ranked] + [r.blend.name]
    scores = np.array([s.fold_scores for s in ranked] + [r.blend.fold_scores], dtype=float)
    fig = _figure(8, max(2.0, 0.32 * (m + 1) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    ypos = np.arange(m + 1)[::-1]
    cmap = __import__("matplotlib").colormaps["tab10"]
    for j, k in enumerate(r.fold_ids):
        ax.scatter(scores[:, j], ypos, s=22, color=cmap(j % 10), label=f"fold {k}", zorder=3)
    means = np.nanmean(np.where(np.isfinite(scores), scores, np.nan), axis=1) if scores.size else []
    ax.scatter(means, ypos, marker="|", s=300, color="black", label="fold mean", zorder=4)
    ax.set_yticks(ypos)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel(r.metric)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def _corr_span(r: Report) -> tuple[float, float]:
    """The colour scale of the correlation map: the off-diagonal values' range (padded when flat)."""
    m = len(r.models)
    off = r.correlation[~np.eye(m, dtype=bool)]
    off = off[np.isfinite(off)]
    if off.size == 0:
        return 0.0, 1.0
    lo, hi = float(off.min()), float(off.max())
    if hi - lo < 1e-3:
        lo, hi = lo - 5e-4, hi + 5e-4
    return lo, hi


def _correlation_figure(r: Report):
    """The correlation heat map; its colour scale spans the data, read on the colour bar."""
    m = len(r.models)
    fig = _figure(min(3 + 0.35 * m, 14), min(2.5 + 0.35 * m, 13))
    ax = fig.add_subplot(1, 1, 1)
    # the diagonal (1.0) is masked; the scale spans the off-diagonal values (0.87 to 0.96 on a
    # 0..1 scale was one colour), and the colour bar says where that range lies
    off_diag = ~np.eye(m, dtype=bool)
    shown = np.ma.masked_array(r.correlation, mask=~off_diag)
    cmap = __import__("matplotlib").colormaps["viridis"].with_extremes(bad="#dddddd")
    lo, hi = _corr_span(r)
    im = ax.imshow(shown, cmap=cmap, vmin=lo, vmax=hi)
    names = r.model_names
    ax.set_xticks(range(m))
    ax.set_yticks(range(m))
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_yticklabels(names, fontsize=7)
    if m <= 12:
        for i in range(m):
            for j in range(m):
                if i != j:
                    v = r.correlation[i, j]
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if v < (lo + hi) / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="correlation")
    return fig


def _correlation(r: Report) -> str:
    m = len(r.models)
    what = ("residuals (prediction - target)" if r.task == "regression"
            else "the probability each model gives the true class")
    span = _corr_span(r) if m >= 2 else (0.0, 1.0)
    out = [f'<p class="meta">Pearson correlation of {_esc(what)} (diagonal greyed out; '
           f"the colour scale spans the data, {span[0]:.2f} to {span[1]:.2f}: read the colour bar)."
           + ("" if r.error_agreement is None else
              " Error agreement: |both wrong| / |either wrong| (Jaccard of the error sets).")
           + "</p>"]
    if m < 2:
        return "".join(out) + _na("Only one model: there are no pairs to correlate.")
    fig = _correlation_figure(r)
    out.append(_png(fig))
    head = '<tr><th class="l"></th><th class="l">model a</th><th class="l">model b</th><th>correlation</th>'
    head += "<th>error agreement</th></tr>" if r.error_agreement is not None else "</tr>"
    rows = []
    for label, pairs in (("most correlated", r.most_correlated), ("least correlated", r.least_correlated)):
        for p in pairs:
            rows.append(
                f'<tr><td class="l">{label}</td><td class="l">{_esc(p.a)}</td><td class="l">{_esc(p.b)}</td>'
                f"<td>{_num(p.correlation, 4)}</td>"
                + ("" if p.error_agreement is None else f"<td>{_num(p.error_agreement, 4)}</td>")
                + "</tr>"
            )
    out.append(f"<table>{head}{''.join(rows)}</table>")
    return "".join(out)


def _confusion(r: Report) -> str:
    if r.confusion is None:
        return _na(f"Does not apply to a {r.task} task.")
    cm = r.confusion
    c = cm.shape[0]
    fig = _figure(min(2.5 + 0.6 * c, 12), min(2.2 + 0.6 * c, 11))
    ax = fig.add_subplot(1, 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(c))
    ax.set_yticks(range(c))
    ax.set_xticklabels(r.class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(r.class_names, fontsize=8)
    ax.set_xlabel("predicted (argmax of the mean blend)")
    ax.set_ylabel("given label")
    if c <= 15:
        for i in range(c):
            for j in range(c):
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the row")
    return '<p class="meta">Counts; colour is the fraction of each given label.</p>' + _png(fig)


def _reliability_figure(r: Report):
    """The reliability diagram; each non-empty bin's bar is labelled with its row count."""
    rel = r.reliability
    fig = _figure(5.5, 5)
    ax = fig.add_subplot(1, 1, 1)
    centers = (rel.bin_edges[:-1] + rel.bin_edges[1:]) / 2
    width = np.diff(rel.bin_edges)
    ok = rel.counts > 0
    bars = ax.bar(centers[ok], rel.accuracy[ok], width=width[ok] * 0.9, color="#4c72b0",
                  alpha=0.8, label="accuracy in bin (n = rows)")
    ax.bar_label(bars, labels=[f"n={int(n)}" for n in rel.counts[ok]], fontsize=6, padding=1,
                 rotation=90 if ok.sum() > 10 else 0)
    ax.plot(rel.confidence[ok], rel.accuracy[ok], "o-", color="#dd8452", label="(confidence, accuracy)")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("top-label confidence")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def _reliability(r: Report) -> str:
    rel = r.reliability
    if rel is None:
        return _na(f"Does not apply to a {r.task} task.")
    rows = "".join(
        f"<tr><td>{lo:.2f}&ndash;{hi:.2f}</td><td>{int(n)}</td><td>{_num(c, 4)}</td>"
        f"<td>{_num(a, 4)}</td></tr>"
        for lo, hi, n, c, a in zip(rel.bin_edges[:-1], rel.bin_edges[1:], rel.counts,
                                   rel.confidence, rel.accuracy, strict=True)
    )
    table = ("<table><tr><th>confidence bin</th><th>rows</th><th>mean confidence</th>"
             f"<th>accuracy</th></tr>{rows}</table>")
    return (f'<p class="meta">Expected calibration error (ECE): {_num(rel.ece, 4)}; each bar is '
            "labelled with the number of rows in its bin.</p>" + _png(_reliability_figure(r)) + table)


def _tta(r: Report) -> str:
    if not r.tta:
        return _na("No model has more than one TTA view.")
    fig = _figure(8, max(2.0, 0.3 * sum(len(t.views) for t in r.tta) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    labels, gains = [], []
    for t in r.tta:
        for v, g in zip(t.views, t.gains, strict=False):
            labels.append(f"{t.model} / {v}")
            gains.append(g)
    gains_a = np.array(gains, dtype=float)
    ypos = np.arange(len(labels))[::-1]
    ax.barh(ypos, gains_a, color=np.where(gains_a >= 0, "#55a868", "#c44e52"))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(ypos)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel(f"gain of the mean of views over the view alone ({r.metric}; > 0: averaging helps)")
    rows = "".join(
        f'<tr><td class="l">{_esc(t.model)}</td><td class="l">{_esc(v)}</td><td>{_num(s)}</td>'
        f"<td>{_num(t.mean_score)}</td><td>{_num(g)}</td></tr>"
        for t in r.tta
        for v, s, g in zip(t.views, t.view_scores, t.gains, strict=False)
    )
    table = (f'<table><tr><th class="l">model</th><th class="l">view</th><th>view alone</th>'
             f"<th>mean of views</th><th>gain</th></tr>{rows}</table>")
    return _png(fig) + table


def _breakdown(r: Report) -> str:
    """One table per breakdown: a row per model (mean blend first), a column per group."""
    out = []
    names = r.model_names
    for b in r.breakdowns:
        head = (f'<tr><th class="l">model \\ {_esc(b.column)}</th>'
                + "".join(f"<th>{_esc(v)}<br><small>{int(n)} rows</small></th>"
                          for v, n in zip(b.values, b.n_rows, strict=False))
                + "</tr>")
        best = np.full(len(b.values), np.nan)
        worst = np.full(len(b.values), np.nan)
        if len(names) > 1:
            for g in range(len(b.values)):
                s = b.scores[:, g]
                if np.isfinite(s).any():
                    hi, lo = np.nanmax(s), np.nanmin(s)
                    best[g], worst[g] = (hi, lo) if r.greater_is_better else (lo, hi)
        rows = ['<tr class="blend"><td class="l">mean blend</td>'
                + "".join(f"<td>{_num(x)}</td>" for x in b.blend_scores) + "</tr>"]
        for i in [names.index(s.name) for s in r.ranked()]:  # best overall model first
            m = names[i]
            cells = []
            for g, x in enumerate(b.scores[i]):
                cls = "best" if x == best[g] else ("worst" if x == worst[g] else "")
                cells.append(f'<td class="{cls}">{_num(x)}</td>')
            rows.append(f'<tr><td class="l">{_esc(m)}</td>{"".join(cells)}</tr>')
        out.append(f'<h3>by {_esc(b.column)}</h3><div class="scroll"><table>{head}{"".join(rows)}'
                   "</table></div>")
    return (f'<p class="meta">{_esc(r.metric)} on the rows of each group; green: best model in the '
            "group, red: worst.</p>" + "".join(out))


def _noise(r: Report, top: int) -> str:
    nz = r.noise
    if nz is None:
        return _na(f"Does not apply to a {r.task} task.")
    intro = (f'<p class="meta">{len(nz)} rows where the mean blend confidently disagrees with the '
             f"label (argmax probability above that class's confident-learning threshold); "
             f"score = p(predicted) - p(given label), highest first. Showing the top "
             f"{min(top, len(nz))}.</p>")
    if len(nz) == 0:
        return intro + _na("No candidate.")
    rows = "".join(
        f'<tr><td>{i + 1}</td><td class="l">{_esc(nz.ids[i])}</td>'
        f'<td class="l">{_esc(r.class_names[int(nz.given[i])])}</td>'
        f'<td class="l">{_esc(r.class_names[int(nz.predicted[i])])}</td>'
        f"<td>{_num(nz.score[i], 4)}</td><td>{_num(nz.p_given[i], 4)}</td>"
        f"<td>{_num(nz.p_predicted[i], 4)}</td></tr>"
        for i in range(min(top, len(nz)))
    )
    return intro + (
        '<table><tr><th>#</th><th class="l">id</th><th class="l">given label</th>'
        '<th class="l">predicted label</th><th>score</th><th>p(given)</th><th>p(predicted)</th></tr>'
        f"{rows}</table>"
    )


def render_html(report: Report, *, title: str | None = None, noise_top: int = 50,
                meta: Sequence[str] = ()) -> str:
    """The report as one self-contained HTML document (a str).

    Parameters
    ----------
    report : Report
    title : str, optional
        Page title (default "OOF report").
    noise_top : int, default 50
        How many label-noise candidates to list.
    meta : list of str
        Extra lines shown under the title (e.g. the store path).
    """
    r = report
    title = title or "OOF report"
    body = {
        "scores": _scores_table(r),
        "folds": _folds_plot(r),
        "correlation": _correlation(r),
        "confusion": _confusion(r),
        "reliability": _reliability(r),
        "tta": _tta(r),
        "breakdown": _breakdown(r),
        "noise": _noise(r, noise_top),
    }
    nav = "".join(f'<a href="#{sid}">{_esc(h)}</a>' for sid, h in SECTIONS)
    positive = ([f"positive class: {r.class_names[1]!r} (AUC, log loss and the binary scores are "
                 "about it)"] if r.task == "binary" and len(r.class_names) == 2 else [])
    info = "<br>".join(_esc(x) for x in [*meta, *r.summary().splitlines(), *positive, *r.notes])
    sections = "".join(f'<section><h2 id="{sid}">{_esc(h)}</h2>{body[sid]}</section>' for sid, h in SECTIONS)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_esc(title)}</h1><p class=\"meta\">{info}</p><nav>{nav}</nav>{sections}"
        "</body></html>\n"
    )
