"""Choose the version a rollback returns to: the one that was live before the current one
(from HISTORY), intact and built by the configured model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import IndexError_
from index.current import current_version, history, live_stack, set_current
from index.versions import list_versions, verify_version


@dataclass(frozen=True)
class RollbackTarget:
    version: str  # the version to make live
    previous: str | None  # the live one (None when CURRENT was missing or unreadable)
    skipped: tuple[str, ...] = ()  # damaged versions passed over on the way


def _candidates(index_dir: Path, live: str | None) -> list[str]:
    """Newest first. When HISTORY knows the live version, the ones live before it; else
    (no CURRENT, or a CURRENT set by hand) the versions older than it by name."""
    stack = live_stack(history(index_dir))
    names = list_versions(index_dir)
    if live is not None and stack and stack[-1] == live:
        return [n for n in reversed(stack[:-1]) if n in names]
    return [n for n in reversed(names) if live is None or n < live]


def choose_target(index_dir: Path, model: str) -> RollbackTarget:
    try:
        live = current_version(index_dir)
    except IndexError_:
        live = None  # an unreadable CURRENT: return to the newest intact version
    skipped = []
    for name in _candidates(index_dir, live):
        if name == live:
            continue
        try:
            manifest = verify_version(index_dir, name)
        except IndexError_:
            skipped.append(name)
            continue
        if manifest.model != model:
            raise IndexError_(f"不能回滚到 {name}：它是用嵌入模型 '{manifest.model}' 构建的，而当前配置的模型是 "
                              f"'{model}'，回滚后所有提问都会失败。请改回该模型（KEFU_EMBEDDING_MODEL）再回滚，或运行 `kefu ingest`")
        return RollbackTarget(name, live, tuple(skipped))
    why = f"（已跳过损坏的版本：{'、'.join(skipped)}）" if skipped else ""
    raise IndexError_(f"没有更早的完整索引版本可以回滚{why}")


def rollback(index_dir: Path, model: str) -> RollbackTarget:
    """Make the chosen version live and record it. The caller holds the ingest lock."""
    target = choose_target(index_dir, model)
    set_current(index_dir, target.version, "rollback", target.previous)
    return target
