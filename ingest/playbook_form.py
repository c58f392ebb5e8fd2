"""Playbooks edited through a form: a playbook file is read into the typed `Playbook` that
ingest validates, and a `Playbook` is written back as YAML in the layout of the shipped files,
so that loading it gives the same playbook. The result is staged and validated like any other
change. Nothing here writes to the KB."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath

import yaml

from core.errors import ValidationError
from core.kb import Playbook, PlaybookItem, Situation
from ingest.parse_entries import load_playbook
from ingest.read import decode, parse_yaml

FOLDER = "playbooks/"
FORM_SUFFIXES = {".yaml", ".yml"}
# What separates cites typed into one cell: commas (either width), 、 and spaces. Keywords
# may hold a space ("delivery time"): only commas, 、 and line breaks separate them.
_CITE_SEPARATORS = re.compile(r"[,，、\s]+")
_KEYWORD_SEPARATORS = re.compile(r"[,，、\n]+")
# A passage id such as scope:5.3 or faq:LOG-007: plain in a flow list, as people write it.
_PASSAGE_ID = re.compile(r"[a-z]+:[A-Za-z0-9_.\-]+")


def form_files(files: list[str]) -> list[str]:
    return [f for f in files if f.startswith(FOLDER) and PurePosixPath(f).suffix.lower() in FORM_SUFFIXES]


def parse(data: bytes, rel: str) -> Playbook:
    """The playbook file's bytes as ingest reads them (raises ValidationError when they do not parse)."""
    return load_playbook(decode(data, rel), rel)


# --- form values <-> typed items ------------------------------------------------------------------


def split_cites(text: str) -> tuple[str, ...]:
    """Cites typed in one cell: "scope:5.3, faq:LOG-007" -> ("scope:5.3", "faq:LOG-007")."""
    return tuple(w for w in _CITE_SEPARATORS.split(text or "") if w)


def split_keywords(text: str) -> tuple[str, ...]:
    """Keywords typed in one field: "签收、没收到, auto renew" -> ("签收", "没收到", "auto renew")."""
    return tuple(w.strip() for w in _KEYWORD_SEPARATORS.split(text or "") if w.strip())


def split_lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


def _cell(value) -> str:
    # An added table row holds None (or NaN from pandas) in the cells left empty.
    return value.strip() if isinstance(value, str) else ""


def item_rows(items: Iterable[PlaybookItem], escalate: bool = False) -> list[dict[str, str]]:
    """Items as table rows: text (an escalation's `when`), cites joined by ", ", and `to` for escalations."""
    return [{"text": i.text, **({"to": i.to} if escalate else {}), "cites": ", ".join(i.cites)} for i in items]


def items_from_rows(rows: Iterable[Mapping[str, object]]) -> tuple[PlaybookItem, ...]:
    """Table rows back to items; rows left wholly empty are dropped, half-filled ones are kept
    so that validation names what is missing."""
    out = []
    for row in rows:
        text, cites, to = _cell(row.get("text")), split_cites(_cell(row.get("cites"))), _cell(row.get("to"))
        if text or cites or to:
            out.append(PlaybookItem(text, cites, to=to))
    return tuple(out)


# --- Playbook -> YAML -------------------------------------------------------------------------------


class _Flow(list):
    """A list written inline: cites: [scope:5.3, faq:LOG-007]."""


class _Dumper(yaml.SafeDumper):
    """The shipped files' layout: lists indented under their key, short lists inline, long
    text on one line, passage ids unquoted, multi-line text as a literal block."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)

    def analyze_scalar(self, scalar):
        analysis = super().analyze_scalar(scalar)
        if _PASSAGE_ID.fullmatch(scalar):
            analysis.allow_flow_plain = True  # "a:b" is a plain scalar to every YAML reader
        return analysis


_Dumper.add_representer(_Flow, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True))
_Dumper.add_representer(
    str, lambda d, data: d.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None))


def _item(i: PlaybookItem, body: str = "text") -> dict:
    out: dict = {body: i.text}
    if body == "when" and i.to:
        out["to"] = i.to
    out["cites"] = _Flow(i.cites)
    return out


def _situation(s: Situation) -> dict:
    out: dict = {"when": s.when}
    if s.keywords:
        out["keywords"] = _Flow(s.keywords)
    if s.verify:
        out["verify"] = [_item(i) for i in s.verify]
    out["steps"] = [_item(i) for i in s.steps]
    out["reply"] = _item(s.reply)
    return out


def to_yaml(pb: Playbook) -> str:
    """The playbook file for `pb`, in the field order of kb/README.md; optional fields only when set."""
    doc: dict = {"case": pb.case, "category": pb.category, "summary": pb.summary}
    if pb.always_escalate:
        doc["always_escalate"] = pb.always_escalate
    doc |= {"team": pb.team, "preconditions": [_item(i) for i in pb.preconditions],
            "situations": [_situation(s) for s in pb.situations], "self_service": [_item(i) for i in pb.self_service],
            "have_ready": list(pb.have_ready), "escalate": [_item(i, "when") for i in pb.escalate]}
    if pb.internal_notes:
        doc["internal_notes"] = list(pb.internal_notes)
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10_000)


def write(pb: Playbook) -> bytes:
    return to_yaml(pb).encode("utf-8")


# --- where a line of the written file is in the form -------------------------------------------------

FIELD_LABEL = {"case": "案例", "category": "类别", "summary": "摘要", "always_escalate": "总是转人工的原因", "team": "接手团队",
               "preconditions": "适用前提", "situations": "情形", "self_service": "用户自助", "have_ready": "请用户准备",
               "escalate": "转人工", "internal_notes": "内部备注"}
SITUATION_LABEL = {"when": "情形名称", "keywords": "关键词", "verify": "核实", "steps": "步骤", "reply": "回复"}


def places(data: bytes) -> list[tuple[int, str]]:
    """(first line, what the form calls it) for every field and item of a written playbook,
    in line order: an error's line is in the last place starting at or before it."""
    try:
        doc = parse_yaml(decode(data, "playbook"), "playbook")
    except ValidationError:
        return []
    if not isinstance(doc, dict):
        return []
    out: list[tuple[int, str]] = []

    def items(raw, label: str) -> None:
        for n, it in enumerate(raw if isinstance(raw, list) else [], 1):
            if isinstance(it, dict):
                out.append((it["__line__"], f"{label}第 {n} 项"))

    for key, line in doc["__key_lines__"].items():
        label = FIELD_LABEL.get(key, str(key))
        out.append((line, label))
        if key == "situations":
            for n, s in enumerate(doc[key] if isinstance(doc[key], list) else [], 1):
                if not isinstance(s, dict):
                    continue
                name = f"情形 {n}「{s.get('when') or ''}」"
                out.append((s["__line__"], name))
                for skey, sline in s["__key_lines__"].items():
                    out.append((sline, f"{name}· {SITUATION_LABEL.get(skey, str(skey))}"))
                    if skey in ("verify", "steps"):
                        items(s[skey], f"{name}· {SITUATION_LABEL[skey]}")
        elif key in ("preconditions", "self_service", "escalate"):
            items(doc[key], label)
    return sorted(out, key=lambda p: p[0])  # stable: the most specific label of a line comes last


def place(data: bytes, line: int | None) -> str:
    """What the form calls the field at `line` of the written playbook ("" when unknown)."""
    if not line:
        return ""
    found = [label for start, label in places(data) if start <= line]
    return found[-1] if found else ""
