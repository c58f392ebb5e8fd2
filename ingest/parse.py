"""Parse `kb/` files into typed documents: the service scope (the case taxonomy), policy
documents and the lexicon. FAQs and playbooks: `ingest.parse_entries`; which files there
are: `ingest.collect`."""

from __future__ import annotations

import re
from pathlib import Path

from core.errors import ValidationError
from core.kb import GENERAL_DESK, Case, Passage, Team
from ingest.read import parse_yaml

SCOPE_FILE = "service_scope.md"
FAQ_SUFFIXES = {".yaml", ".yml", ".csv", ".xlsx"}
_CATEGORY = re.compile(r"^([一二三四五六七八九十]+)、\s*(.+)$")
_ITEM = re.compile(r"^(\d+)[.、]\s*(.+)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*$")


# --- Markdown: the service scope and policy documents -------------------------------------


def _blocks(text: str):
    """Yield (kind, line, level_or_number, text) for headings, numbered items and paragraphs."""
    para: list[str] = []
    para_line = 0
    in_front = False
    for i, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if i == 1 and line == "---":
            in_front = True
            continue
        if in_front:
            in_front = line != "---"
            continue
        m_head, m_item = _HEADING.match(line), _ITEM.match(line)
        if (not line or m_head or m_item) and para:
            yield "para", para_line, 0, "".join(para)
            para = []
        if m_head:
            yield "heading", i, len(m_head.group(1)), m_head.group(2).strip()
        elif m_item:
            yield "item", i, int(m_item.group(1)), m_item.group(2).strip()
        elif line:
            if not para:
                para_line = i
            para.append(line)
    if para:
        yield "para", para_line, 0, "".join(para)


def load_scope(text: str, rel: str) -> tuple[list[str], list[Case], list[Passage]]:
    """The service scope: `##` headings "一、…" are categories, their numbered items are
    cases ("3. 包裹丢失或损毁:说明"); other paragraphs are citable too."""
    categories: list[str] = []
    cases: list[Case] = []
    passages: list[Passage] = []
    heading, category, cat_no = "", None, 0
    extra = 0
    for kind, line, num, body in _blocks(text):
        if kind == "heading":
            if num == 1:
                continue
            heading = body
            m = _CATEGORY.match(body)
            if m and num == 2:
                cat_no += 1
                category = m.group(2).strip()
                if category in categories:
                    raise ValidationError(rel, f"分类 '{category}' 出现了两次", line)
                categories.append(category)
            else:
                category = None
                extra += 1
            continue
        if kind == "item" and category is not None:
            parts = re.split(r"[:：]", body, maxsplit=1)
            if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                raise ValidationError(rel, "案例条目的格式必须为 'N. 标题:说明'", line)
            title = parts[0].strip()
            if any(c.title == title for c in cases):
                raise ValidationError(rel, f"案例标题 '{title}' 出现了两次", line)
            pid = f"scope:{cat_no}.{num}"
            if any(p.id == pid for p in passages):
                raise ValidationError(rel, f"'{heading}' 下的条目编号 {num} 重复", line)
            cases.append(Case(title, category, pid))
            passages.append(Passage(pid, rel, f"{heading} > {num}.{title}", body, title, category, line))
            continue
        if category is not None:
            pid = f"scope:{cat_no}"
        elif not heading:
            pid = "scope:intro"
        else:
            pid = "scope:outro" if heading == "结语" else f"scope:x{extra}"
        prev = next((p for p in passages if p.id == pid), None)
        if prev is not None:
            passages[passages.index(prev)] = Passage(pid, rel, prev.section, prev.text + body, prev.case, prev.category, prev.line)
        else:
            passages.append(Passage(pid, rel, heading or "开篇", body, None, category, line))
    if not cases:
        raise ValidationError(rel, "未找到任何案例：分类必须是 '## 一、名称' 形式的标题，其下为 '1. 标题:说明' 形式的编号条目")
    return categories, cases, passages


def load_doc(text: str, rel: str, front: dict) -> list[Passage]:
    """A policy document: each heading's paragraphs form one passage `doc:<stem>.<k>`."""
    stem = Path(rel).stem
    passages: list[Passage] = []
    path: list[str] = []
    for kind, line, num, body in _blocks(text):
        if kind == "heading":
            path = [*path[: num - 1], body]
            continue
        if kind == "item":
            body = f"{num}. {body}"
        section = " > ".join(p for p in path if p) or stem
        if passages and passages[-1].section == section:
            last = passages[-1]
            passages[-1] = Passage(last.id, rel, section, last.text + "\n" + body, last.case, last.category, last.line)
        else:
            passages.append(Passage(f"doc:{stem}.{len(passages) + 1}", rel, section, body, front.get("case"), front.get("category"), line))
    if not passages:
        raise ValidationError(rel, "文档没有正文")
    return passages


