"""Small pieces every command-line interface of the project shares.

Library code raises; only the CLI layer prints one red line and exits with code 2
(a traceback only with ``--debug``). Long work shows a rich progress bar on stderr.
"""

from __future__ import annotations

import argparse
import os
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

__all__ = ["console", "err_console", "run_main", "progress_bar", "progress_callback", "add_debug_flag",
           "add_version_flag"]


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


def add_version_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--version`` (print ``PROG VERSION`` and exit) to a command's top-level parser."""
    from oof_common.version import package_version

    parser.add_argument("--version", action="version",
                        version=f"{parser.prog} {package_version()}")


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

        yield progress
