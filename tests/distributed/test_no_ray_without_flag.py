"""Without --ray nothing imports Ray; with --ray and no Ray installed, one clear error line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import sys
from oof_store import synthetic
from blend.cli import main
store = synthetic.make_store(sys.argv[1], n_models=3, n_rows=120, n_classes=3, n_tta=1, seed=0)
assert main(["search", str(store.uri), "--top", "3", "--json", sys.argv[1] + ".json"]) == 0
assert main(["optimize", str(store.uri), "--method", "de", "--maxiter", "2", "--no-nested"]) == 0
from blend.cli.stack import main as stack
assert stack(["linear", str(store.uri), "--no-write"]) == 0
assert main(["compare", str(store.uri), "--methods", "lbfgs/prob", "--no-procedure",
             "--threads", "1"]) == 0
print("RAY_IMPORTED" if "ray" in sys.modules else "NO_RAY")
"""


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_commands_without_the_flag_never_import_ray(tmp_path):
    out = _run(SCRIPT, str(tmp_path / "s"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "NO_RAY"


def test_ray_flag_without_ray_installed_is_one_error_line(tmp_path):
    code = r"""
import sys
sys.modules["ray"] = None  # as if Ray were not installed
from oof_store import synthetic
from blend.cli import main
store = synthetic.make_store(sys.argv[1], n_models=3, n_rows=120, n_classes=3, n_tta=1, seed=0)
sys.exit(main(["search", str(store.uri), "--ray", "local"]))
"""
    out = _run(code, str(tmp_path / "s"))
    assert out.returncode == 2
    assert "--ray needs Ray, which is not installed: pip install 'ray>=2.9'" in out.stderr
    assert "Traceback" not in out.stderr
