"""Read the whole KB and check it as one: ids unique, cases known, citations resolvable.

Everything is checked before anything is embedded, so a bad file never reaches the index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ValidationError, raise_all
from core.kb import FAQ, GENERAL_DESK, Case, KnowledgeBase, Passage, Playbook, SourceFile, Team
from core.text import topic_word
from ingest.collect import read_sources
from ingest.parse import (
    DISABLED_FILE,
    SCOPE_FILE,
    UNCOVERED_FILE,
    front_matter,
    load_disabled,
    load_doc,
    load_escalation,
    load_scope,
    load_synonyms,
    load_teams,
    load_uncovered,
    load_words,
)
from ingest.parse_entries import load_faq_rows, load_playbook
from ingest.read import decode

TEAMS_FILE = "dict/teams.txt"


# More than this is one systematic mistake: the first ones say what it is.
MAX_ERRORS = 50


def load_kb(kb_dir: Path, max_file_bytes: int = 2_000_000, changed: str | None = None) -> KnowledgeBase:
    return build_kb(read_sources(Path(kb_dir), max_file_bytes), changed)


def build_kb(sources: tuple[SourceFile, ...], changed: str | None = None) -> KnowledgeBase:
    """Parse and check the files `ingest.collect.read_sources` read. Every file is parsed
    and every cross-file rule checked before raising, so all problems are reported at once
    (ValidationErrors); cross-file rules are checked only once every file parses, since a
    file that does not parse would make the others' references to it look wrong too.
    `changed`: the file an editor is changing, blamed for a clash with an existing file."""
    parts = _Parts()
    errors: list[ValidationError] = []
    for source in sources:
        parts.files[source.rel] = source.sha256
        try:
            parts.add(source)
        except ValidationError as e:
            errors.append(e)
    raise_all(errors[:MAX_ERRORS])

    kb = KnowledgeBase(
        categories=tuple(parts.categories), cases=tuple(parts.cases), passages=tuple(parts.passages),
        faqs=tuple(parts.faqs), playbooks=tuple(parts.playbooks), words=tuple(dict.fromkeys(parts.words)),
        synonyms=tuple(parts.synonyms), escalation=tuple(parts.escalation),
        negatives=tuple(dict.fromkeys(parts.negatives)), files=parts.files, teams=tuple(parts.teams),
        disabled=tuple(dict.fromkeys(p for p, _line in parts.disabled)),
        uncovered=tuple((topic, words) for topic, words, _line in parts.uncovered),
    )
    if not parts.teams_file:
        raise ValidationError(TEAMS_FILE, "缺少转人工团队表：每行写「类别 团队 准备项」，另有一行「通用」作为综合服务台（见 kb/README.md）")
    check(kb, parts.teams_file, changed)
    _check_uncovered(kb, parts.uncovered)
    known = {p.id for p in kb.passages} | {f.passage for f in kb.faqs}
    raise_all([ValidationError(DISABLED_FILE, f"停用的段落 '{p}' 不存在（可能已被删除）：请删除这一行", line)
               for p, line in parts.disabled if p not in known][:MAX_ERRORS])
    return kb


@dataclass
class _Parts:
    """What the files parsed so far hold, before the KB is assembled and checked as one."""

    files: dict[str, str] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    faqs: list[FAQ] = field(default_factory=list)
    playbooks: list[Playbook] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    synonyms: list[tuple[str, ...]] = field(default_factory=list)
    escalation: list[tuple[str, str]] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    teams_file: str = ""
    disabled: list[tuple[str, int]] = field(default_factory=list)
    uncovered: list[tuple[str, tuple[str, ...], int]] = field(default_factory=list)

    def add(self, source: SourceFile) -> None:
        rel, data = source.rel, source.data
        name = rel.rsplit("/", 1)[-1]
        if rel.lower().endswith(".xlsx") or rel.startswith("faqs/"):
            self.faqs.extend(load_faq_rows(data, rel))
            return
        text = decode(data, rel)
        if rel == SCOPE_FILE:
            categories, cases, passages = load_scope(text, rel)
            self.categories.extend(categories)
            self.cases.extend(cases)
            self.passages.extend(passages)
        elif rel.startswith("docs/"):
            self.passages.extend(load_doc(text, rel, front_matter(text, rel)))
        elif rel.startswith("playbooks/"):
            self.playbooks.append(load_playbook(text, rel))
        elif name == "synonyms.txt":
            self.synonyms.extend(load_synonyms(text))
        elif name == "escalation.txt":
            self.escalation.extend(load_escalation(text, rel))
        elif name == TEAMS_FILE.rsplit("/", 1)[1]:
            self.teams.extend(load_teams(text, rel))
            self.teams_file = rel
        elif rel == DISABLED_FILE:
            self.disabled.extend(load_disabled(text, rel))
        elif rel == UNCOVERED_FILE:
            self.uncovered.extend(load_uncovered(text, rel))
        elif name == "out_of_scope.txt":
            self.negatives.extend(load_words(text, whole_lines=True))
        else:
            self.words.extend(load_words(text))


def check(kb: KnowledgeBase, teams_file: str = "", changed: str | None = None) -> None:
    """Cross-file rules. Raises ValidationError naming file and line, with every problem
    found (ValidationErrors) when there are several. A duplicate FAQ id is blamed on
    `changed` (the file being edited or uploaded) when it is one of the two."""
    errors: list[ValidationError] = []

    def collect(fn, *args) -> None:
        try:
            fn(*args)
        except ValidationError as e:
            errors.append(e)

    case_category = {c.title: c.category for c in kb.cases}
    for p in kb.passages:
        if p.case and p.case not in case_category:
            errors.append(ValidationError(p.source, f"前置元数据（front matter）中有未知的案例 '{p.case}'", 1))
        if p.category and p.category not in kb.categories:
            errors.append(ValidationError(p.source, f"前置元数据（front matter）中有未知的分类 '{p.category}'", 1))

    seen: dict[str, FAQ] = {}
    for f in kb.faqs:
        first = seen.get(f.id.lower())
        if first:
            if changed and first.file == changed and f.file != changed:
                errors.append(ValidationError(first.file, f"FAQ 编号 '{first.id}' 与已有的 {f.file} 第 {f.line} 行重复：请换一个编号", first.line))
            else:
                errors.append(ValidationError(f.file, f"FAQ 编号 '{f.id}' 重复（首次定义于 {first.file} 第 {first.line} 行）", f.line))
            continue
        seen[f.id.lower()] = f
        collect(_check_case, f.case, f.category, case_category, kb.categories, f.file, f.case_line or f.line, f"FAQ {f.id}")

    passage_ids = {p.id for p in kb.passages} | {f"faq:{f.id}" for f in kb.faqs}
    owners: dict[str, Playbook] = {}
    for pb in kb.playbooks:
        collect(_check_case, pb.case, pb.category, case_category, kb.categories, pb.file, 1, "处理手册")
        if pb.case in owners:
            errors.append(ValidationError(pb.file, f"案例 '{pb.case}' 已有处理手册：{owners[pb.case].file}", 1))
        owners.setdefault(pb.case, pb)
        for item in pb.items():
            for cite in item.cites:
                if cite not in passage_ids:
                    errors.append(ValidationError(pb.file, f"引用的段落 '{cite}' 不存在（请使用 scope:N.M、scope:N 或 faq:ID）", item.line))

    if teams_file:
        collect(_check_teams, kb, teams_file)
    raise_all(errors[:MAX_ERRORS])


def _check_uncovered(kb: KnowledgeBase, topics: list[tuple[str, tuple[str, ...], int]]) -> None:
    """A topic declared uncovered must not be one an FAQ answers: its questions would be
    refused before the FAQ is ever read."""
    errors = []
    for topic, words, line in topics:
        for f in kb.faqs:
            said = next((w for q in (f.question, *f.variants) if (w := topic_word(q, words))), None)
            if said:
                errors.append(ValidationError(
                    UNCOVERED_FILE, f"「{topic}」的词 '{said}' 出现在 FAQ {f.id} 的问法中（{f.file} 第 {f.line} 行）：知识库已经回答这个主题时，"
                         f"请从这一行删去该词，或改写问法", line))
    raise_all(errors[:MAX_ERRORS])


def _check_teams(kb: KnowledgeBase, rel: str) -> None:
    """Every escalation needs a team: a general desk, and only known categories."""
    for t in kb.teams:
        if t.category != GENERAL_DESK and t.category not in kb.categories:
            raise ValidationError(rel, f"未知的分类 '{t.category}'；请使用以下分类之一：{'、'.join(kb.categories)}，或 '{GENERAL_DESK}'", t.line)
        if not t.have_ready:
            raise ValidationError(rel, f"'{t.category}' 一行缺少准备项", t.line)
    if not any(t.category == GENERAL_DESK for t in kb.teams):
        raise ValidationError(rel, f"缺少 '{GENERAL_DESK}' 一行：知识库答不上、类别不明的问题由这个团队（综合服务台）接手")


def _check_case(case, category, case_category, categories, rel, line, what) -> None:
    if category not in categories:
        raise ValidationError(rel, f"{what}：未知的分类 '{category}'；请使用以下分类之一：{'、'.join(categories)}", line)
    if case is None:
        return
    if case not in case_category:
        raise ValidationError(rel, f"{what}：未知的案例 '{case}'；案例标题必须与 kb/{SCOPE_FILE} 中的完全一致", line)
    if case_category[case] != category:
        raise ValidationError(rel, f"{what}：案例 '{case}' 属于分类 '{case_category[case]}'，而不是 '{category}'", line)
