"""`blend search --top 50` prints one line per subset, not a table wrapped to three times that (issue 21)."""

from __future__ import annotations

import io

from rich.console import Console

from blend.cli.search import _table
from blend.search import search_subsets
from oof_store import softmax, synthetic


def test_fifty_subsets_of_long_names_print_as_about_fifty_lines():
    d = synthetic.make_oof(n_models=12, n_rows=200, n_folds=5, seed=0)
    names = [f"tf_efficientnet_b{i}_ns_fold_model" for i in range(12)]
    r = search_subsets(softmax(d.logits.copy()), d.y, d.folds, top=50, names=names,
                       metric="accuracy", method="beam", max_size=8)
    buf = io.StringIO()
    Console(file=buf, width=120).print(_table(r))
    lines = buf.getvalue().splitlines()
    assert len(r.results) == 50
    assert len(lines) <= 50 + 8  # title, header, rules
    assert all(len(line) <= 120 for line in lines)