def front_matter(text: str, rel: str) -> dict:
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        raise ValidationError(rel, "以 '---' 开头的前置元数据（front matter）缺少结束的 '---'", 1)
    data = parse_yaml(text[3:end], rel) or {}
    if not isinstance(data, dict):
        raise ValidationError(rel, "前置元数据（front matter）必须是 key: value 形式的映射", 1)
    data.pop("__line__", None)
    data.pop("__key_lines__", None)
    return data


# --- Lexicon ---------------------------------------------------------------------------------


def load_words(text: str, whole_lines: bool = False) -> list[str]:
    """One entry per line, '#' comments. jieba user-dict lines carry an optional frequency
    and tag after the word; `whole_lines` keeps the full line (example questions)."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return lines if whole_lines else [line.split()[0] for line in lines]


def load_synonyms(text: str) -> list[tuple[str, ...]]:
    """One group per line, separated by spaces, commas or '、'; the first word is canonical."""
    groups = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        group = tuple(w for w in re.split(r"[\s,，、]+", line.strip()) if w)
        if len(group) >= 2:
            groups.append(group)
    return groups


def load_escalation(text: str, rel: str) -> list[tuple[str, str]]:
    """Trigger words that call for a human: one 'word reason' pair per line."""
    pairs = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise ValidationError(rel, "每行的格式必须为 '触发词 原因'", i)
        pairs.append((parts[0], parts[1].strip()))
    return pairs


UNCOVERED_FILE = "dict/uncovered.txt"


def load_uncovered(text: str, rel: str) -> list[tuple[str, tuple[str, ...], int]]:
    """Topics the KB does not cover: one 'topic word、word' line each, with its line number."""
    topics = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        words = tuple(w for w in re.split(r"[\s,，、]+", parts[1]) if w) if len(parts) == 2 else ()
        if not words:
            raise ValidationError(rel, "每行的格式必须为 '主题 词、词'", i)
        # One character names no topic ("评" is in 评价 and in 差评): it would refuse far too much.
        if short := next((w for w in words if len(w) < 2), None):
            raise ValidationError(rel, f"词 '{short}' 太短：每个词至少两个字，单字会让大量无关问题被拒答", i)
        topics.append((parts[0], words, i))
    return topics


def load_teams(text: str, rel: str) -> list[Team]:
    """Who takes an escalation: one 'category team item、item' line per category, and a
    '通用' line for the general desk."""
    teams: list[Team] = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(maxsplit=2)
        if len(parts) != 3:
            raise ValidationError(rel, f"每行的格式必须为 '类别 团队 准备项、准备项'（类别不明时用 '{GENERAL_DESK}'）", i)
        category, name, ready = parts
        if any(t.category == category for t in teams):
            raise ValidationError(rel, f"类别 '{category}' 出现了两次", i)
        teams.append(Team(category, name, tuple(r.strip() for r in re.split(r"[、,，]", ready) if r.strip()), i))
    return teams


# --- Passages switched off -----------------------------------------------------------------

DISABLED_FILE = "dict/disabled.txt"
_SWITCHABLE = re.compile(r"^(faq|scope|doc):\S+$")


def load_disabled(text: str, rel: str) -> list[tuple[str, int]]:
    """One passage id per line (faq:LOG-007, scope:5.3, doc:…), '#' comments: (id, line)."""
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not _SWITCHABLE.match(line):
            raise ValidationError(rel, f"'{line}' 不是可停用的段落编号（应为 faq:ID、scope:N.M 或 doc:…）", n)
        out.append((line, n))
    return out


def toggled(text: str, passage: str, enabled: bool) -> str:
    """The disabled list with `passage` removed (enabled) or added (disabled); comments kept."""
    lines = [line for line in text.splitlines() if line.split("#", 1)[0].strip() != passage]
    if not enabled:
        lines.append(passage)
    if not any(line.strip() for line in lines):
        lines = ["# 停用的段落：每行一个编号（faq:ID、scope:N.M），不参与检索和引用，文件内容保留。删除一行即重新启用。"]
    return "\n".join(lines) + "\n"
