"""Parse FAQ entries (YAML, CSV, XLSX rows) and playbooks into typed documents, with the
line of every problem."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import PurePosixPath

from core.errors import ValidationError
from core.kb import FAQ, Playbook, PlaybookItem
from ingest.parse_tables import parse_csv, parse_xlsx
from ingest.read import decode, parse_yaml

_FAQ_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YES = {"true", "yes", "1", "是", "y"}
_NO = {"false", "no", "0", "否", "n", ""}


# --- FAQs ----------------------------------------------------------------------------------


def _str(row: dict, key: str, rel: str, required: bool = True) -> str:
    value = row.get(key)
    if isinstance(value, dt.date):
        value = value.isoformat()
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(rel, f"FAQ 字段 '{key}' 缺失或为空", row.get("__line__"))
        return ""
    if not isinstance(value, (str, int, float)):
        raise ValidationError(rel, f"FAQ 字段 '{key}' 必须是文本", row.get("__line__"))
    return str(value).strip()


def load_faq_rows(data: bytes, rel: str) -> list[FAQ]:
    suffix = PurePosixPath(rel).suffix.lower()
    if suffix == ".xlsx":
        rows = parse_xlsx(data, rel)
    elif suffix == ".csv":
        rows = parse_csv(decode(data, rel), rel)
    else:
        rows = parse_yaml(decode(data, rel), rel)
        if not isinstance(rows, list):
            raise ValidationError(rel, "FAQ YAML 文件必须是条目列表（'- id: ...'）", 1)
    return [faq_from_row(row, rel) for row in rows]


def faq_from_row(row, rel: str) -> FAQ:
    if not isinstance(row, dict):
        raise ValidationError(rel, "每条 FAQ 必须是包含 id、question、answer 等字段的映射")
    line = row.get("__line__", 0)
    unknown = set(row) - {"id", "question", "variants", "answer", "case", "category", "effective_date", "source", "sample", "__line__", "__key_lines__"}
    if unknown:
        raise ValidationError(rel, f"未知的 FAQ 字段：{', '.join(sorted(unknown))}", line)
    fid = _str(row, "id", rel)
    if not _FAQ_ID.match(fid):
        raise ValidationError(rel, f"FAQ 编号 '{fid}' 只能包含字母、数字、'-' 或 '_'，且以字母开头（例如 LOG-003）", line)
    variants = row.get("variants") or []
    if isinstance(variants, str):
        variants = [v.strip() for v in variants.split("|")]
    if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
        raise ValidationError(rel, f"FAQ {fid}：'variants' 必须是问题列表", line)
    date = _str(row, "effective_date", rel)
    if not _DATE.match(date):
        raise ValidationError(rel, f"FAQ {fid}：effective_date '{date}' 的格式必须为 YYYY-MM-DD", line)
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise ValidationError(rel, f"FAQ {fid}：effective_date '{date}' 不是有效日期", line) from None
    sample = row.get("sample", False)
    if not isinstance(sample, bool):
        flag = str(sample).strip().lower()
        if flag not in _YES | _NO:
            raise ValidationError(rel, f"FAQ {fid}：sample 必须为 true/false（是/否），而不是 '{sample}'", line)
        sample = flag in _YES
    return FAQ(
        id=fid, question=_str(row, "question", rel), variants=tuple(v for v in variants if v.strip()),
        answer=_str(row, "answer", rel), case=_str(row, "case", rel, required=False) or None,
        category=_str(row, "category", rel), effective_date=date, source_ref=_str(row, "source", rel),
        sample=sample, file=rel, line=line, case_line=row.get("__key_lines__", {}).get("case", line),
    )


# --- Playbooks -------------------------------------------------------------------------------

_PB_LISTS = ("preconditions", "verify", "steps", "self_service", "escalate")


def load_playbook(text: str, rel: str) -> Playbook:
    d = parse_yaml(text, rel)
    if not isinstance(d, dict):
        raise ValidationError(rel, "处理手册必须是映射（case:、category:、steps: ...）", 1)
    line = d.get("__line__", 1)
    missing = [k for k in ("case", "category", "summary", "team", *_PB_LISTS, "have_ready") if not d.get(k)]
    if missing:
        raise ValidationError(rel, f"处理手册缺少以下字段或字段为空：{', '.join(missing)}", line)

    def items(key: str) -> tuple[PlaybookItem, ...]:
        raw = d[key]
        if not isinstance(raw, list):
            raise ValidationError(rel, f"'{key}' 必须是列表", line)
        out = []
        for it in raw:
            if not isinstance(it, dict):
                raise ValidationError(rel, f"'{key}' 的每一项都需要 'text'（或 'when'）和 'cites'", line)
            it_line = it.get("__line__", line)
            body = it.get("when") if key == "escalate" else it.get("text")
            cites = it.get("cites")
            if isinstance(cites, str):
                cites = [c.strip() for c in re.split(r"[,，\s]+", cites) if c.strip()]
            if not isinstance(body, str) or not body.strip():
                raise ValidationError(rel, f"'{key}' 中有一项缺少 '{'when' if key == 'escalate' else 'text'}'", it_line)
            if not cites or not isinstance(cites, list):
                raise ValidationError(rel, f"'{key}' 中有一项未引用任何段落：请添加 cites: [scope:N.M] 或 [faq:ID]", it_line)
            cite_line = it.get("__key_lines__", {}).get("cites", it_line)
            out.append(PlaybookItem(body.strip(), tuple(str(c) for c in cites), cite_line, str(it.get("to", "")).strip()))
        return tuple(out)

    def strings(key: str) -> tuple[str, ...]:
        raw = d.get(key) or []
        if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
            raise ValidationError(rel, f"'{key}' 必须是文本列表", line)
        return tuple(s.strip() for s in raw)

    return Playbook(
        case=str(d["case"]).strip(), category=str(d["category"]).strip(), summary=str(d["summary"]).strip(),
        team=str(d["team"]).strip(), preconditions=items("preconditions"), verify=items("verify"),
        steps=items("steps"), self_service=items("self_service"), have_ready=strings("have_ready"),
        escalate=items("escalate"), internal_notes=strings("internal_notes"), file=rel,
        always_escalate=str(d.get("always_escalate") or "").strip(),
    )
