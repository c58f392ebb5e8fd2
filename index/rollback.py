"""Choose the version a rollback returns to: the one that was live before the current one
(from HISTORY), intact and built by the configured model."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import IndexError_
from index.current import live_stack
from index.store import VersionStore


@dataclass(frozen=True)
class RollbackTarget:
    version: str  # the version to make live
    previous: str | None  # the live one (None when CURRENT was missing or unreadable)
    skipped: tuple[str, ...] = ()  # damaged versions passed over on the way


def _candidates(store: VersionStore, live: str | None) -> list[str]:
    """Newest first. When HISTORY knows the live version, the ones live before it; else
    (no CURRENT, or a CURRENT set by hand) the versions older than it by name."""
    stack = live_stack(store.history())
    names = store.names()
    if live is not None and stack and stack[-1] == live:
        return [n for n in reversed(stack[:-1]) if n in names]
    return [n for n in reversed(names) if live is None or n < live]


def choose_target(store: VersionStore, model: str) -> RollbackTarget:
    try:
        live = store.live()
    except IndexError_:
        live = None  # an unreadable CURRENT: return to the newest intact version
    skipped = []
    for name in _candidates(store, live):
        if name == live:
            continue
        try:
            manifest = store.verify(name)
        except IndexError_:
            skipped.append(name)
            continue
        if manifest.model != model:
            raise IndexError_(f"不能回滚到 {name}：它是用嵌入模型 '{manifest.model}' 构建的，而当前配置的模型是 "
                              f"'{model}'，回滚后所有提问都会失败。请改回该模型（KEFU_EMBEDDING_MODEL）再回滚，或运行 `kefu ingest`")
        return RollbackTarget(name, live, tuple(skipped))
    why = f"（已跳过损坏的版本：{'、'.join(skipped)}）" if skipped else ""
    raise IndexError_(f"没有更早的完整索引版本可以回滚{why}")


def rollback(store: VersionStore, model: str) -> RollbackTarget:
    """Make the chosen version live and record it. The caller holds the ingest lock."""
    target = choose_target(store, model)
    store.set_live(target.version, "rollback", target.previous)
    return target
