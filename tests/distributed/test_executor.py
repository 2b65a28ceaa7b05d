"""The executor contract, serial and on Ray: order, shared inputs, errors, dead workers."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from blend._errors import BlendError
from oof_store.distributed import DistributedError, SerialExecutor, call, get_executor


def _slow_reversed(shared: np.ndarray, i: int) -> float:
    time.sleep(0.05 * (3 - i))  # later tasks finish first
    return float(shared[i])


def _fails(i: int) -> None:
    raise BlendError(f"model 'm{i}' is broken")


def _dies(i: int) -> None:
    os._exit(1)


def test_serial_executor_runs_in_order_and_passes_shared_first():
    ex = SerialExecutor()
    assert ex.map(_slow_reversed, [(i,) for i in range(4)], shared=np.arange(4.0)) == [0, 1, 2, 3]
    assert ex.map(call, [(2,), (3,)], shared=lambda x: x * x) == [4, 9]
    assert ex.maps[0].tasks == 4
    assert get_executor(None).name == "serial"


def test_ray_results_come_back_in_argument_order(ray_session):
    ex = get_executor("local")
    assert ex.map(_slow_reversed, [(i,) for i in range(4)], shared=np.arange(4.0)) == [0, 1, 2, 3]
    assert "ray executor" in ex.summary()


def test_a_task_exception_reaches_the_caller_as_itself(ray_session):
    with pytest.raises(BlendError, match="model 'm1' is broken"):
        get_executor("local").map(_fails, [(1,)])


def test_a_worker_that_always_dies_ends_in_one_clear_error(ray_session):
    with pytest.raises(DistributedError, match="failed after 1 retries.*rerun the command to resume"):
        get_executor("local").map(_dies, [(0,)], max_retries=1)


@pytest.mark.parametrize("address", ["local:many", "local:0"])
def test_local_n_must_be_a_number(address):
    pytest.importorskip("ray")
    from oof_store import StoreError

    with pytest.raises(StoreError, match="local:N takes a number of CPUs"):
        get_executor(address)


@pytest.mark.parametrize("address", [None, "local"])
def test_on_done_sees_every_task_once(request, address):
    if address is not None:
        request.getfixturevalue("ray_session")
    seen = []
    out = get_executor(address).map(_slow_reversed, [(i,) for i in range(4)], shared=np.arange(4.0),
                                     on_done=lambda i, r: seen.append((i, r)))
    assert out == [0, 1, 2, 3]
    assert sorted(seen) == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)]
