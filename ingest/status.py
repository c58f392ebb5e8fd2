"""Each KB file against the live index (served as is, changed since, new, or gone), with what
an editor recognises it by: a title, its kind, how many entries it holds, when it changed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import PurePosixPath

from core.errors import IndexError_, ValidationError
from core.kb import SourceFile
from core.settings import Settings
from index.store import live_or_none
from ingest.collect import read_sources
from ingest.parse import SCOPE_FILE, front_matter, load_doc, load_scope, load_words
from ingest.parse_entries import load_faq_rows, load_playbook
from ingest.read import decode
from ingest.store import open_versions

KIND = {"scope": "服务范围", "faq": "FAQ", "playbook": "处理手册", "doc": "政策文档", "dict": "词表"}
_ORDER = {k: n for n, k in enumerate(KIND)}  # the list reads from the scope down to the word lists
_DICT_TITLE = {"domain_words.txt": "领域词典", "synonyms.txt": "同义词表", "escalation.txt": "转人工触发词",
               "teams.txt": "转人工团队", "out_of_scope.txt": "库外问题示例",
               "disabled.txt": "停用的段落", "uncovered.txt": "不收录的主题"}


@dataclass(frozen=True)
class DocumentStatus:
    path: str
    status: str  # "live" | "modified" | "new" | "deleted"
    title: str = ""
    kind: str = ""  # a KIND key
    entries: int | None = None  # cases, FAQs, situations, passages or lines; None when it does not parse
    changed: str = ""  # last change on disk, "YYYY-MM-DD HH:MM" UTC; empty for a deleted file
    problem: str = ""  # why it does not parse, when it does not


def kind_of(rel: str) -> str:
    if rel == SCOPE_FILE:
        return "scope"
    top = rel.split("/", 1)[0]
    return {"faqs": "faq", "playbooks": "playbook", "docs": "doc", "dict": "dict"}.get(top, "")


def describe(source: SourceFile) -> tuple[str, int | None, str]:
    """(title, entry count, problem) of one file, parsed on its own."""
    rel, kind = source.rel, kind_of(source.rel)
    name = PurePosixPath(rel).name
    try:
        if kind == "faq":
            faqs = load_faq_rows(source.data, rel)
            categories = list(dict.fromkeys(f.category for f in faqs))
            return ("、".join(categories) + " FAQ" if categories else name), len(faqs), ""
        text = decode(source.data, rel)
        if kind == "scope":
            _categories, cases, _passages = load_scope(text, rel)
            return "服务范围文档", len(cases), ""
        if kind == "playbook":
            playbook = load_playbook(text, rel)
            return f"{playbook.case} 处理手册", len(playbook.situations), ""
        if kind == "doc":
            passages = load_doc(text, rel, front_matter(text, rel))
            heading = next((line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")), "")
            return heading or PurePosixPath(rel).stem, len(passages), ""
        return _DICT_TITLE.get(name, name), len(load_words(text, whole_lines=True)), ""
    except ValidationError as e:
        return name, None, str(e)


def document_status(settings: Settings) -> list[DocumentStatus]:
    # The manifest alone says what is served; loading and checksumming the whole version
    # on every editor-page rerun would be wasted work.
    store = open_versions(settings)
    live = live_or_none(store)
    served: dict[str, str] = {}
    if live:
        try:
            served = store.manifest(live).kb_files
        except IndexError_:
            pass  # an unreadable manifest serves nothing we can compare: every file shows as new
    on_disk = {f.rel: f for f in read_sources(settings.kb_dir, settings.max_file_bytes)}
    out = []
    for rel in sorted(set(on_disk) | set(served)):
        source = on_disk.get(rel)
        if source is None:
            out.append(DocumentStatus(rel, "deleted", PurePosixPath(rel).name, kind_of(rel)))
            continue
        status = "new" if rel not in served else ("live" if served[rel] == source.sha256 else "modified")
        title, entries, problem = describe(source)
        try:
            mtime = (settings.kb_dir / rel).stat().st_mtime
            changed = dt.datetime.fromtimestamp(mtime, dt.UTC).strftime("%Y-%m-%d %H:%M")
        except OSError:
            changed = ""
        out.append(DocumentStatus(rel, status, title, kind_of(rel), entries, changed, problem))
    return sorted(out, key=lambda d: (_ORDER.get(d.kind, len(_ORDER)), d.path))
