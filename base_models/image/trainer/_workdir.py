"""The work files: where checkpoints and finished folds are kept between runs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path


def default_work_dir(store_uri: str) -> Path:
    """``<store>.work`` beside a local store; ``./.base-models-work`` for remote stores."""
    uri = str(store_uri)
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    if "://" in uri:
        return Path.cwd() / ".base-models-work"
    p = Path(uri).resolve()
    return p.parent / (p.name + ".work")


def _safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", s)


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    os.replace(tmp, path)
