"""Read the whole KB and check it as one: ids unique, cases known, citations resolvable.

Everything is checked before anything is embedded, so a bad file never reaches the index.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import ValidationError
from core.kb import FAQ, GENERAL_DESK, KnowledgeBase, Passage, Playbook, SourceFile, Team
from ingest.collect import read_sources
from ingest.parse import (
    SCOPE_FILE,
    front_matter,
    load_doc,
    load_escalation,
    load_scope,
    load_synonyms,
    load_teams,
    load_words,
)
from ingest.parse_entries import load_faq_rows, load_playbook
from ingest.read import decode

TEAMS_FILE = "dict/teams.txt"


def load_kb(kb_dir: Path, max_file_bytes: int = 2_000_000) -> KnowledgeBase:
    return build_kb(read_sources(Path(kb_dir), max_file_bytes))


def build_kb(sources: tuple[SourceFile, ...]) -> KnowledgeBase:
    """Parse and check the files `ingest.collect.read_sources` read."""
    files: dict[str, str] = {}
    categories: list[str] = []
    cases = []
    passages: list[Passage] = []
    faqs: list[FAQ] = []
    playbooks: list[Playbook] = []
    words: list[str] = []
    synonyms: list[tuple[str, ...]] = []
    escalation: list[tuple[str, str]] = []
    negatives: list[str] = []
    teams: list[Team] = []
    teams_file = ""

    for source in sources:
        rel, data = source.rel, source.data
        files[rel] = source.sha256
        name = rel.rsplit("/", 1)[-1]
        if rel.lower().endswith(".xlsx") or rel.startswith("faqs/"):
            faqs.extend(load_faq_rows(data, rel))
            continue
        text = decode(data, rel)
        if rel == SCOPE_FILE:
            categories, cases, scope_passages = load_scope(text, rel)
            passages.extend(scope_passages)
        elif rel.startswith("docs/"):
            passages.extend(load_doc(text, rel, front_matter(text, rel)))
        elif rel.startswith("playbooks/"):
            playbooks.append(load_playbook(text, rel))
        elif name == "synonyms.txt":
            synonyms.extend(load_synonyms(text))
        elif name == "escalation.txt":
            escalation.extend(load_escalation(text, rel))
        elif name == TEAMS_FILE.rsplit("/", 1)[1]:
            teams.extend(load_teams(text, rel))
            teams_file = rel
        elif name == "out_of_scope.txt":
            negatives.extend(load_words(text, whole_lines=True))
        else:
            words.extend(load_words(text))

    kb = KnowledgeBase(
        categories=tuple(categories), cases=tuple(cases), passages=tuple(passages), faqs=tuple(faqs),
        playbooks=tuple(playbooks), words=tuple(dict.fromkeys(words)), synonyms=tuple(synonyms), escalation=tuple(escalation),
        negatives=tuple(dict.fromkeys(negatives)), files=files, teams=tuple(teams),
    )
    if not teams_file:
        raise ValidationError(TEAMS_FILE, "缺少转人工团队表：每行写「类别 团队 准备项」，另有一行「通用」作为综合服务台（见 kb/README.md）")
    check(kb, teams_file)
    return kb


def check(kb: KnowledgeBase, teams_file: str = "") -> None:
    """Cross-file rules. Raises ValidationError at the first problem, naming file and line."""
    case_category = {c.title: c.category for c in kb.cases}
    for p in kb.passages:
        if p.case and p.case not in case_category:
            raise ValidationError(p.source, f"前置元数据（front matter）中有未知的案例 '{p.case}'", 1)
        if p.category and p.category not in kb.categories:
            raise ValidationError(p.source, f"前置元数据（front matter）中有未知的分类 '{p.category}'", 1)

    seen: dict[str, FAQ] = {}
    for f in kb.faqs:
        first = seen.get(f.id.lower())
        if first:
            raise ValidationError(f.file, f"FAQ 编号 '{f.id}' 重复（首次定义于 {first.file} 第 {first.line} 行）", f.line)
        seen[f.id.lower()] = f
        _check_case(f.case, f.category, case_category, kb.categories, f.file, f.case_line or f.line, f"FAQ {f.id}")

    passage_ids = {p.id for p in kb.passages} | {f"faq:{f.id}" for f in kb.faqs}
    owners: dict[str, Playbook] = {}
    for pb in kb.playbooks:
        _check_case(pb.case, pb.category, case_category, kb.categories, pb.file, 1, "处理手册")
        if pb.case in owners:
            raise ValidationError(pb.file, f"案例 '{pb.case}' 已有处理手册：{owners[pb.case].file}", 1)
        owners[pb.case] = pb
        for item in pb.items():
            for cite in item.cites:
                if cite not in passage_ids:
                    raise ValidationError(pb.file, f"引用的段落 '{cite}' 不存在（请使用 scope:N.M、scope:N 或 faq:ID）", item.line)

    if teams_file:
        _check_teams(kb, teams_file)


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
