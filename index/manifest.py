"""The manifest of an index version: what built it, from what, and the checksum of every file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import IndexError_

FORMAT = 3  # 3: the whole validated KB in kb.json; chunks without positions


@dataclass(frozen=True)
class Manifest:
    version: str
    model: str
    dimension: int
    prompts: dict[str, str]  # {"query": ..., "passage": ...}
    pipeline: int  # ingest's PIPELINE_VERSION: a change rebuilds an unchanged KB
    kb_hash: str
    built_at: str  # UTC, ISO 8601
    counts: dict[str, int]
    kb_files: dict[str, str]  # KB path -> sha256, what this version was built from
    package_version: str
    index_type: str  # "flat" | "hnsw"
    files: dict[str, str] = field(default_factory=dict)  # file in the version folder -> sha256
    format: int = FORMAT
    metric: str = "inner_product"
    normalized: bool = True

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2).encode("utf-8")

    @classmethod
    def from_dict(cls, d: dict) -> Manifest:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def read_manifest(path: Path) -> Manifest:
    """The manifest of the version folder `path`; a missing, unreadable or foreign one is an IndexError_."""
    try:
        raw = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexError_(f"索引版本 {path.name} 的 manifest 无法读取（{e}）：请运行 `kefu rollback` 或 `kefu ingest`") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else None
        raise IndexError_(f"索引版本 {path.name} 的格式为 {found}，当前 Kefu 只能读取格式 {FORMAT}：请运行 `kefu ingest`")
    try:
        return Manifest.from_dict(raw)
    except TypeError as e:
        raise IndexError_(f"索引版本 {path.name} 的 manifest 缺少字段（{e}）：请运行 `kefu ingest`") from None
