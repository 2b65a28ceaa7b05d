"""Validation: every check on every model, one message per problem.

``store_meta_problems`` and ``manifest_problems`` check the fields of ``store.json`` and of
a manifest (opening a store and loading a model use them too); :meth:`_Validator.validate`
runs them and everything else: the targets against the fingerprint, each block file's
hash and contents, the blocks of incomplete models and what they still miss, files that no
record names, symbolic links leading out of the store or into another model, and the cache.
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Any

from oof_store import _schema as S
from oof_store._cache import cache_problems
from oof_store._errors import CorruptFileError, SkippedModelWarning, StoreError

__all__ = ["store_meta_problems", "manifest_problems"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_PART = re.compile(r"^part-[0-9a-z]+\.parquet$")


def _is_str_list(x: Any, *, nonempty: bool = True) -> bool:
    return isinstance(x, list) and all(isinstance(v, str) for v in x) and (bool(x) or not nonempty)


def _is_int_list(x: Any) -> bool:
    return isinstance(x, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in x)


def store_meta_problems(meta: dict[str, Any]) -> list[str]:
    """What is wrong with the fields of ``store.json`` (empty when nothing)."""
    out = []
    task = meta.get("task")
    if task not in S.TASKS:
        out.append(f"task is {task!r}, not one of {list(S.TASKS)}")
    names = meta.get("class_names")
    if not _is_str_list(names) or len(set(names)) != len(names):
        out.append(f"class_names is {names!r}, not a list of distinct strings")
    elif task == "regression" and len(names) != 1:
        out.append(f"a regression store has one class column, class_names is {names!r}")
    elif task == "binary" and len(names) != 2:
        out.append(f"a binary store has two classes, class_names is {names!r}")
    if not isinstance(meta.get("id_col"), str) or not meta.get("id_col"):
        out.append(f"id_col is {meta.get('id_col')!r}, not a column name")
    targets = meta.get("target_cols")
    if not _is_str_list(targets):
        out.append(f"target_cols is {targets!r}, not a list of column names")
    elif task == "softclass" and _is_str_list(names) and len(targets) != len(names):
        out.append(f"softclass has one target column per class; target_cols is {targets!r}")
    if "fold_ids" in meta and not _is_int_list(meta["fold_ids"]):
        out.append(f"fold_ids is {meta['fold_ids']!r}, not a list of integers")
    if not isinstance(meta.get("fingerprint"), str):
        out.append(f"fingerprint is {meta.get('fingerprint')!r}, not a string")
    sums = meta.get("checksums")
    if sums is not None and not (
        isinstance(sums, dict) and all(isinstance(v, str) and _HEX64.match(v) for v in sums.values())
    ):
        out.append(f"checksums is {sums!r}, not file -> SHA-256 in hex")
    return out


def manifest_problems(store: Any, model: str, man: dict[str, Any]) -> list[str]:
    """What is wrong with the fields of a model's manifest (empty when nothing)."""
    out = _field_problems(store, model, man)
    tampered = S.checksum_problem(man)  # after the fields: they say what changed, if they can
    return out + ([tampered] if tampered else [])


def _field_problems(store: Any, model: str, man: dict[str, Any]) -> list[str]:
    out = []
    if man.get("format_version") not in S.READABLE_VERSIONS:
        out.append(f"format_version is {man.get('format_version')!r}")
    if man.get("name") != model:
        out.append(f"name is {man.get('name')!r}, the file is that of model {model!r}")
    if man.get("kind") not in S.KINDS:
        out.append(f"kind is {man.get('kind')!r}, not one of {list(S.KINDS)}")
    views = man.get("tta_views")
    if not _is_str_list(views) or len(set(views)) != len(views):
        out.append(f"tta_views is {views!r}, not a list of distinct view names")
        views = None
    if man.get("n_classes") != store.n_classes:
        out.append(f"n_classes is {man.get('n_classes')!r}, the store has {store.n_classes}")
    if "class_names" in man and man["class_names"] != store.class_names:
        out.append(f"class_names is {man['class_names']!r}, the store's are {store.class_names}")
    oof_folds = man.get("oof_folds")
    if not _is_int_list(oof_folds) or sorted(oof_folds) != store.fold_ids:
        out.append(f"oof_folds is {oof_folds!r}, the store's folds are {store.fold_ids}")
    test_folds = man.get("test_folds", [])
    allowed = {*store.fold_ids, S.FULL_TEST_FOLD}
    if not _is_int_list(test_folds) or len(set(test_folds)) != len(test_folds) or not set(
        test_folds
    ) <= allowed:
        out.append(
            f"test_folds is {test_folds!r}: each must be a store fold {store.fold_ids} or "
            f"{S.FULL_TEST_FOLD}, once"
        )
        test_folds = None
    if not isinstance(man.get("fingerprint"), str):
        out.append(f"fingerprint is {man.get('fingerprint')!r}, not a string")
    blocks = man.get("blocks")
    if blocks is None:
        if man.get("format_version") != 1:
            out.append("it lists no blocks ('blocks' is missing)")
        return out
    if not isinstance(blocks, dict):
        out.append(f"blocks is {type(blocks).__name__}, not an object")
        return out
    out += entry_problems(model, blocks)
    if views is not None and _is_int_list(oof_folds) and test_folds is not None:
        want = {S.block_key("oof", f, t) for f in oof_folds for t in range(len(views))}
        want |= {S.block_key("test", f, t) for f in test_folds for t in range(len(views))}
        lacking, extra = sorted(want - set(blocks)), sorted(set(blocks) - want)
        if lacking:
            out.append(f"blocks lacks {lacking} (split/fold/view)")
        if extra:
            out.append(f"blocks lists {extra}, which its folds and views do not have")
    return out


