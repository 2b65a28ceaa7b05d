"""One local Ray (2 CPUs) shared by every test of this folder; skipped only without Ray."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the [distributed] extra (ray) is not installed")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray with 2 CPUs; the commands' ``--ray local`` joins it instead of starting one."""
    import logging

    # workers import this checkout (not another installed copy of the package)
    path = os.pathsep.join([str(ROOT), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]])
    os.environ["PYTHONPATH"] = path
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    owned = not ray.is_initialized()
    if owned:
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    if owned:
        ray.shutdown()
