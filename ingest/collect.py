"""Collect the KB's files: exactly the ones ingest reads, as bytes read with a bound.

Nothing an editor saves may vanish in silence: a file in a place ingest never reads (the
top folder, an unknown folder, a subfolder of docs/) is refused with where it belongs.
Nothing from outside the KB may come in: a link leading out of the folder, a dangling
link, a device or a pipe is refused before anything is read.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import ValidationError
from core.kb import SourceFile
from ingest.parse import FAQ_SUFFIXES, SCOPE_FILE
from ingest.read import read_bytes

GUIDE_FILE = "README.md"  # the editors' guide: lives in kb/, is not knowledge
FOLDERS = {"docs": {".md"}, "faqs": FAQ_SUFFIXES, "playbooks": {".yaml", ".yml"}, "dict": {".txt"}}
WHERE = ("政策文档放 docs/（.md），FAQ 放 faqs/（.yaml、.yml、.csv、.xlsx），处理手册放 playbooks/（.yaml），"
         "词表放 dict/（.txt），这些目录下不能再建子目录（见 kb/README.md）")


def skipped(name: str) -> bool:
    """Hidden files and folders, and editors' lock, backup and autosave files: never content."""
    return name.startswith((".", "~$")) or name.endswith("~") or (len(name) > 1 and name.startswith("#") and name.endswith("#"))


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if not any(skipped(part) for part in p.relative_to(folder).parts)
                  and not p.is_dir())


def _rel(kb_dir: Path, path: Path) -> str:
    return path.relative_to(kb_dir).as_posix()


def kb_files(kb_dir: Path) -> list[Path]:
    """Every file ingest reads: the service scope first, then docs, FAQs, playbooks, lexicon."""
    kb_dir = Path(kb_dir)
    if not (kb_dir / SCOPE_FILE).is_file():
        raise ValidationError(str(kb_dir), f"不是知识库目录（缺少 {SCOPE_FILE}）")
    found = [kb_dir / SCOPE_FILE]
    for p in sorted(kb_dir.iterdir()):
        if skipped(p.name) or p.name in (SCOPE_FILE, GUIDE_FILE) or p.name in FOLDERS and p.is_dir():
            continue
        stray = _files_under(p) if p.is_dir() else [p]
        if stray:
            where = "知识库根目录只放 service_scope.md 和 README.md" if not p.is_dir() else f"入库不会读取 {p.name}/ 目录"
            raise ValidationError(_rel(kb_dir, stray[0]), f"{where}，这个文件不会入库：{WHERE}")
    for sub, suffixes in FOLDERS.items():
        folder = kb_dir / sub
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if skipped(p.name):
                continue
            if p.is_dir():
                stray = _files_under(p)
                if stray:
                    raise ValidationError(_rel(kb_dir, stray[0]), f"入库只读取 {sub}/ 中直接存放的文件，不读取子目录：请移到 {sub}/。{WHERE}")
                continue
            if p.suffix.lower() not in suffixes:
                raise ValidationError(f"{sub}/{p.name}", f"{sub}/ 目录不支持此文件类型：请使用 {'、'.join(sorted(suffixes))}")
            found.append(p)
    root = kb_dir.resolve()
    for p in found:
        _check_inside(p, root, _rel(kb_dir, p))
    return found


def _check_inside(path: Path, root: Path, rel: str) -> None:
    """Links may point within the KB (a shared file); never out of it, never nowhere."""
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        raise ValidationError(rel, "符号链接指向的文件不存在：请删除这个链接，或换成真正的文件") from None
    except (OSError, RuntimeError) as e:
        raise ValidationError(rel, f"无法解析这个路径（{e}）") from None
    if not real.is_relative_to(root):
        raise ValidationError(rel, "指向知识库目录之外（符号链接）：知识库只读取目录之内的文件，请把内容复制进来")
    if not real.is_file():  # checked again on the open descriptor when read (ingest.read)
        raise ValidationError(rel, "不是普通文件（可能是设备、管道或目录）：知识库只读取普通文本文件和 .xlsx 表格")


def read_file(kb_dir: Path, rel: str, max_file_bytes: int) -> bytes:
    """One KB file (one that ingest reads), with the same checks and bound."""
    for p in kb_files(kb_dir):
        if _rel(kb_dir, p) == rel:
            return read_bytes(p, rel, max_file_bytes)
    raise ValidationError(rel, "不是知识库中入库会读取的文件")


def read_sources(kb_dir: Path, max_file_bytes: int) -> tuple[SourceFile, ...]:
    """The bytes of every KB file, each read once and with the size bound."""
    kb_dir = Path(kb_dir)
    return tuple(SourceFile(_rel(kb_dir, p), read_bytes(p, _rel(kb_dir, p), max_file_bytes)) for p in kb_files(kb_dir))
