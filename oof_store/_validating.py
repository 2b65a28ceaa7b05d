"""Validation: every check on every model, one message per problem."""

from __future__ import annotations

from oof_store._errors import StoreError


class _Validator:
    """The ``validate`` method of :class:`Store` (a mixin)."""

    def validate(self) -> list[str]:
        """Run every check on every model; return one message per problem (empty = fine)."""
        problems: list[str] = []
        for rel in self.stray_files():
            problems.append(
                f"leftover temporary file from an interrupted write: {self._fs.display(rel)} "
                "(safe to delete)"
            )
        finished = set(self.models())
        for m in self.models(include_incomplete=True):
            if m not in finished:
                try:
                    self.manifest(m)
                except StoreError as exc:
                    problems.append(str(exc))
                continue
            try:
                man = self._manifests([m])[0]
            except StoreError as exc:
                problems.append(str(exc))
                continue
            have = set(self.blocks(m))
            n_tta = len(man["tta_views"])
            for f in self.fold_ids:
                for t in range(n_tta):
                    if ("oof", f, t) not in have:
                        problems.append(
                            f"{self._where('oof', m, f, t)}: block missing (the OOF row(s) of "
                            f"fold {f} are never predicted)"
                        )
            for sp, f, t in sorted(have):
                if t >= n_tta or (sp == "oof" and f not in self.fold_ids):
                    problems.append(
                        f"{self._where(sp, m, f, t)}: block not described by the manifest"
                    )
                    continue
                try:
                    block = self._read_values(sp, m, f, t)
                    if man["kind"] == "probs":
                        self.check_prob_sums(sp, m, f, t, block)
                except StoreError as exc:
                    problems.append(str(exc))
        return problems
