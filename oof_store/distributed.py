"""Run independent tasks in this process or as Ray tasks, with the same answers.

The commands that can spread their work (``blend search|optimize``, ``stack``,
``base-models tabular|image``) take ``--ray ADDRESS`` and hand their independent pieces of
work (search shards, nested-CV fits, outer folds, base-model folds) to an :class:`Executor`:

>>> ex = get_executor(None)                     # no --ray: serial, in this process
>>> ex.map(pow, [(2, 3), (3, 2)])
[8, 9]

``get_executor("local")`` starts an embedded Ray on this machine (``"local:4"``: with 4
CPUs), any other address joins a running cluster (``ray start --head`` elsewhere; ``auto``
finds one on this machine). Ray is imported only then: without ``--ray`` nothing imports it.

The contract of :meth:`Executor.map` is that of the serial executor: results come back in
the order of ``args_list``, whatever order the tasks finish in, and a task's answer must
depend only on its arguments (callers derive seeds per task, never from worker order), so a
command gives identical answers with and without Ray. Big inputs go in ``shared``: Ray puts
them in its object store once (``ray.put``) and every task gets them from there, instead of
one copy per task. A task whose worker dies (killed, out of memory, ``os._exit``) is
retried by Ray up to ``max_retries`` times; an exception raised by the task is not retried
and reaches the caller as that exception.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from oof_common.errors import UserError
from oof_store._errors import StoreError

__all__ = ["Executor", "SerialExecutor", "RayExecutor", "DistributedError", "get_executor",
           "map_tasks", "call", "add_ray_flag"]


class DistributedError(UserError, RuntimeError):
    """A task could not be run: its worker died more often than the retries allow.

    Or the cluster lost it. An exception raised by the task itself reaches the caller
    unchanged, not as this.
    """


def call(f: Callable[..., Any], *args: Any) -> Any:
    """``f(*args)``: lets ``map`` run a closure passed as ``shared`` (put in Ray once)."""
    return f(*args)


def _timed(fn: Callable[..., Any], shared: Any, has_shared: bool, args: tuple) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(shared, *args) if has_shared else fn(*args)
    return out, time.perf_counter() - t0


@dataclass
class MapStats:
    """One :meth:`Executor.map` call: tasks, wall time, and the time spent inside the tasks."""

    tasks: int
    wall_s: float
    task_s: float
    max_task_s: float

    def to_dict(self) -> dict[str, float]:
        return {"tasks": self.tasks, "wall_s": self.wall_s, "task_s": self.task_s,
                "max_task_s": self.max_task_s}


@dataclass
class Executor(ABC):
    """Runs ``fn`` over a list of argument tuples; subclasses decide where.

    Attributes
    ----------
    name : str
        ``"serial"`` or ``"ray"``.
    n_workers : int
        How many tasks can run at once (callers size their shards by it).
    startup_s : float
        Seconds spent starting or joining the engine.
    maps : list of MapStats
        One entry per :meth:`map` call.
    """

    name: str = "serial"
    n_workers: int = 1
    startup_s: float = 0.0
    maps: list[MapStats] = field(default_factory=list)

    @abstractmethod
    def map(self, fn: Callable[..., Any], args_list: Sequence[tuple], *, shared: Any = None,
            num_gpus: float = 0, max_retries: int = 3,
            on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
        """``[fn(shared, *args) for args in args_list]`` (``fn(*args)`` without ``shared``).

        Parameters
        ----------
        fn : callable
            A module-level function (Ray ships it by name; a closure would travel with
            every task: pass it as ``shared`` with ``fn=call`` instead).
        args_list : sequence of tuple
            One tuple of small arguments per task.
        shared : object, optional
            Passed to every task as the first argument; sent to the workers once.
        num_gpus : float
            GPUs each task asks for (Ray only).
        max_retries : int
            Retries of a task whose worker died (Ray only).
        on_done : callable, optional
            Called in this process as ``on_done(index, result)`` as each task finishes (in
            finishing order): progress bars.

        Returns
        -------
        list
            The tasks' results in the order of ``args_list``.
        """

    def summary(self) -> str:
        """One line: start-up time, tasks, wall time and time inside the tasks."""
        n = sum(m.tasks for m in self.maps)
        wall = sum(m.wall_s for m in self.maps)
        inside = sum(m.task_s for m in self.maps)
        return (f"{self.name} executor ({self.n_workers} workers): start-up {self.startup_s:.2f} s, "
                f"{n} tasks in {wall:.2f} s wall, {inside:.2f} s inside the tasks")

    def close(self) -> None:  # noqa: B027 - nothing to release unless a subclass says so
        """Release the engine (a Ray instance this executor started)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Runs every task in this process, one after the other, in order."""

    def __init__(self) -> None:
        super().__init__(name="serial", n_workers=1)

    def map(self, fn, args_list, *, shared=None, num_gpus=0, max_retries=3, on_done=None):  # noqa: D102
        t0 = time.perf_counter()
        outs = []
        for i, a in enumerate(args_list):
            outs.append(_timed(fn, shared, shared is not None, tuple(a)))
            if on_done is not None:
                on_done(i, outs[-1][0])
        self._record(outs, time.perf_counter() - t0)
        return [o for o, _ in outs]

    def _record(self, outs, wall):
        secs = [s for _, s in outs]
        self.maps.append(MapStats(len(outs), wall, float(sum(secs)), float(max(secs, default=0.0))))


class RayExecutor(SerialExecutor):
    """Runs tasks on Ray: an embedded local instance or a cluster.

    Parameters
    ----------
    address : str
        ``"local"`` (or ``"local:N"`` for N CPUs) starts Ray on this machine; anything else
        is passed to ``ray.init(address=...)`` (``"auto"``, ``"ray://host:10001"``,
        ``"host:6379"``). When Ray is already initialised in this process (a test
        fixture, a notebook) that instance is used and left running.
    """

    def __init__(self, address: str) -> None:
        try:
            import ray
        except ImportError:
            raise StoreError(
                "--ray needs Ray, which is not installed: pip install 'ray>=2.9' (the "
                "'distributed' extra of oof-blend)"
            ) from None
        import logging

        super().__init__()
        self.name = "ray"
        self.address = address
        self._owns = False
        local = address == "local" or address.startswith("local:")
        n = address.partition(":")[2] if local else ""
        if n and not (n.isdigit() and int(n) > 0):
            raise StoreError(f"--ray local:N takes a number of CPUs (N >= 1); got {address!r}")
        t0 = time.perf_counter()
        if not ray.is_initialized():
            quiet = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,
                         configure_logging=True)
            if local:
                ray.init(num_cpus=int(n) if n else (os.cpu_count() or 1), **quiet)
            else:
                try:
                    ray.init(address=address, **{k: v for k, v in quiet.items() if k != "include_dashboard"})
                except (ConnectionError, RuntimeError, ValueError) as exc:
                    raise StoreError(
                        f"could not join the Ray cluster at {address!r} ({exc}); start one with "
                        "`ray start --head` or use --ray local"
                    ) from None
            self._owns = True
        self.startup_s = time.perf_counter() - t0
        self.n_workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(_timed)

    def map(self, fn, args_list, *, shared=None, num_gpus=0, max_retries=3, on_done=None):  # noqa: D102
        import ray

        t0 = time.perf_counter()
        has = shared is not None
        ref = ray.put(shared) if has else None  # once, however many tasks
        task = self._remote.options(num_cpus=1, num_gpus=num_gpus, max_retries=max_retries)
        refs = [task.remote(fn, ref, has, tuple(a)) for a in args_list]
        if on_done is not None:
            index = {r: i for i, r in enumerate(refs)}
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for r in ready:
                    on_done(index[r], _get(ray, [r], max_retries)[0][0])
        outs = _get(ray, refs, max_retries)
        self._record(outs, time.perf_counter() - t0)
        return [o for o, _ in outs]

    def close(self) -> None:  # noqa: D102
        if self._owns:
            import ray

            ray.shutdown()
            self._owns = False


def _get(ray: Any, refs: list, retries: int) -> list:
    """``ray.get`` that re-raises a task's own exception (not Ray's wrapper) for the CLI."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.as_instanceof_cause()
        inner = getattr(exc, "cause", None)
        raise (inner if isinstance(inner, BaseException) else cause) from None
    except ray.exceptions.RayError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DistributedError(
            f"a Ray task failed after {retries} retries ({type(exc).__name__}: {first}); what "
            "finished is kept (a store keeps its written blocks): rerun the command to resume"
        ) from exc


def get_executor(ray_address: str | None = None) -> Executor:
    """The executor for ``--ray``: serial for None, else a :class:`RayExecutor`."""
    if ray_address is None or ray_address == "":
        return SerialExecutor()
    return RayExecutor(str(ray_address))


def map_tasks(fn: Callable[..., Any], args_list: Sequence[tuple], ray_address: str | None = None,
              **kwargs: Any) -> list[Any]:
    """One-off :meth:`Executor.map` on ``get_executor(ray_address)`` (closed afterwards)."""
    with get_executor(ray_address) as ex:
        return ex.map(fn, args_list, **kwargs)


def add_ray_flag(parser: Any) -> None:
    """Add ``--ray ADDRESS`` to a command's parser."""
    parser.add_argument(
        "--ray", metavar="ADDRESS", default=None,
        help="run the independent pieces as Ray tasks: 'local' starts Ray on this machine "
             "('local:N' with N CPUs), an address joins a cluster (needs the [distributed] extra)")
