"""One local Ray (2 CPUs) shared by every test of this folder that needs it.

Those tests skip only when Ray is not installed; the others (shard merging with the serial
executor, no Ray import without --ray) run either way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray with 2 CPUs, started once for every test here (start-up takes seconds);
    the commands' ``--ray local`` joins it instead of starting their own."""
    import logging

    ray = pytest.importorskip("ray", reason="the [distributed] extra (ray) is not installed")
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