def entry_problems(model: str, blocks: dict[str, Any]) -> list[str]:
    """What is wrong with the block records of a manifest or pending record."""
    out = []
    for key, entry in blocks.items():
        try:
            split, fold, tta = S.parse_block_key(key)
        except ValueError:
            out.append(f"block key {key!r} is not split/fold/view")
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            out.append(f"block {key}: {entry!r} is not a record with a file")
            continue
        folder, _, name = entry["file"].rpartition("/")
        if folder != S.block_dir(split, model, fold, tta) or not _PART.match(name):
            out.append(
                f"block {key}: file {entry['file']!r} is not a block file of model {model!r} "
                f"(expected {S.block_dir(split, model, fold, tta)}/part-<id>.parquet)"
            )
        sha = entry.get("sha256")
        if sha is None and name == S.LEGACY_PART_FILE:
            continue  # a version 1 block not yet committed since the upgrade: hashed then
        if not (isinstance(sha, str) and _HEX64.match(sha)):
            out.append(f"block {key}: sha256 is {sha!r}, not a SHA-256 in hex")
    return out


class _Validator:
    """The ``validate`` method of :class:`Store` (a mixin)."""

    def validate(self) -> list[str]:
        """Run every check on every model; return one message per problem (empty = fine)."""
        problems = self._check_targets()
        if any("cannot be read" in p for p in problems):
            return problems  # no block can be checked against targets that cannot be read
        for rel in self.stray_files():
            owner = _model_of_temp(rel)
            of = f" of model {owner!r}" if owner else ""
            problems.append(
                f"leftover temporary file{of} from an interrupted write: {self._fs.display(rel)} "
                "(safe to delete; the next write of the model deletes it)"
            )
        problems += self._check_links()
        finished = set(self.models())
        for m in self.models(include_incomplete=True):
            try:
                S.check_model_name(m)
            except StoreError as exc:
                problems.append(f"{self._fs.display(S.PREDS_DIR)}: {exc}")
                continue
            if m in finished:
                problems += self._check_finished(m)
            else:
                problems += self._check_incomplete(m)
            try:
                mix = self.writer_mix(m)
            except StoreError:
                mix = None  # the record itself is named above
            if mix:
                problems.append(mix)
            problems += self._check_unreferenced(m)
        if self._fs.local:
            for path, why in cache_problems(self._fs.root):
                problems.append(
                    f"cache entry {path}: {why}; it is never served (it is rebuilt on the next "
                    "load); delete it (the cache is safe to delete)"
                )
        return problems

    def notes(self) -> list[str]:
        """What the store does not yet cover, being older than this code (not problems).

        Stores made before checksums of the targets and of manifests existed open as they
        are; the next write adds the targets' checksums (to ``store.json``) and a model's
        next write adds its manifest's.
        """
        out = []
        if "checksums" not in self.meta:
            out.append(
                f"{S.TARGETS_FILE} and {S.TEST_FILE} have no checksum in {S.STORE_FILE} (a store "
                "made by an earlier version): an edit of their labels would go unseen. The next "
                "write to the store records them"
            )
        old = []
        for m in self.models():
            try:
                man = self._committed_manifest(m)
            except StoreError:
                continue
            if man is not None and S.CHECKSUM_FIELD not in man:
                old.append(m)
        if old:
            out.append(
                f"{len(old)} manifest(s) have no checksum (written by an earlier version): "
                f"{', '.join(old)}; an edit of their fields is caught only where a field check "
                "sees it. Each model's next write adds it"
            )
        return out

    def skipped_models(self) -> dict[str, str]:
        """The models a command working on "every model" leaves out, and why.

        Models with blocks but no manifest (incomplete, or the manifest was deleted) and
        models whose manifest fails its checks (fields, checksum, fold fingerprint).
        """
        out = {}
        finished = set(self.models())
        for m in self.models(include_incomplete=True):
            if m not in finished:
                out[m] = ("no manifest: it is incomplete (a writer is running or was "
                          "interrupted, or some folds were never written) or its manifest was "
                          f"deleted; `oof validate {self.uri}` says what it has")
                continue
            try:
                self._manifests([m])
            except StoreError as exc:
                out[m] = str(exc)
        return out

    def usable_models(self) -> list[str]:
        """The finished models whose manifests pass their checks; a warning for each other.

        What a command working on "every model" should use: each model left out (see
        :meth:`skipped_models`) is named in a :class:`~oof_store.SkippedModelWarning`, never
        dropped silently.
        """
        skipped = self.skipped_models()
        for m, why in skipped.items():
            warnings.warn(f"skipped model {m!r}: {why}", SkippedModelWarning, stacklevel=2)
        return [m for m in self.models() if m not in skipped]

    # ------------------------------------------------------------ pieces
    def _check_targets(self) -> list[str]:
        out = []
        try:
            fp = S.fingerprint(self.ids, self.folds)
        except CorruptFileError as exc:
            return [f"{exc} (no block can be checked against it: it cannot be read)"]
        except Exception as exc:  # noqa: BLE001 - any failure here is a damaged targets file
            return [f"{self._fs.display(S.TARGETS_FILE)} cannot be read: {exc}"]
        if fp != self.fingerprint:
            out.append(
                f"{self._fs.display(S.TARGETS_FILE)} does not match the fingerprint in "
                f"{S.STORE_FILE} ({fp} vs {self.fingerprint}): the targets or folds were changed "
                "after the store was made; restore them, or re-create the store with `oof init`"
            )
        n_test = self.meta.get("n_test")
        try:
            self.test_ids  # noqa: B018 - read (and checked against its checksum) here
        except StoreError as exc:
            return [*out, str(exc)]
        if isinstance(n_test, int) and n_test != len(self.test_ids):
            out.append(
                f"{self._fs.display(S.TEST_FILE)} has {len(self.test_ids)} ids, {S.STORE_FILE} "
                f"says {n_test}"
            )
        return out

    def _check_links(self) -> list[str]:
        """Symbolic links under preds/ and models/ leading out of the store or into another model."""
        if not self._fs.local:
            return []
        out = []
        root = os.path.realpath(self._fs.root)
        for top in (S.PREDS_DIR, S.MODELS_DIR):
            base = os.path.join(self._fs.root, top)
            for here, dirs, files in os.walk(base):
                for name in dirs + files:
                    path = os.path.join(here, name)
                    if not os.path.islink(path):
                        continue
                    target = os.path.realpath(path)
                    rel = os.path.relpath(path, self._fs.root)
                    if os.path.commonpath([root, target]) != root:
                        out.append(
                            f"{path} is a symbolic link to {target}, outside the store: the store "
                            "must hold its own files; replace the link by a copy"
                        )
                        continue
                    own = _model_of(rel)
                    theirs = _model_of(os.path.relpath(target, root))
                    if own is not None and theirs is not None and own != theirs:
                        out.append(
                            f"{path} is a symbolic link into model {theirs!r}: model {own!r} "
                            "would share (and silently change with) another model's blocks; "
                            "replace the link by a copy"
                        )
        return out

    def _check_entries(
        self, m: str, blocks: dict[str, Any], views: int | None
    ) -> list[str]:
        """Read and hash every block record of a model; check its values."""
        out = []
        man = self._committed_manifest(m)
        kind = (man or {}).get("kind") or self._pending(m).get("kind")
        for key in sorted(blocks):
            try:
                sp, f, t = S.parse_block_key(key)
            except ValueError:
                continue
            if sp == "oof" and f not in self.fold_ids:
                out.append(f"{self._where(sp, m, f, t)}: block for a fold the store does not have")
                continue
            if views is not None and t >= views:
                out.append(f"{self._where(sp, m, f, t)}: block not described by the manifest")
                continue
            try:
                block = self._read_values(sp, m, f, t, blocks[key], always_hash=True)
                if kind == "probs":
                    self.check_prob_sums(sp, m, f, t, block)
            except StoreError as exc:
                out.append(str(exc))
        return out

    def _check_finished(self, m: str) -> list[str]:
        try:
            man = self._manifests([m])[0]  # fields and fingerprint
        except StoreError as exc:
            return [str(exc)]
        out = []
        entries = self._manifest_entries(m, man)
        n_tta = len(man["tta_views"])
        for f in self.fold_ids:
            for t in range(n_tta):
                if S.block_key("oof", f, t) not in entries:
                    out.append(
                        f"{self._where('oof', m, f, t)}: block missing (the OOF row(s) of "
                        f"fold {f} are never predicted)"
                    )
        out += self._check_entries(m, entries, n_tta)
        pending = self._pending(m).get("blocks", {})
        if pending:
            out.append(
                f"model {m!r}: {len(pending)} block(s) written but not committed "
                f"({', '.join(sorted(pending))}); readers still see the committed model. "
                f"Commit them with more imports (or finish_model), or drop them with "
                f"`oof rm {self.uri} --model {m}` and a fresh import"
            )
            out += entry_problems(m, pending)
            out += self._check_entries(m, pending, None)
        return out

    def _check_incomplete(self, m: str) -> list[str]:
        try:
            rec = self._pending(m)
        except StoreError as exc:
            return [str(exc)]
        blocks = rec.get("blocks", {})
        if not blocks:
            return [
                f"model {m!r} has files but no manifest and no pending blocks: they are left by "
                f"an interrupted write or removal; delete them with `oof rm {self.uri} --model {m}`"
            ]
        keys = []
        for k in blocks:
            try:
                keys.append(S.parse_block_key(k))
            except ValueError:
                pass
        views = rec.get("tta_views")
        n_tta = max([t for _, _, t in keys] + [len(views) - 1 if _is_str_list(views) else 0]) + 1
        names = views if _is_str_list(views) and len(views) == n_tta else [
            "none" if n_tta == 1 else f"view{t}" for t in range(n_tta)
        ]
        have = set(keys)
        missing = [f"({f}, {names[t]})" for f in self.fold_ids for t in range(n_tta)
                   if ("oof", f, t) not in have]
        test_folds = sorted({f for s, f, _ in keys if s == "test"})
        test_gaps = [
            f"test fold {f} lacks view(s) {[names[t] for t in range(n_tta) if ('test', f, t) not in have]}"
            for f in test_folds
            if any(("test", f, t) not in have for t in range(n_tta))
        ]
        parts = [f"missing OOF blocks (fold, TTA view): {', '.join(missing)}"] if missing else []
        parts += test_gaps
        if not test_folds and len(self.test_ids):
            parts.append("no test predictions yet")
        out = [
            f"model {m!r} is incomplete (no manifest; {len(blocks)} block(s) written): "
            + "; ".join(parts or ["every OOF block is written, the manifest is not (run finish)"])
        ]
        out += entry_problems(m, blocks)
        out += self._check_entries(m, blocks, None)
        return out

    def _check_unreferenced(self, m: str) -> list[str]:
        try:
            keep = self._referenced_files(m)
        except StoreError:
            return []
        stray = [
            rel
            for d in S.model_dirs(m)
            for rel in self._fs.walk_files(d)
            if rel not in keep and not rel.rsplit("/", 1)[-1].startswith(S.TMP_PREFIX)
        ]
        if not stray:
            return []
        shown = ", ".join(self._fs.display(r) for r in stray[:3])
        return [
            f"model {m!r}: {len(stray)} file(s) no manifest or pending record names ({shown}"
            f"{', ...' if len(stray) > 3 else ''}): left by an interrupted write; safe to "
            "delete, and the next write of the model deletes them"
        ]


def _model_of_temp(rel: str) -> str | None:
    """The model a temporary file belongs to (its block directory, or its record's name)."""
    m = re.match(rf"^{S.MODELS_DIR}/{re.escape(S.TMP_PREFIX)}[0-9a-f]{{32}}-(?:\.pending-)?(.+)\.json$", rel)
    return m.group(1) if m else _model_of(rel)


def _model_of(rel: str) -> str | None:
    """The model whose block directory (or manifest) a store-relative path is in."""
    parts = rel.replace(os.sep, "/").split("/")
    if len(parts) >= 3 and parts[0] == S.PREDS_DIR and parts[2].startswith("model="):
        return parts[2][len("model="):]
    if len(parts) == 2 and parts[0] == S.MODELS_DIR and parts[1].endswith(".json"):
        name = parts[1][: -len(".json")]
        return name[len(".pending-"):] if name.startswith(".pending-") else name
    return None

