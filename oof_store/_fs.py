"""File-system access through ``pyarrow.fs``: local paths and any URI pyarrow opens."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import stat
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from oof_store._errors import CorruptFileError, StoreError, SymlinkError
from oof_store._schema import TMP_PREFIX

CRASH_ENV = "OOF_STORE_CRASH_AT"
_crash_count = 0


def crash_point(label: str) -> None:
    """A write point: with ``OOF_STORE_CRASH_AT=N``, the N-th one SIGKILLs this process.

    The crash tests (``tests/store/test_store_crash.py``) enumerate every write point of
    import, overwrite, remove and finish this way: before and during each temporary file,
    before and after each rename, before each delete. Off (one dict lookup) otherwise.
    """
    global _crash_count
    at = os.environ.get(CRASH_ENV)
    if not at:
        return
    _crash_count += 1
    if _crash_count == int(at):
        sys.stderr.write(f"crash point {_crash_count}: {label}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def resolve(uri: str | os.PathLike[str]) -> tuple[pafs.FileSystem, str]:
    """Turn a path or URI into ``(filesystem, root path)``."""
    text = os.fspath(uri)
    if "://" in text:
        fs, path = pafs.FileSystem.from_uri(text)
        return fs, path.rstrip("/")
    return pafs.LocalFileSystem(), os.path.abspath(text)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                   | getattr(os, "O_CLOEXEC", 0))
#: Whether writes can be made relative to directory descriptors (POSIX). Elsewhere the
#: pyarrow calls are used, after an ``lstat`` check of every path component.
_AT_CALLS = os.open in os.supports_dir_fd and os.unlink in os.supports_dir_fd


def symlink_error(path: str, what: str = "this write") -> SymlinkError:
    """The error for a symbolic link met on the way to a file the store would change."""
    return SymlinkError(
        f"{path} is a symbolic link (to {os.path.realpath(path)}): the store never writes, "
        f"renames or deletes through a link, which could change files outside the store, so "
        f"{what} was refused and nothing was changed. Replace the link by a copy of what it "
        "points to (or remove it), then run this again"
    )


class FS:
    """The store's root on a pyarrow file system, with atomic writes.

    On a local store every write, rename and delete below the root goes through directory
    descriptors opened with ``O_NOFOLLOW``: a symbolic link on the way (a model directory,
    ``preds/``, ``models/`` linked elsewhere) raises :class:`SymlinkError` before anything
    is changed, and a link in the last place is replaced or removed itself, never what it
    points to. Listing for deletion (:meth:`walk_files`, :meth:`prune_empty_dirs`) never
    descends into a link. The root itself may be a link (a store kept on another disk).
    """

    def __init__(self, uri: str | os.PathLike[str]) -> None:
        self.uri = os.fspath(uri)
        self.fs, self.root = resolve(uri)
        self.local = isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def display(self, rel: str) -> str:
        """A path as the user should see it in messages."""
        return self.path(rel) if self.local else f"{self.uri.rstrip('/')}/{rel}"

    def exists(self, rel: str) -> bool:
        return self.fs.get_file_info(self.path(rel)).type != pafs.FileType.NotFound

    def is_dir(self, rel: str) -> bool:
        return self.fs.get_file_info(self.path(rel)).type == pafs.FileType.Directory

    def makedirs(self, rel: str) -> None:
        if self.local and _AT_CALLS:
            with self._dir_fd(rel, create=True):
                return
        self.fs.create_dir(self.path(rel), recursive=True)

    # -- local: never through a link ---------------------------------------------
    @contextmanager
    def _dir_fd(self, rel: str, *, create: bool = False) -> Iterator[int]:
        """A descriptor of the directory ``rel`` below the root, no link followed on the way.

        Raises ``FileNotFoundError`` when it is missing (and ``create`` is false) and
        :class:`SymlinkError` when a component is a symbolic link.
        """
        if create:
            os.makedirs(self.root, exist_ok=True)  # the root may be a link: the user's choice
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            done = []
            for part in (p for p in rel.split("/") if p):
                if part in (".", ".."):
                    raise StoreError(f"{rel!r}: a store path has no '.' or '..' components")
                done.append(part)
                try:
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        os.mkdir(part, 0o777, dir_fd=fd)
                    except FileExistsError:
                        pass
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    here = self.path("/".join(done))
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK) and os.path.islink(here):
                        raise symlink_error(here) from None
                    raise
                os.close(fd)
                fd = nfd
            yield fd
        finally:
            os.close(fd)

    def is_link(self, rel: str) -> bool:
        """Whether ``rel`` or a directory on the way to it (below the root) is a symbolic link."""
        if not self.local:
            return False
        parts = [p for p in rel.split("/") if p]
        return any(os.path.islink(self.path("/".join(parts[: i + 1]))) for i in range(len(parts)))

    def links_below(self, rel: str) -> list[str]:
        """Paths of the symbolic links at ``rel``, on the way to it, or anywhere below it."""
        if not self.local:
            return []
        parts = [p for p in rel.split("/") if p]
        for i in range(len(parts)):
            here = self.path("/".join(parts[: i + 1]))
            if os.path.islink(here):
                return [here]
        out = []
        for here, dirs, files in os.walk(self.path(rel)):  # never follows links
            out += [os.path.join(here, n) for n in dirs + files
                    if os.path.islink(os.path.join(here, n))]
        return sorted(out)

    @staticmethod
    def _walk_fd(fd: int, prefix: str, out: list[str], dirs: list[str] | None = None) -> None:
        for name in sorted(os.listdir(fd)):
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            rel = f"{prefix}/{name}"
            if stat.S_ISDIR(st.st_mode):
                sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
                try:
                    FS._walk_fd(sub, rel, out, dirs)
                finally:
                    os.close(sub)
                if dirs is not None:
                    dirs.append(rel)
            else:  # a file, or a link (listed, never followed: deleting it removes the link)
                out.append(rel)

    def _rmtree_at(self, fd: int, name: str) -> None:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=fd)  # a file, or a link: the link itself
            return
        sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
        try:
            for child in os.listdir(sub):
                self._rmtree_at(sub, child)
        finally:
            os.close(sub)
        os.rmdir(name, dir_fd=fd)

    def list_dir(self, rel: str) -> list[pafs.FileInfo]:
        if not self.is_dir(rel):
            return []
        return self.fs.get_file_info(pafs.FileSelector(self.path(rel), recursive=False))

    def walk_files(self, rel: str) -> list[str]:
        """Relative paths of every file below ``rel`` (local: never inside a linked directory)."""
        if self.local and _AT_CALLS:
            out: list[str] = []
            try:
                with self._dir_fd(rel) as fd:
                    self._walk_fd(fd, rel, out)
            except (FileNotFoundError, NotADirectoryError, SymlinkError):
                return []
            return sorted(out)
        if not self.is_dir(rel):
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(rel), recursive=True))
        n = len(self.root) + 1
        return sorted(i.path[n:] for i in infos if i.type == pafs.FileType.File)

    def prune_empty_dirs(self, rel: str) -> None:
        """Delete the directories at and below ``rel`` that hold no file, deepest first."""
        if self.local and _AT_CALLS:
            parent, _, name = rel.rpartition("/")
            try:
                with self._dir_fd(parent) as pfd:
                    if not stat.S_ISDIR(os.stat(name, dir_fd=pfd, follow_symlinks=False).st_mode):
                        return  # missing, a file, or a link: nothing of ours to prune
                    with self._dir_fd(rel) as fd:
                        dirs: list[str] = []
                        self._walk_fd(fd, "", [], dirs)
                        for d in dirs:  # deepest first (post-order)
                            with contextlib.suppress(OSError):  # not empty
                                os.rmdir(d.lstrip("/"), dir_fd=fd)
                    with contextlib.suppress(OSError):
                        os.rmdir(name, dir_fd=pfd)
            except (FileNotFoundError, NotADirectoryError, SymlinkError):
                return
            return
        if not self.is_dir(rel):
            return
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(rel), recursive=True))
        dirs = [self.path(rel)] + [i.path for i in infos if i.type == pafs.FileType.Directory]
        for d in sorted(dirs, key=len, reverse=True):
            if not self.fs.get_file_info(pafs.FileSelector(d, recursive=False)):
                self.fs.delete_dir(d)

    def delete_dir(self, rel: str) -> None:
        """Delete ``rel`` and all below it (local: a link is removed itself, never followed)."""
        if self.local and _AT_CALLS:
            parent, _, name = rel.rpartition("/")
            try:
                with self._dir_fd(parent) as fd:
                    os.stat(name, dir_fd=fd, follow_symlinks=False)
                    crash_point(f"delete {rel}/")
                    self._rmtree_at(fd, name)
            except FileNotFoundError:
                pass
            return
        if self.is_dir(rel):
            crash_point(f"delete {rel}/")
            self.fs.delete_dir(self.path(rel))

    def delete_file(self, rel: str) -> None:
        """Delete a file (local: a link is removed itself, never what it points to)."""
        if self.local and _AT_CALLS:
            parent, _, name = rel.rpartition("/")
            try:
                with self._dir_fd(parent) as fd:
                    os.stat(name, dir_fd=fd, follow_symlinks=False)
                    crash_point(f"delete {rel}")
                    os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                pass
            return
        if self.exists(rel):
            crash_point(f"delete {rel}")
            self.fs.delete_file(self.path(rel))

    # -- atomic writes -------------------------------------------------------------
    def put_bytes(self, rel: str, payload: bytes) -> None:
        """Write ``payload`` under a temporary name and rename it into place."""
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        if parent:
            self.makedirs(parent)
        name = rel.rsplit("/", 1)[-1]
        tmp = f"{parent}/{TMP_PREFIX}{uuid.uuid4().hex}-{name}" if parent else f"{TMP_PREFIX}{name}"
        crash_point(f"before writing the temporary file of {rel}")
        if self.local and _AT_CALLS:
            self._put_local(rel, parent, name, tmp.rsplit("/", 1)[-1], payload)
            return
        with self.fs.open_output_stream(self.path(tmp)) as out:
            _write_in_two_halves(out, payload, rel)
        crash_point(f"before renaming into {rel}")
        try:
            self.fs.move(self.path(tmp), self.path(rel))
        except BaseException:
            self.delete_file(tmp)
            raise
        crash_point(f"after renaming into {rel}")

    def _put_local(self, rel: str, parent: str, name: str, tmp: str, payload: bytes) -> None:
        """:meth:`put_bytes` on a local disk, through its directory's descriptor.

        A new file (``O_EXCL|O_NOFOLLOW``) renamed into place: a link on the way is refused,
        one in the file's place is replaced, never written through.
        """
        with self._dir_fd(parent, create=True) as dfd:
            fd = os.open(tmp, _NEW_FILE_FLAGS, 0o666, dir_fd=dfd)
            try:
                with os.fdopen(fd, "wb") as out:
                    _write_in_two_halves(out, payload, rel)
                crash_point(f"before renaming into {rel}")
                os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dfd)
                raise
        crash_point(f"after renaming into {rel}")

    @staticmethod
    def parquet_bytes(table: pa.Table, *, fast: bool = False) -> bytes:
        """Encode a table as Parquet, with page checksums (CRC32 of every page).

        ``fast`` (prediction blocks): LZ4 and no dictionary encoding. Unique ids and noisy
        floats gain nothing from a dictionary or zstd, and decode 3-5x faster this way.
        """
        buf = io.BytesIO()
        if fast:
            pq.write_table(
                table, buf, compression="lz4", use_dictionary=False, write_page_checksum=True
            )
        else:
            pq.write_table(table, buf, compression="zstd", write_page_checksum=True)
        return buf.getvalue()

    def write_parquet(self, rel: str, table: pa.Table, *, fast: bool = False) -> None:
        """Write a Parquet file under a temporary name and rename it into place."""
        self.put_bytes(rel, self.parquet_bytes(table, fast=fast))

    def write_json(self, rel: str, obj: Any) -> None:
        self.put_bytes(rel, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())

    def read_json(self, rel: str) -> Any:
        try:
            with self.fs.open_input_stream(self.path(rel)) as f:
                return json.loads(f.read().decode())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptFileError(
                f"{self.display(rel)} is not valid JSON ({exc}); restore it or remove the model"
            ) from exc

    def read_json_object(self, rel: str, what: str) -> dict[str, Any]:
        """Read a JSON file that must hold an object (``what`` names it in the error)."""
        obj = self.read_json(rel)
        if not isinstance(obj, dict):
            raise CorruptFileError(
                f"{self.display(rel)} holds {type(obj).__name__} JSON ({json.dumps(obj)[:60]}), "
                f"not the object a {what} is; restore it from a backup"
            )
        return obj

    def read_bytes(self, rel: str) -> bytes:
        """The whole file (``FileNotFoundError`` when it is missing)."""
        with self.fs.open_input_stream(self.path(rel)) as f:
            return f.read()

    def parse_parquet(
        self,
        rel: str,
        payload: bytes | pa.Buffer,
        columns: list[str] | None = None,
        *,
        verify_pages: bool = True,
    ) -> pa.Table:
        """Decode Parquet bytes read from ``rel``, verifying page checksums if asked.

        Blocks with a SHA-256 in their manifest skip the page checksums: the hash covers every
        byte, and pyarrow's page CRC check costs ~0.7 ms per 124 KB block against ~0.15 ms
        for the SHA-256 of the whole file. The page CRCs are there for other readers.
        """
        try:
            return pq.ParquetFile(
                pa.BufferReader(payload), page_checksum_verification=verify_pages
            ).read(columns=columns, use_threads=False)
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise CorruptFileError(
                f"cannot read {self.display(rel)}: {exc}. The file is corrupt or was not "
                "written by this store; re-import or re-train that block (use --overwrite)"
            ) from exc

    def read_parquet(self, rel: str, columns: list[str] | None = None) -> pa.Table:
        try:
            payload = self.read_bytes(rel)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise CorruptFileError(f"cannot read {self.display(rel)}: {exc}") from exc
        return self.parse_parquet(rel, payload, columns)


def _write_in_two_halves(out: Any, payload: bytes, rel: str) -> None:
    """Write ``payload`` to ``out`` in two halves, with the crash harness's point between them."""
    half = len(payload) // 2
    out.write(payload[:half])
    if os.environ.get(CRASH_ENV):
        out.flush()
        crash_point(f"half-way through the temporary file of {rel}")
    out.write(payload[half:])
