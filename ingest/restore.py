"""Rollback that undoes what the editor did: the index goes back to the version live before,
and on request the KB folder goes back to the files that version was built from.

The restored KB is assembled beside the KB folder and swapped in whole (one atomic rename
exchange on Linux), so a failure at any point leaves either the old KB or the restored one,
never a mix. Files ingest does not read (the guide, hidden and editor temp files, files in
places ingest refuses) are carried over: a rollback never deletes an editor's stray file.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.errors import KefuError, ValidationError
from core.kb import SourceFile
from core.settings import Settings
from index.rollback import choose_target
from ingest.collect import FOLDERS, read_sources, skipped
from ingest.parse import SCOPE_FILE
from ingest.store import open_versions


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to the KB folder
    status: str  # "new" (only in the KB folder) | "modified" | "deleted" (only in the version) | "unreadable"


@dataclass(frozen=True)
class RollbackReport:
    previous: str | None  # live before (None when CURRENT was missing or unreadable)
    version: str  # live now
    skipped: tuple[str, ...]  # damaged versions passed over
    kb_restored: bool
    kb_changes: tuple[FileChange, ...]  # how the KB folder differs from the live version's sources now


def kb_changes(kb_dir: Path, sources: tuple[SourceFile, ...], max_file_bytes: int) -> tuple[FileChange, ...]:
    """How the KB folder differs from `sources`, file by file."""
    try:
        on_disk = {f.rel: f.sha256 for f in read_sources(kb_dir, max_file_bytes)}
    except ValidationError as e:
        return (FileChange(e.source, "unreadable"),)
    built = {s.rel: s.sha256 for s in sources}
    out = []
    for rel in sorted(set(on_disk) | set(built)):
        if rel not in built:
            out.append(FileChange(rel, "new"))
        elif rel not in on_disk:
            out.append(FileChange(rel, "deleted"))
        elif on_disk[rel] != built[rel]:
            out.append(FileChange(rel, "modified"))
    return tuple(out)


def _is_content(rel: str) -> bool:
    """A place ingest reads from: what a restore replaces rather than carries over."""
    parts = PurePosixPath(rel).parts
    if len(parts) == 1:
        return rel == SCOPE_FILE
    return (len(parts) == 2 and parts[0] in FOLDERS and not skipped(parts[1])
            and PurePosixPath(parts[1]).suffix.lower() in FOLDERS[parts[0]])


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _assemble(kb_dir: Path, sources: tuple[SourceFile, ...]) -> Path:
    """The restored KB, complete, in a sibling folder (same filesystem: the swap is a rename)."""
    if not kb_dir.is_dir():
        raise ValidationError(str(kb_dir), "知识库目录不存在：请用 --kb 指定要恢复的知识库目录")
    tmp = kb_dir.parent / f".{kb_dir.name}.restore-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        shutil.copystat(kb_dir, tmp)
        for folder, dirs, files in os.walk(kb_dir):
            base = Path(folder)
            for name in [*files, *(d for d in dirs if (base / d).is_symlink())]:
                rel = (base / name).relative_to(kb_dir).as_posix()
                if not _is_content(rel):
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(base / name, tmp / rel, follow_symlinks=False)
        for source in sources:
            _write(tmp / source.rel, source.data)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise KefuError(f"无法在 {kb_dir.parent} 中准备恢复的知识库目录（{e.strerror or e}）：索引和知识库目录均未改变") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders in one step (Linux renameat2 RENAME_EXCHANGE); elsewhere two renames."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(b))
    aside = b.with_name(f".{b.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(b, aside)
    try:
        os.rename(a, b)
    except BaseException:
        os.rename(aside, b)
        raise
    os.rename(aside, a)


def remove_leftovers(kb_dir: Path) -> list[str]:
    """What a killed restore left beside the KB folder: the assembled copy, and (where the
    swap takes two renames) the old folder, put back if the KB folder itself is missing.
    The caller holds the ingest lock, under which every restore runs."""
    kb_dir = Path(kb_dir).resolve()
    removed = []
    for old in sorted(kb_dir.parent.glob(f".{kb_dir.name}.old-*")):
        if not kb_dir.exists():
            os.rename(old, kb_dir)
            continue
        shutil.rmtree(old, ignore_errors=True)
        removed.append(old.name)
    for tmp in kb_dir.parent.glob(f".{kb_dir.name}.restore-*"):
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp.name)
    return removed


def restore_sources(kb_dir: Path, sources: tuple[SourceFile, ...]) -> None:
    """Make the KB folder hold exactly `sources` (plus what ingest does not read), atomically."""
    kb_dir = Path(kb_dir).resolve()  # a linked KB folder: swap the folder itself, keep the link
    tmp = _assemble(kb_dir, sources)
    try:
        _exchange(tmp, kb_dir)
    except OSError as e:
        raise KefuError(f"无法替换知识库目录 {kb_dir}（{e.strerror or e}）：知识库目录保持原样") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # after the exchange: the old KB


def rollback(settings: Settings, restore_kb: bool = False, kb_dir: Path | None = None) -> RollbackReport:
    """Back to the version live before the current one; with `restore_kb`, the KB folder too."""
    kb_dir = Path(kb_dir or settings.kb_dir)
    store = open_versions(settings)
    with store.lock(settings.lock_timeout):
        remove_leftovers(kb_dir)
        target = choose_target(store, settings.embedding_model)
        sources = store.sources(target.version)
        staged = _assemble(kb_dir.resolve(), sources) if restore_kb else None
        try:
            store.set_live(target.version, "rollback", target.previous)
            if staged is not None:
                try:
                    _exchange(staged, kb_dir.resolve())
                except OSError as e:
                    raise KefuError(f"索引已回滚到 {target.version}，但知识库目录未能恢复（{e}）：知识库目录保持原样，"
                                    f"可运行 `kefu restore-kb` 重试") from None
        finally:
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)
        changes = () if restore_kb else kb_changes(kb_dir, sources, settings.max_file_bytes)
    return RollbackReport(target.previous, target.version, target.skipped, restore_kb, changes)


def restore_live_sources(settings: Settings, kb_dir: Path | None = None) -> tuple[FileChange, ...]:
    """Put the KB folder back to the live version's sources; returns what it undid."""
    kb_dir = Path(kb_dir or settings.kb_dir)
    store = open_versions(settings)
    with store.lock(settings.lock_timeout):
        remove_leftovers(kb_dir)
        live = store.live()
        if live is None:
            raise store.no_live_version()
        store.verify(live)
        sources = store.sources(live)
        changes = kb_changes(kb_dir, sources, settings.max_file_bytes)
        if changes:
            restore_sources(kb_dir, sources)
    return changes

