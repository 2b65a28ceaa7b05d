"""Small pieces every command-line interface of the project shares.

Library code raises; only the CLI layer prints one red line and exits with code 2 for a
user error, or one line naming an internal error and the log file of its traceback, exit
code 1 (a traceback on the terminal only with ``--debug``). Long work shows a rich progress bar on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich is imported when first used: `--help` starts without it
    from rich.console import Console
    from rich.progress import Progress

from oof_common.core import CommandWarning
from oof_common.errors import UserError
from oof_common.outputs import check_output_args

__all__ = ["USER_ERRORS", "Heartbeat", "console", "err_console", "run_main", "progress_bar",
           "progress_callback",
           "add_debug_flag", "add_version_flag"]


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    probe = Console(stderr=stderr)
    # Piped output (CI logs, files) gets a wide page rather than rich's 80 columns.
    width = None if probe.is_terminal else int(os.environ.get("COLUMNS", 160))
    return Console(stderr=stderr, soft_wrap=True, width=width)


class _LazyConsole:
    """A rich ``Console`` made on first use: rich is imported then, not at start-up.

    Every attribute is the real console's, so ``console.print(...)`` works unchanged.
    """

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._real: Console | None = None

    def real(self) -> Console:
        if self._real is None:
            self._real = _console(stderr=self._stderr)
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


console: Any = _LazyConsole(stderr=False)
err_console: Any = _LazyConsole(stderr=True)


def _err_console() -> Console:
    # through the module, so that a console set on it (tests, callers) is the one used
    c = sys.modules[__name__].err_console
    return c.real() if isinstance(c, _LazyConsole) else c


def escape(text: str) -> str:
    """Rich's markup escape, imported on first use."""
    from rich.markup import escape as _escape

    return _escape(text)


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--debug`` (show tracebacks) to a parser."""
    parser.add_argument("--debug", action="store_true", help="show a full traceback on error")


class _VersionAction(argparse.Action):
    """``--version``: print ``PROG VERSION`` and exit; the version is read only then.

    (argparse's own ``action="version"`` needs the string when the parser is built, and
    reading the package metadata costs ~20 ms of every command's start-up.)
    """

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: Any = argparse.SUPPRESS, help: str = "show the version and exit"):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0,
                         help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any,
                 option_string: str | None = None) -> None:
        from oof_common.version import package_version

        print(f"{parser.prog} {package_version()}")
        parser.exit()


def add_version_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--version`` (print ``PROG VERSION`` and exit) to a command's top-level parser."""
    parser.add_argument("--version", action=_VersionAction)


#: what a user can fix: the project's error family, and a path that is missing or unusable
USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError, argparse.ArgumentError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
    PermissionError,
)


def _user_message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, UserError) and exc.filename is not None:
        return f"{exc.strerror or exc}: {exc.filename}"
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def _write_traceback(prog: str, exc: BaseException) -> str | None:
    """Write ``exc``'s traceback to a new log file in the temporary directory; its path."""
    try:
        fd, path = tempfile.mkstemp(prefix=f"{prog}-internal-error-", suffix=".log")
        with os.fdopen(fd, "w") as fh:
            fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    except OSError:
        return None
    return path


@contextmanager
def _warnings_shown() -> Iterator[None]:
    """How the warnings raised while a command runs reach the user.

    - :class:`~oof_common.core.CommandWarning`: one ``warning: ...`` line on stderr, at once;
    - scikit-learn's ConvergenceWarning: counted, and reported once after the command with
      what it means (a linear stacker refitted in every fold can warn dozens of times with
      the same text);
    - any other warning: passed on unchanged after the command (re-issued through the
      filters in force).
    """
    later: list[tuple] = []
    n_convergence = 0

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        nonlocal n_convergence
        if issubclass(category, CommandWarning):
            err_console.print(f"[yellow]warning:[/yellow] {escape(str(message))}",
                              highlight=False)
        elif category.__name__ == "ConvergenceWarning":
            n_convergence += 1
        else:
            later.append((message, category, filename, lineno))

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")  # every one reaches show(): the count is exact
            warnings.showwarning = show
            yield
    finally:
        registry: dict = {}
        for message, category, filename, lineno in later:
            warnings.warn_explicit(message, category, filename, lineno, registry=registry)
        if n_convergence:
            err_console.print(
                f"note: scikit-learn warned {n_convergence} time(s) that a solver stopped before "
                "converging (ConvergenceWarning, mostly from the linear stacker's fits in each "
                "fold): those fits stopped at their iteration limit; their scores are still "
                "honest nested scores, perhaps slightly below what more iterations (max_iter) "
                "would give",
                highlight=False, markup=False,
            )


def run_main(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
) -> int:
    """Parse ``argv``, call ``args.func(args)`` and turn exceptions into exit codes.

    Each sub-command sets ``func`` with ``parser.set_defaults(func=...)``. The function
    returns an exit code (``None`` means 0). A user error (:data:`USER_ERRORS`: the
    project's :class:`~oof_common.errors.UserError` family, a missing or unusable path)
    prints one red line and exits 2. Anything else is a bug: one line says so, names the
    exception type and the log file holding the traceback, and the exit code is 1. With
    ``--debug`` (or ``OOF_DEBUG=1``) every exception propagates with its traceback.
    """
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int | None] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    debug = bool(getattr(args, "debug", False)) or bool(os.environ.get("OOF_DEBUG"))
    try:
        check_output_args(args)  # no output file inside a store (oof_common.outputs)
        with _warnings_shown():
            code = func(args)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]")
        return 130
    except USER_ERRORS as exc:
        if debug:
            raise
        # the message is text, not markup: '[vision]' or '[nan, 1.0]' must survive
        err_console.print(f"[bold red]error:[/bold red] {escape(_user_message(exc))}",
                          highlight=False, markup=True)
        return 2
    except Exception as exc:
        if debug:
            raise
        log = _write_traceback(parser.prog, exc)
        where = f"traceback in {log}" if log else "rerun with --debug for the traceback"
        if log:
            where += " (or rerun with --debug)"
        msg = str(exc).splitlines()[0] if str(exc) else ""
        kind = type(exc).__qualname__
        if type(exc).__module__ != "builtins":
            kind = f"{type(exc).__module__}.{kind}"
        err_console.print(
            f"[bold red]internal error[/bold red] (a bug, not your input; please report it): "
            f"{kind}: {escape(msg)}; {escape(where)}",
            highlight=False, markup=True,
        )
        return 1
    return 0 if code is None else int(code)


def _make_progress(transient: bool) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    err_console = _err_console()
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
