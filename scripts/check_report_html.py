#!/usr/bin/env python3
"""Open a ``blend report --html`` file in headless Chromium and check it.

Checks, in a real browser (Debian's ``chromium`` package: ``apt-get install -y chromium``):

1. the page, loaded as it is, logs nothing to the console (no error, no warning: the
   report has no JavaScript, so any console message is a problem);
2. the page references no network resource (every ``src``/``href`` is a ``data:`` URI
   or an in-page ``#anchor``);
3. after the ``load`` event every section heading (``blend.report_html.SECTIONS``) is in
   the DOM and every ``<img>`` decoded (``naturalWidth > 0``), checked by a probe script
   added to a temporary copy of the page;
4. optionally (``--screenshot PNG``) a full-width screenshot for a person to look at.

Usage::

    python3 scripts/check_report_html.py report.html --screenshot report.png

Exit code 0 when every check passes, 1 with one line per problem otherwise, 2 when
Chromium is not installed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]
PROBE = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length;
  var heads = Array.prototype.map.call(document.querySelectorAll("h2[id]"), function (h) { return h.id; });
  console.log("REPORTCHECK images=" + imgs.length + " broken=" + broken + " sections=" + heads.join(","));
});
</script>"""
_CONSOLE = re.compile(r':CONSOLE[^\]]*\]\s*"?(.*?)"?(?:, source: .*)?$')


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None."""
    env = os.environ.get("CHROMIUM")
    if env:
        return env if shutil.which(env) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(chromium: str, url: str, extra: list[str], timeout: float) -> tuple[str, list[str]]:
    """Run headless Chromium on ``url``; return (stdout, console messages)."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
               *extra, url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    console = [m.group(1) for line in proc.stderr.splitlines() if (m := _CONSOLE.search(line))]
    return proc.stdout, console


def check_html(path: str | Path, *, screenshot: str | Path | None = None, chromium: str | None = None,
               sections: list[str] | None = None, timeout: float = 120.0,
               window: tuple[int, int] = (1280, 4000)) -> list[str]:
    """Every problem found with the report at ``path`` (empty list: it passed).

    Raises FileNotFoundError when Chromium is not installed.
    """
    path = Path(path).resolve()
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("chromium not found; install it with `apt-get install -y chromium`")
    if sections is None:
        from blend.report_html import SECTIONS

        sections = [sid for sid, _ in SECTIONS]
    problems: list[str] = []
    text = path.read_text(encoding="utf-8")

    # 2. static: no network resources
    for attr, url in re.findall(r"""\b(src|href)\s*=\s*["']([^"']*)["']""", text):
        if not (url.startswith("data:") or url.startswith("#")):
            problems.append(f"{attr}={url[:80]!r} is not embedded (the report must be self-contained)")

    # 1. the page as it is: no console message at all
    _, console = _run(chromium, path.as_uri(), ["--dump-dom"], timeout)
    problems += [f"console message: {msg}" for msg in console]

    # 3. a probed copy: headings and decoded images after load
    with tempfile.TemporaryDirectory(prefix="report-check-") as tmp:
        probed = Path(tmp) / "probed.html"
        probed.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
        dom, console = _run(chromium, probed.as_uri(), ["--dump-dom"], timeout)
    lines = [m for m in console if m.startswith("REPORTCHECK")]
    if not lines:
        problems.append("the probe did not report (the page did not finish loading)")
    else:
        fields = dict(kv.split("=", 1) for kv in lines[-1].split()[1:])
        if int(fields["broken"]):
            problems.append(f"{fields['broken']} of {fields['images']} images did not decode")
        found = [s for s in fields.get("sections", "").split(",") if s]
        for sid in sections:
            if sid not in found:
                problems.append(f"section {sid!r} is missing (found {found})")
    for sid in sections:
        if f'id="{sid}"' not in dom:
            problems.append(f"section {sid!r} is not in the dumped DOM")

    # 4. screenshot
    if screenshot is not None:
        shot = Path(screenshot).resolve()
        shot.parent.mkdir(parents=True, exist_ok=True)
        _run(chromium, path.as_uri(), [f"--screenshot={shot}", f"--window-size={window[0]},{window[1]}"], timeout)
        if not shot.exists() or shot.stat().st_size == 0:
            problems.append(f"no screenshot was written to {shot}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", help="the report to check")
    parser.add_argument("--screenshot", metavar="PNG", help="also save a screenshot here")
    parser.add_argument("--window-height", type=int, default=4000, metavar="PX",
                        help="height of the screenshot in pixels (default 4000)")
    args = parser.parse_args(argv)
    try:
        problems = check_html(args.html, screenshot=args.screenshot, window=(1280, args.window_height))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for p in problems:
        print(f"FAIL: {p}")
    if not problems:
        print(f"OK: {args.html} opens in headless Chromium with no console message, "
              "every section present, every image decoded")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
