"""On-disk cache of evaluation results: small JSON files under <cache>/evaluate, keyed by content.

`<cache>` is $XAI_CACHE_DIR, else $XDG_CACHE_HOME/xai_core, else ~/.cache/xai_core (as the
converted I3D weights and the influence indexes). A key is the SHA-256 of a JSON description of
everything the result depends on (the model's weights digest, the method and its options, the
clips, the metric settings, the metrics' VERSION); a file that cannot be read is computed again.
A method's own code is not in the key: after changing a method, run `evaluate --no-cache` (or
delete <cache>/evaluate).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where evaluation results live: `cache_dir`, else <the project's cache>/evaluate."""
    if cache_dir is not None:
        return Path(cache_dir)
    from ..models.i3d_weights import cache_dir as project_cache

    return project_cache() / "evaluate"


def key_of(material: dict) -> str:
    """The SHA-256 hex digest of `material` as canonical JSON."""
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=list).encode()).hexdigest()


def path_for(root: Path, name: str, key: str) -> Path:
    """`root/<name>-<key[:24]>.json`, the name made safe for a file name."""
    return root / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)[:80] or 'result'}-{key[:24]}.json"


def load(path: Path, key: str) -> dict | None:
    """The cached result at `path` if it is there, readable and made for `key`; else None."""
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return body.get("result") if isinstance(body, dict) and body.get("key") == key else None


def store(path: Path, key: str, result: dict) -> None:
    """Write `result` atomically (a temporary file renamed); a cache that cannot be written is skipped."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".tmp-", suffix=".json",
                                         delete=False) as f:
            temporary = f.name
            json.dump({"key": key, "result": result}, f)
        os.replace(temporary, path)
    except OSError:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
