"""Which version is live: `CURRENT` (replaced atomically) and `HISTORY` (one JSON line per
change of CURRENT, appended), from which a rollback finds the version live before."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import IndexError_

CURRENT = "CURRENT"
HISTORY = "HISTORY"
FIX = "运行 `kefu rollback` 改用最近的完整版本，或运行 `kefu ingest` 重新构建"
# `v0007-20261125-034312-ab12cd34`; anything else in CURRENT is damage, never a path to follow.
_NAME = re.compile(r"^v\d{4}-[0-9A-Za-z-]{1,80}$")


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def current_version(index_dir: Path) -> str | None:
    """The live version's name, None when there is no CURRENT; an unreadable one is an IndexError_."""
    path = index_dir / CURRENT
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise IndexError_(f"无法读取 {path}（{e.strerror}）：{FIX}") from None
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise IndexError_(f"{path} 已损坏（不是有效的 UTF-8 文本）：{FIX}") from None
    if not valid_name(name):
        raise IndexError_(f"{path} 已损坏（内容不是索引版本名）：{FIX}")
    return name


def current_or_none(index_dir: Path) -> str | None:
    """For display: the live version's name, or None when missing or unreadable."""
    try:
        return current_version(index_dir)
    except IndexError_:
        return None


@dataclass(frozen=True)
class HistoryEntry:
    at: str  # UTC, ISO 8601
    action: str  # "ingest" | "rollback"
    version: str  # live from then on
    previous: str | None  # live until then


def set_current(index_dir: Path, name: str, action: str, previous: str | None) -> None:
    """Make `name` live (atomic rename), then record it. The caller holds the ingest lock."""
    tmp = index_dir / f".CURRENT.{uuid.uuid4().hex}"
    fsync_write(tmp, (name + "\n").encode("utf-8"))
    os.replace(tmp, index_dir / CURRENT)
    entry = HistoryEntry(dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), action, name, previous)
    line = (json.dumps(asdict(entry), ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(index_dir / HISTORY, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def history(index_dir: Path) -> list[HistoryEntry]:
    """Every recorded change of CURRENT, oldest first; a torn last line (a killed write) is skipped."""
    try:
        lines = (index_dir / HISTORY).read_bytes().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            d = json.loads(line)
            out.append(HistoryEntry(str(d["at"]), str(d["action"]), str(d["version"]), d.get("previous")))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def live_stack(entries: list[HistoryEntry]) -> list[str]:
    """The versions that were live, each on top of the one it replaced: an ingest pushes,
    a rollback returns to an earlier entry (dropping what was above it)."""
    stack: list[str] = []
    for e in entries:
        if e.action == "rollback" and e.version in stack:
            del stack[len(stack) - stack[::-1].index(e.version):]
        elif e.action == "rollback":
            stack = [e.version]
        else:
            stack.append(e.version)
    return stack
