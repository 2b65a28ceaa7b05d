"""One writer per model: an exclusive lock on ``models/.lock-<model>``.

On a local store the lock is ``flock`` on that file: the kernel releases it when the
writer exits or is killed, so a crashed writer never leaves a stale lock, and a second
writer of the same model (another process, or another ``Store`` in this one) is refused at
once. Other file systems have no such lock; there the commit checks instead that the
model's generation is still the one the write started from (see ``_writing``).
"""

from __future__ import annotations

import json
import os
import socket
import time

from oof_store import _schema as S
from oof_store._errors import ConcurrentWriteError
from oof_store._fs import FS, symlink_error

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["ModelLock"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class ModelLock:
    """The exclusive write lock of one model (a context manager)."""

    def __init__(self, fs: FS, model: str, op: str) -> None:
        self._fs, self.model, self.op = fs, model, op
        self._fd: int | None = None

    def __enter__(self) -> ModelLock:
        if not self._fs.local or fcntl is None:
            return self  # the generation check at commit stands in for the lock
        name = S.lock_path(self.model).rsplit("/", 1)[-1]
        # never through a link: a lock file linked to a user's file would be truncated
        with self._fs._dir_fd(S.MODELS_DIR, create=True) as dfd:
            try:
                fd = os.open(name, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644, dir_fd=dfd)
            except OSError as exc:
                path = self._fs.path(S.lock_path(self.model))
                if os.path.islink(path):
                    raise symlink_error(path, f"this {self.op}") from exc
                raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise ConcurrentWriteError(
                f"model {self.model!r} is being written by another writer ({holder}); this "
                f"{self.op} was refused so that the two never mix. Wait for it to finish and "
                "run this again"
            ) from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "op": self.op,
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"{info['op']} by pid {info['pid']} on {info['host']} since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"
