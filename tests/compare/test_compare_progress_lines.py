"""`blend compare` piped: progress lines on stderr (one per minute; here every call), issue 21."""

from __future__ import annotations

import re

from blend.cli import main
from oof_store import synthetic


def test_piped_compare_prints_progress_lines(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OOF_PROGRESS_EVERY", "0")
    store = synthetic.make_store(tmp_path / "s", n_models=3, n_rows=240, n_classes=3, n_folds=4, seed=3)
    assert main(["compare", str(store.uri), "--no-procedure", "--threads", "1"]) == 0
    err = capsys.readouterr().err
    lines = re.findall(r"blend compare --budget fast: (\d+)/(\d+) \(fits; last: [^)]+\), \d+:\d\d elapsed", err)
    assert lines
    done, total = map(int, lines[-1])
    assert done == total


def test_heartbeat_is_quiet_between_beats(monkeypatch, capsys):
    from oof_common.cli import Heartbeat

    beat = Heartbeat("x", every=3600)
    beat.active = True
    for i in range(10):
        beat(i, 10)
    assert capsys.readouterr().err == ""
