"""Changing the KB from a console: validate a new or edited file on a staged copy of the
KB, and only then write it into the KB and ingest.

A failed validation touches nothing; a failed ingest puts the file back as it was, so the
KB folder and the live index both stay unchanged.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from core.errors import ValidationError
from core.settings import Settings
from core.types import Chunk, Hooks
from ingest.collect import kb_files, read_file, read_sources
from ingest.parse import DISABLED_FILE, SCOPE_FILE, toggled
from ingest.pipeline import DocumentDiff, IngestReport, preview, run_ingest

if TYPE_CHECKING:
    from models.embed import KefuEmbeddings

UPLOAD_FOLDERS = {".md": "docs", ".csv": "faqs", ".xlsx": "faqs"}
TEXT_SUFFIXES = {".md", ".yaml", ".yml", ".csv", ".txt"}


@dataclass(frozen=True)
class StagedChange:
    """A file that passed validation together with the whole KB, and what it would change."""

    rel: str  # path inside the KB folder
    data: bytes
    chunks: tuple[Chunk, ...]  # the chunks this file yields
    total_chunks: int
    diffs: tuple[DocumentDiff, ...]  # every document that differs from the live index
    replaces: bool  # True when a file of that name exists already
    delete: bool = False  # the change removes the file at `rel`


def upload_target(filename: str) -> str:
    """Where an uploaded file goes: Markdown into docs/, CSV and XLSX FAQ tables into faqs/."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in UPLOAD_FOLDERS:
        raise ValidationError(name or filename, "只能上传 .md（政策文档，放入 docs/）、.csv 或 .xlsx（FAQ 表格，放入 faqs/）文件")
    if name.startswith((".", "~$")) or name[: -len(suffix)].strip() == "":
        raise ValidationError(name, "文件名不能为空，也不能以 . 或 ~$ 开头（这类文件入库时会被跳过）")
    return f"{UPLOAD_FOLDERS[suffix]}/{name}"


def editable_files(settings: Settings) -> list[str]:
    """KB files that can be edited as text (XLSX workbooks are replaced by upload)."""
    return [p.relative_to(settings.kb_dir).as_posix() for p in kb_files(settings.kb_dir)
            if p.suffix.lower() in TEXT_SUFFIXES]


def read_kb_file(settings: Settings, rel: str) -> bytes:
    return read_file(settings.kb_dir, _checked(rel), settings.max_file_bytes)


NAME_MAX = 255


def _checked(rel: str) -> str:
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
        raise ValidationError(rel, "路径必须位于知识库目录之内")
    if any(ord(c) < 32 or c == "\x7f" or "\ud800" <= c <= "\udfff" for c in rel) or rel.endswith("/"):
        raise ValidationError(repr(rel), "路径中不能有控制字符，也必须是文件而不是目录")
    if any(len(p.encode("utf-8")) > NAME_MAX for p in parts):  # the file system refuses longer names
        raise ValidationError(rel[:60] + "…", f"文件名或目录名过长：每一级不能超过 {NAME_MAX} 字节（约 85 个汉字）")
    return rel


def stage(settings: Settings, rel: str, data: bytes) -> StagedChange:
    """Validate the KB as it would be with `data` at `rel`, on a temporary copy.
    Raises ValidationError (with file and line) exactly as an ingest would."""
    return _stage(settings, _checked(rel), data)


def stage_delete(settings: Settings, rel: str) -> StagedChange:
    """Validate the KB as it would be without the file at `rel` (nothing cites it, the
    service scope stays); the result is applied like any other change."""
    rel = _checked(rel)
    if rel == SCOPE_FILE:
        raise ValidationError(rel, "服务范围文档定义了全部案例，不能删除；请改为编辑")
    if not (settings.kb_dir / rel).is_file():
        raise ValidationError(rel, "文件不存在（可能已被删除）")
    return _stage(settings, rel, None)


def stage_switch(settings: Settings, passage: str, enabled: bool) -> StagedChange:
    """Switch a passage (an FAQ, a service-scope or document paragraph) off or on again: a
    line in dict/disabled.txt, so it survives every re-ingest and the file keeps its text."""
    current = settings.kb_dir / DISABLED_FILE
    text = read_file(settings.kb_dir, DISABLED_FILE, settings.max_file_bytes).decode("utf-8") if current.exists() else ""
    return stage(settings, DISABLED_FILE, toggled(text, passage, enabled).encode("utf-8"))


def _stage(settings: Settings, rel: str, data: bytes | None) -> StagedChange:
    with tempfile.TemporaryDirectory(prefix="kefu-stage-") as tmp:
        staged = Path(tmp) / "kb"
        staged.mkdir()
        # Exactly what ingest would read, read with its checks (no link followed out of the KB).
        for source in read_sources(settings.kb_dir, settings.max_file_bytes):
            if source.rel == rel and data is None:
                continue
            path = staged / source.rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(source.data)
        if data is not None:
            target = staged / rel
            if target.is_dir() or (settings.kb_dir / rel).is_dir():
                raise ValidationError(rel, "这是一个目录：请给出目录中的文件路径，如 faqs/logistics.yaml")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            except OSError as e:  # a file where a folder should be, a name too long, ...
                raise ValidationError(rel, f"不能作为知识库文件路径（{e.strerror or e}）") from None
        _kb, chunks, diffs = preview(settings, staged, changed=rel)
    return StagedChange(rel, data or b"", tuple(c for c in chunks if c.source == rel), len(chunks), tuple(diffs),
                        replaces=(settings.kb_dir / rel).exists(), delete=data is None)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def apply(settings: Settings, change: StagedChange, embedder: KefuEmbeddings | None = None,
          hooks: Hooks | None = None, load_embedder: Callable[[], KefuEmbeddings] | None = None) -> IngestReport:
    """Write the validated file into the KB and ingest; on any failure restore the KB."""
    target = settings.kb_dir / _checked(change.rel)
    old = target.read_bytes() if target.exists() else None
    created = [] if target.parent.exists() else [target.parent]
    target.parent.mkdir(parents=True, exist_ok=True)
    if change.delete:
        target.unlink(missing_ok=True)
    else:
        _write_atomic(target, change.data)
    try:
        return run_ingest(settings, embedder=embedder, hooks=hooks, load_embedder=load_embedder)
    except BaseException:
        if old is None:
            target.unlink(missing_ok=True)  # (a delete always has `old`)
            for folder in created:
                if not any(folder.iterdir()):
                    folder.rmdir()
        else:
            _write_atomic(target, old)
        raise
