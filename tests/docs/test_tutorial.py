"""The tutorial page's Python cells run as written, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"


def python_cells(text: str) -> list[str]:
    """The bodies of the page's fenced ``python`` blocks, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_the_tutorial_has_its_cells():
    cells = python_cells(TUTORIAL.read_text(encoding="utf-8"))
    assert len(cells) >= 5
    assert any("blend.compare(" in c for c in cells)
    assert any(".to_csv(" in c for c in cells)


def test_the_tutorial_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for i, cell in enumerate(python_cells(TUTORIAL.read_text(encoding="utf-8"))):
        exec(compile(cell, f"docs/tutorial.md cell {i + 1}", "exec"), ns)  # noqa: S102
    sub = pd.read_csv(tmp_path / "submission.csv")
    store = ns["store"]
    assert sub[store.id_col].tolist() == list(store.test_ids)
    assert len(sub.columns) == 2  # the id, then the positive class's probability
    assert sub.iloc[:, 1].between(0, 1).all()
