"""Evaluation sets: the team-written JSONL dev set, and TSV files of labelled real messages.

JSONL rows: `id, query, cases, category, in_scope, style`, optionally `history` (the
customer's earlier messages, oldest first) and `also` (the other issues' acceptable cases).
TSV files have the columns `query, gold, categories, kind` (gold and categories joined by
`|`, `-` for none; kind `in` or `oos`), and optionally `history` (a JSON list).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import KefuError

DEFAULT_DEVSET = Path(__file__).resolve().parent / "devset.jsonl"


@dataclass(frozen=True)
class DevItem:
    id: str
    query: str
    cases: tuple[str, ...]  # acceptable case titles, main first; empty for out-of-scope and category-only rows
    category: str | None  # the main category
    in_scope: bool
    style: str
    categories: tuple[str, ...] = ()  # every category a right answer may name (main first)
    history: tuple[str, ...] = ()  # the customer's earlier messages in the conversation, oldest first
    also: tuple[tuple[str, ...], ...] = ()  # for several issues in one message: each other issue's acceptable cases

    def category_ok(self, category: str | None) -> bool:
        return category in (self.categories or (self.category,))


def _strings(value, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} 必须是文本列表")
    return tuple(value)


def _jsonl_item(d: dict) -> DevItem:
    category = d.get("category")
    return DevItem(
        id=d["id"], query=d["query"], cases=_strings(d.get("cases"), "cases"), category=category,
        in_scope=bool(d.get("in_scope", True)), style=d.get("style", ""),
        categories=(category,) if category else (), history=_strings(d.get("history"), "history"),
        also=tuple(_strings(a, "also") for a in d.get("also") or ()),
    )


def _tsv_items(text: str, path: Path) -> list[DevItem]:
    rows = list(csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE))
    header = [h.strip() for h in rows[0]] if rows else []
    missing = {"query", "gold", "categories", "kind"} - set(header)
    if missing:
        raise KefuError(f"{path} 缺少列：{', '.join(sorted(missing))}（需要 query、gold、categories、kind，可选 history）")
    col = {h: i for i, h in enumerate(header)}
    items = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            cell = {h: row[i] for h, i in col.items()}
            split = lambda v: () if v.strip() in ("", "-") else tuple(x.strip() for x in v.split("|"))  # noqa: E731
            cats = split(cell["categories"])
            kind = cell["kind"].strip()
            if kind not in ("in", "oos"):
                raise ValueError(f"kind 必须是 in 或 oos，而不是 '{kind}'")
            history = _strings(json.loads(cell["history"]), "history") if cell.get("history", "").strip() else ()
        except (IndexError, ValueError) as e:
            raise KefuError(f"{path} 第 {n} 行：不是有效的评测数据行（{e}）") from None
        items.append(DevItem(id=f"{path.stem}:{n}", query=cell["query"], cases=split(cell["gold"]),
                             category=cats[0] if cats else None, in_scope=kind == "in", style=kind,
                             categories=cats, history=history))
    return items


def load_devset(path: Path | str | None = None) -> list[DevItem]:
    path = Path(path or DEFAULT_DEVSET)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise KefuError(f"无法读取评测集 {path}：{e}") from None
    if path.suffix.lower() == ".tsv":
        items = _tsv_items(text, path)
    else:
        items = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(_jsonl_item(json.loads(line)))
            except (ValueError, KeyError, TypeError) as e:
                raise KefuError(f"{path} 第 {n} 行：不是有效的评测集数据行（{e}）") from None
    if not items:
        raise KefuError(f"评测集 {path} 中没有数据")
    return items
