"""The manifest of an index version: what built it, from what, and the checksum of every file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from core.errors import IndexError_

# 4: KB sources in the version, checksum table required, manifest digest; 5: the case classifier;
# 6: playbook situations and teams; 7: the gram classifier; 8: one label per category-level FAQ
FORMAT = 8


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
    files: dict[str, str]  # every file in the version folder -> sha256 (required: nothing unchecked is served)
    format: int = FORMAT
    metric: str = "inner_product"
    normalized: bool = True

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2).encode("utf-8")

    @classmethod
    def from_dict(cls, d: dict) -> Manifest:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def parse_manifest(data: bytes, name: str) -> Manifest:
    """A version's manifest from its bytes: every field present and of the right kind."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise IndexError_(f"索引版本 {name} 的 manifest 无法读取（{e}）：请运行 `kefu rollback` 或 `kefu ingest`") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else None
        raise IndexError_(f"索引版本 {name} 的格式为 {found}，当前 Kefu 只能读取格式 {FORMAT}：请运行 `kefu ingest`")
    missing = [f.name for f in fields(Manifest) if f.name not in raw]
    if missing:
        raise IndexError_(f"索引版本 {name} 的 manifest 缺少字段 {', '.join(missing)}：请运行 `kefu rollback` 或 `kefu ingest`")
    for key in ("files", "kb_files", "prompts", "counts"):
        table = raw[key]
        if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, (str, int)) for k, v in table.items()):
            raise IndexError_(f"索引版本 {name} 的 manifest 字段 {key} 无效：请运行 `kefu rollback` 或 `kefu ingest`")
    if not raw["files"]:
        raise IndexError_(f"索引版本 {name} 的 manifest 校验表为空：请运行 `kefu rollback` 或 `kefu ingest`")
    return Manifest.from_dict(raw)


def read_manifest(path: Path) -> Manifest:
    """The manifest of the version folder `path`, parsed but not verified (`versions.verify_version` does that)."""
    try:
        data = (path / "manifest.json").read_bytes()
    except OSError as e:
        raise IndexError_(f"索引版本 {path.name} 的 manifest 无法读取（{e.strerror}）：请运行 `kefu rollback` 或 `kefu ingest`") from None
    return parse_manifest(data, path.name)


def stored_format(path: Path) -> int | None:
    """The format number a version folder's manifest declares, None when unreadable."""
    try:
        raw = json.loads((path / "manifest.json").read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    value = raw.get("format") if isinstance(raw, dict) else None
    return value if isinstance(value, int) else None
