"""Small pieces every command-line interface of the project shares.

Library code raises; only the CLI layer prints one red line and exits with code 2
(a traceback only with ``--debug``). Long work shows a rich progress bar on stderr.
"""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from oof_common.core import CommandWarning
from oof_common.outputs import check_output_args

__all__ = ["Heartbeat", "console", "err_console", "run_main", "progress_bar", "progress_callback",
           "add_debug_flag", "add_version_flag"]


def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    # Piped output (CI logs, files) gets a wide page rather than rich's 80 columns.
    width = None if probe.is_terminal else int(os.environ.get("COLUMNS", 160))
    return Console(stderr=stderr, soft_wrap=True, width=width)


console = _console()
err_console = _console(stderr=True)


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--debug`` (show tracebacks) to a parser."""
    parser.add_argument("--debug", action="store_true", help="show a full traceback on error")


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show :class:`~oof_common.core.CommandWarning` warnings as ``warning: ...`` lines."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", CommandWarning)
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
            if issubclass(category, CommandWarning):
                err_console.print(f"[yellow]warning:[/yellow] {escape(str(message))}",
                                  highlight=False)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def add_version_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--version`` (print ``PROG VERSION`` and exit) to a command's top-level parser."""
    from oof_common.version import package_version

    parser.add_argument("--version", action="version",
                        version=f"{parser.prog} {package_version()}")


@contextmanager
def _convergence_warnings_counted() -> Iterator[None]:
    """Count scikit-learn's ConvergenceWarning and report it once, as a count, with its meaning.

    A linear stacker refitted in every fold can warn dozens of times with the same text;
    one line after the command says how often and what it means. Every other warning is
    passed on unchanged (re-issued through the filters in force).
    """
    import warnings

    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        n = _pass_on(caught)
        if n:
            err_console.print(
                f"note: scikit-learn warned {n} time(s) that a solver stopped before converging "
                "(ConvergenceWarning, mostly from the linear stacker's fits in each fold): those "
                "fits stopped at their iteration limit; their scores are still honest nested "
                "scores, perhaps slightly below what more iterations (max_iter) would give",
                highlight=False, markup=False,
            )


def _pass_on(caught: list) -> int:
    """Re-issue every caught warning but ConvergenceWarning (shown once per place); count those."""
    import warnings

    n = 0
    registry: dict = {}
    for w in caught:
        if w.category.__name__ == "ConvergenceWarning":
            n += 1
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                   registry=registry, source=w.source)
    return n


def run_main(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
) -> int:
    """Parse ``argv``, call ``args.func(args)`` and turn exceptions into exit code 2.

    Each sub-command sets ``func`` with ``parser.set_defaults(func=...)``. The function
    returns an exit code (``None`` means 0).
    """
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int | None] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    debug = bool(getattr(args, "debug", False)) or bool(os.environ.get("OOF_DEBUG"))
    try:
        check_output_args(args)  # no output file inside a store (oof_common.outputs)
        with _warnings_as_lines(), _convergence_warnings_counted():
            code = func(args)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]")
        return 130
    except (ValueError, OSError, KeyError, ImportError, RuntimeError) as exc:
        if debug:
            raise
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        # the message is text, not markup: '[vision]' or '[nan, 1.0]' must survive
        err_console.print(f"[bold red]error:[/bold red] {escape(msg)}", highlight=False, markup=True)
        return 2
    return 0 if code is None else int(code)


def _make_progress(transient: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
        disable=not err_console.is_terminal and not os.environ.get("OOF_PROGRESS"),
    )


@contextmanager
def progress_bar(transient: bool = False) -> Iterator[Progress]:
    """A rich progress bar on stderr (silent when stderr is not a terminal)."""
    with _make_progress(transient) as prog:
        yield prog


class Heartbeat:
    """One progress line per minute on stderr when it is not a terminal (no bar is drawn there).

    ``heartbeat(done, total, message="")`` prints ``description: done/total (message), m:ss
    elapsed, about m:ss left`` at most once every ``every`` seconds (default 60, or the
    ``OOF_PROGRESS_EVERY`` environment variable); on a terminal it prints nothing (the bar
    shows the same).
    """

    def __init__(self, description: str, every: float | None = None) -> None:
        import time

        self.description = description
        self.every = float(os.environ.get("OOF_PROGRESS_EVERY", 60) if every is None else every)
        self.active = not err_console.is_terminal
        self._clock = time.monotonic
        self.start = self._clock()
        self.last = self.start

    def __call__(self, done: float, total: float | None, message: str = "") -> None:
        """Print one line if ``every`` seconds passed since the last (stderr not a terminal)."""
        if not self.active:
            return
        now = self._clock()
        if now - self.last < self.every:
            return
        self.last = now
        spent = now - self.start
        left = ""
        if total and done:
            left = f", about {_mmss(spent * (total - done) / done)} left"
        of = f"/{int(total)}" if total else ""
        what = f" ({message})" if message else ""
        err_console.print(f"{self.description}: {int(done)}{of}{what}, {_mmss(spent)} elapsed{left}",
                          highlight=False, markup=False)


def _mmss(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


@contextmanager
def progress_callback(description: str) -> Iterator[Callable[..., None]]:
    """A progress callback for the library cores, drawn as one rich bar on stderr.

    Yields ``progress(done, total, message="", *, log=False)``: the bar shows ``done`` of
    ``total`` with the elapsed and remaining time and ``description: message``. With
    ``log=True`` the message is also printed as a line (kept when the bar is gone, and
    printed when stderr is not a terminal, where no bar is drawn).
    """
    with progress_bar(transient=True) as prog:
        task = prog.add_task(escape(description), total=None)

        def progress(done: float, total: float | None, message: str = "", *,
                     log: bool = False) -> None:
            if log:
                prog.console.print(f"[dim]{escape(message)}[/dim]", highlight=False)
            text = f"{description}: {message}" if message and not log else description
            prog.update(task, completed=done, total=total, description=escape(text))
            beat(done, total, "" if log else message)

        beat = Heartbeat(description)
        yield progress
