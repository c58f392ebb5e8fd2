"""Keep the index folder tidy: old versions beyond KEFU_KEEP_VERSIONS, and what killed runs
left behind (temporary version folders, CURRENT temp files, digests without a folder)."""

from __future__ import annotations

import shutil
from pathlib import Path

from index.current import current_or_none, history, live_stack
from index.versions import digest_path, list_versions, versions_dir


def prune(index_dir: Path, keep: int) -> list[str]:
    """Delete the oldest versions beyond `keep`. Never the live one, nor the ones a rollback
    would return to next (the most recent entries of the history)."""
    live = current_or_none(index_dir)
    protected = {live, *live_stack(history(index_dir))[-keep:]}
    names = list_versions(index_dir)
    removed = []
    for name in names:
        if len(names) - len(removed) <= keep:
            break
        if name not in protected:
            shutil.rmtree(versions_dir(index_dir) / name, ignore_errors=True)
            digest_path(index_dir, name).unlink(missing_ok=True)
            removed.append(name)
    return removed


def remove_leftovers(index_dir: Path) -> list[str]:
    """Remove what a killed ingest left. The caller holds the ingest lock, so nobody is
    writing any of it."""
    removed = []
    for tmp in index_dir.glob(".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp.name)
    for tmp in index_dir.glob(".CURRENT.*"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp.name)
    vdir = versions_dir(index_dir)
    for digest in vdir.glob("*.sha256") if vdir.is_dir() else ():
        if not (vdir / digest.name.removesuffix(".sha256")).is_dir():
            digest.unlink(missing_ok=True)
            removed.append(digest.name)
    return removed
