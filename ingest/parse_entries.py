"""Parse FAQ entries (YAML, CSV, XLSX rows) and playbooks into typed documents, with the
line of every problem."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import PurePosixPath

from core.errors import ValidationError, raise_all
from core.kb import FAQ, Playbook, PlaybookItem, Situation
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
    faqs, errors = [], []
    for row in rows:  # every bad row at once: a spreadsheet is fixed in one go
        try:
            faqs.append(faq_from_row(row, rel))
        except ValidationError as e:
            errors.append(e)
    raise_all(errors)
    return faqs


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

_PB_KEYS = {"case", "category", "summary", "team", "always_escalate", "preconditions", "situations", "self_service",
            "have_ready", "escalate", "internal_notes"}
_SITUATION_KEYS = {"when", "keywords", "verify", "steps", "reply"}
# A situation an agent can follow at a glance: more than this is two situations.
MAX_SITUATION_STEPS = 6
# Two items of one situation sharing this much of their character pairs say the same thing
# twice ("核对订单号、物流轨迹和签收记录" and "核对物流轨迹，确认签收记录" share 0.41; the
# shipped playbooks stay under 0.3).
_NEAR_DUPLICATE = 0.4


def _meta_keys(d: dict) -> set:
    return set(d) - {"__line__", "__key_lines__"}


def _bigrams(text: str) -> set[str]:
    t = re.sub(r"[\s，。、；：！？,.;:!?（）()「」“”]", "", text)
    return {t[i:i + 2] for i in range(len(t) - 1)} or {t}


def _check_repeats(items: list[tuple[str, int]], rel: str, where: str) -> None:
    """No item (text, line) may repeat another of the same situation (e.g. a check that is also a step)."""
    for j, (b, b_line) in enumerate(items):
        for a, a_line in items[:j]:
            ga, gb = _bigrams(a), _bigrams(b)
            if len(ga & gb) / len(ga | gb) >= _NEAR_DUPLICATE:
                raise ValidationError(rel, f"{where}中「{b}」与第 {a_line} 行的「{a}」重复：请合并为一项", b_line)


def load_playbook(text: str, rel: str) -> Playbook:
    d = parse_yaml(text, rel)
    if not isinstance(d, dict):
        raise ValidationError(rel, "处理手册必须是映射（case:、category:、situations: ...）", 1)
    line = d.get("__line__", 1)
    key_lines = d.get("__key_lines__", {})
    for key in sorted(_meta_keys(d) - _PB_KEYS, key=str):
        hint = "：核实项和处理步骤须写在 situations 的各个情形下（见 kb/README.md）" if key in ("verify", "steps") else ""
        raise ValidationError(rel, f"处理手册中有未知字段 '{key}'{hint}", key_lines.get(key, line))
    missing = [k for k in ("case", "category", "summary", "team", "preconditions", "situations", "self_service", "escalate", "have_ready")
               if not d.get(k)]
    if missing:
        raise ValidationError(rel, f"处理手册缺少以下字段或字段为空：{', '.join(missing)}", line)

    def item(it, key: str, at: int, body_key: str = "text") -> PlaybookItem:
        if not isinstance(it, dict):
            what = "情形缺少 'reply'（客服发给用户的回复，写 text 和 cites）" if key == "reply" else f"'{key}' 的每一项都需要 '{body_key}' 和 'cites'"
            raise ValidationError(rel, what, at)
        it_line = it.get("__line__", at)
        body = it.get(body_key)
        cites = it.get("cites")
        if isinstance(cites, str):
            cites = [c.strip() for c in re.split(r"[,，\s]+", cites) if c.strip()]
        which = "情形的 'reply'" if key == "reply" else f"'{key}' 中有一项"
        if not isinstance(body, str) or not body.strip():
            raise ValidationError(rel, f"{which}缺少 '{body_key}'", it_line)
        if not cites or not isinstance(cites, list):
            raise ValidationError(rel, f"{which}未引用任何段落：请添加 cites: [scope:N.M] 或 [faq:ID]", it_line)
        cite_line = it.get("__key_lines__", {}).get("cites", it_line)
        return PlaybookItem(body.strip(), tuple(str(c) for c in cites), cite_line, str(it.get("to", "")).strip())

    # Every bad item and every bad situation is reported, not only the first: an editor
    # (often through the playbook form) fixes them in one go.
    errors: list[ValidationError] = []

    def collect(fn, *args, default=None):
        try:
            return fn(*args)
        except ValidationError as e:
            errors.append(e)
            return default

    def items(raw, key: str, at: int, required: bool = True) -> tuple[PlaybookItem, ...]:
        """The items that are well formed; the others' errors are collected."""
        if raw is None and not required:
            return ()
        if not isinstance(raw, list) or (required and not raw):
            raise ValidationError(rel, f"'{key}' 必须是非空列表", at)
        found = (collect(item, it, key, at, "when" if key == "escalate" else "text") for it in raw)
        return tuple(i for i in found if i is not None)

    def strings(raw, key: str, at: int) -> tuple[str, ...]:
        if isinstance(raw, str):
            raw = [w for w in re.split(r"[,，、\s]+", raw) if w]
        raw = raw or []
        if not isinstance(raw, list) or not all(isinstance(s, str) and s.strip() for s in raw):
            raise ValidationError(rel, f"'{key}' 必须是文本列表", at)
        return tuple(s.strip() for s in raw)

    raw_situations = d["situations"]
    if not isinstance(raw_situations, list):
        raise ValidationError(rel, "'situations' 必须是情形列表（- when: ...）", key_lines.get("situations", line))
    situations: list[Situation] = []

    def situation(raw) -> None:
        if not isinstance(raw, dict):
            raise ValidationError(rel, "'situations' 的每一项都需要 when、steps 和 reply", key_lines.get("situations", line))
        at = raw.get("__line__", line)
        klines = raw.get("__key_lines__", {})
        for key in sorted(_meta_keys(raw) - _SITUATION_KEYS, key=str):
            raise ValidationError(rel, f"情形中有未知字段 '{key}'（可用：when、keywords、verify、steps、reply）", klines.get(key, at))
        when = raw.get("when")
        if not isinstance(when, str) or not when.strip():
            raise ValidationError(rel, "情形缺少 'when'（这个情形适用于什么情况）", at)
        when = when.strip()
        if any(s.when == when for s in situations):
            raise ValidationError(rel, f"情形「{when}」出现了两次", at)
        keywords = strings(raw.get("keywords"), "keywords", klines.get("keywords", at))
        if len(raw_situations) > 1 and not keywords:
            raise ValidationError(rel, f"情形「{when}」缺少 keywords：有多个情形时，每个情形都要列出指向它的关键词", at)
        before = len(errors)
        verify = collect(items, raw.get("verify"), "verify", klines.get("verify", at), False, default=())
        steps = collect(items, raw.get("steps"), "steps", klines.get("steps", at), default=())
        reply = collect(item, raw.get("reply"), "reply", klines.get("reply", at))
        if len(errors) > before:
            return  # the counts and repeats below are about items that are all there
        if len(verify) + len(steps) > MAX_SITUATION_STEPS:
            raise ValidationError(rel, f"情形「{when}」有 {len(verify) + len(steps)} 项核实和步骤，超过 {MAX_SITUATION_STEPS} 项：请精简，或拆成两个情形", at)
        lines = [it.get("__line__", at) for it in (*(raw.get("verify") or ()), *raw["steps"])]
        _check_repeats([(it.text, n) for it, n in zip((*verify, *steps), lines)], rel, f"情形「{when}」")
        situations.append(Situation(when, keywords, verify, steps, reply, at))

    for raw in raw_situations:
        collect(situation, raw)
    preconditions = collect(items, d["preconditions"], "preconditions", line, default=())
    self_service = collect(items, d["self_service"], "self_service", line, default=())
    have_ready = collect(strings, d["have_ready"], "have_ready", line, default=())
    escalate = collect(items, d["escalate"], "escalate", line, default=())
    internal_notes = collect(strings, d.get("internal_notes"), "internal_notes", line, default=())
    raise_all(errors)

    return Playbook(
        case=str(d["case"]).strip(), category=str(d["category"]).strip(), summary=str(d["summary"]).strip(),
        team=str(d["team"]).strip(), preconditions=preconditions, situations=tuple(situations), self_service=self_service,
        have_ready=have_ready, escalate=escalate, internal_notes=internal_notes, file=rel,
        always_escalate=str(d.get("always_escalate") or "").strip(),
    )
