"""``.ci/run`` runs exactly the README's test command, and that command checks the docs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_test_command() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Run the tests", 1)[1]
    return re.search(r"```bash\n(.*?)\n```", section, flags=re.S).group(1).strip()


def test_ci_runs_the_readme_command():
    cmd = readme_test_command()
    lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert lines[-1] == cmd


def test_the_command_lints_and_builds_the_site_strictly():
    cmd = readme_test_command()
    assert "docs" in re.search(r'"\.\[(.*?)\]"', cmd).group(1).split(",")
    assert "ruff check ." in cmd
    assert "mkdocs build --strict" in cmd
    assert cmd.endswith("python3 -m pytest -q")


def test_the_site_output_is_not_committed():
    assert "/site/" in (ROOT / ".gitignore").read_text().splitlines()
    assert "site_dir: site" in (ROOT / "mkdocs.yml").read_text()
