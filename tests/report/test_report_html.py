"""The HTML report is one self-contained file and opens cleanly in a real browser."""

from __future__ import annotations

import base64
import importlib.util
import os
import re
from pathlib import Path

import numpy as np
import pytest

from blend.report import build_report
from blend.report_html import SECTIONS, render_html

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_report_html.py"


def _checker():
    spec = importlib.util.spec_from_file_location("check_report_html", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CHECK = _checker()


def require_chromium() -> str:
    """The browser's path; with no browser: a failure in CI (env CI set), else a skip."""
    path = CHECK.find_chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but chromium is not installed: the browser check is required "
                        "in CI (.ci/run installs it: apt-get install -y chromium)")
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium); "
                    "the browser check is skipped outside CI")
    return path


@pytest.fixture
def chromium() -> str:
    return require_chromium()


@pytest.fixture(scope="module")
def page_multiclass():
    rng = np.random.default_rng(0)
    n, c, m = 600, 4, 5
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(m, 2, n, c)) + 2.0 * np.eye(c)[y]
    P = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    r = build_report(P, y, np.arange(n) % 5, task="multiclass", models=[f"net<{i}>" for i in range(m)],
                     class_names=["healthy", "CBB", "CBSD", "CMD"],
                     by={"source": rng.choice(["2019", "2020"], n)})
    return r, render_html(r, title="test & report")


@pytest.mark.parametrize("task", ["binary", "multiclass", "softclass", "regression"])
def test_page_is_self_contained_with_every_section(make_arrays, task):
    P, y, folds = make_arrays(task, n_models=3, n_rows=300, n_tta=2)
    page = render_html(build_report(P, y, folds, task=task))
    for sid, heading in SECTIONS:
        assert f'<h2 id="{sid}">{heading}</h2>' in page
    urls = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", page)
    assert urls
    assert all(u.startswith(("data:", "#")) for u in urls)
    for b64 in re.findall(r'src="data:image/png;base64,([^"]+)"', page):
        assert base64.b64decode(b64).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<script" not in page


def test_names_are_escaped_and_numbers_shown(page_multiclass):
    r, page = page_multiclass
    assert "net&lt;0&gt;" in page
    assert "net<0>" not in page
    assert "<title>test &amp; report</title>" in page
    assert f"{r.blend.score:.5f}" in page
    top = r.noise
    if len(top):
        assert f"<td>{top.score[0]:.4f}</td>" in page


def test_report_opens_in_headless_chromium_without_console_errors(page_multiclass, tmp_path, chromium):
    _, page = page_multiclass
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    shot = tmp_path / "report.png"
    assert CHECK.check_html(path, screenshot=shot) == []
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_browser_check_catches_a_broken_page(tmp_path, chromium):
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><h2 id="scores">x</h2><img src="data:image/png;base64,AAAA">'
                   '<script>undefinedFunction();</script></body></html>')
    problems = CHECK.check_html(bad, sections=["scores", "noise"])
    text = "\n".join(problems)
    assert "Uncaught ReferenceError" in text
    assert "1 of 1 images did not decode" in text
    assert "section 'noise' is missing" in text


def _rows_of(page: str, section: str) -> list[str]:
    """First-cell texts of the first table of a section."""
    part = page.split(f'<h2 id="{section}">', 1)[1].split("</section>", 1)[0]
    table = part.split("<table>", 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr[^>]*><td class="l">([^<]*)</td>', table)


def test_tables_list_the_models_best_first_like_the_terminal(page_multiclass):
    r, page = page_multiclass
    ranked = [s.name for s in r.ranked()]
    scores = [s.score for s in r.ranked()]
    assert scores == sorted(scores, reverse=True)  # accuracy: higher first
    assert ranked != [s.name for s in r.models]  # the fixture's order is not already sorted
    escaped = [n.replace("<", "&lt;").replace(">", "&gt;") for n in ranked]
    assert _rows_of(page, "scores") == [*escaped, r.blend.name]
    assert _rows_of(page, "breakdown") == ["mean blend", *escaped]


def test_the_correlation_colour_scale_spans_the_data_with_a_colour_bar():
    from blend.report_html import _correlation_figure

    rng = np.random.default_rng(3)
    n, c = 400, 3
    y = rng.integers(0, c, n)
    shared = rng.normal(size=(n, c))
    logits = 3.0 * np.eye(c)[y] + shared + 0.1 * rng.normal(size=(3, 1, n, c))  # near-copies
    P = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    r = build_report(P, y, np.arange(n) % 4, task="multiclass")
    off = r.correlation[~np.eye(3, dtype=bool)]
    assert off.min() > 0.8  # three highly correlated models: one colour on a 0..1 scale
    fig = _correlation_figure(r)
    im = fig.axes[0].images[0]
    assert (im.norm.vmin, im.norm.vmax) == (pytest.approx(off.min()), pytest.approx(off.max()))
    assert len(fig.axes) == 2  # the heat map and its colour bar


def test_reliability_bins_show_their_counts(page_multiclass):
    from blend.report_html import _reliability_figure

    r, page = page_multiclass
    rel = r.reliability
    labels = [t.get_text() for t in _reliability_figure(r).axes[0].texts]
    assert labels == [f"n={int(k)}" for k in rel.counts if k > 0]
    part = page.split('<h2 id="reliability">', 1)[1].split("</section>", 1)[0]
    counts = re.findall(r"<tr><td>[0-9.]+&ndash;[0-9.]+</td><td>(\d+)</td>", part)
    assert [int(k) for k in counts] == [int(k) for k in rel.counts]
    assert sum(map(int, counts)) == r.n_rows


@pytest.mark.parametrize(("ci", "outcome"), [("1", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_without_a_browser_the_check_fails_in_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    monkeypatch.setattr(CHECK, "find_chromium", lambda: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="chromium is not installed"):
        require_chromium()


def test_a_binary_page_names_its_positive_class(make_arrays):
    P, y, folds = make_arrays("binary", n_models=3, n_rows=300, n_tta=1)
    page = render_html(build_report(P, y, folds, task="binary", class_names=["CE", "LAA"]))
    assert "positive class: &#x27;LAA&#x27; (AUC, log loss" in page or "positive class: 'LAA' (AUC, log loss" in page
