"""FAQ entries edited one at a time through a form: the entry's block in its YAML file is
rewritten and the rest of the file (other entries, comments, blank lines) stays as it was.
The result is staged and validated like any other change."""

from __future__ import annotations

from pathlib import PurePosixPath

import yaml

from core.errors import ValidationError
from core.kb import FAQ, Case, FAQEntry
from core.settings import Settings
from ingest.collect import read_file
from ingest.parse import SCOPE_FILE, load_scope
from ingest.parse_entries import load_faq_rows
from ingest.read import decode

FORM_SUFFIXES = {".yaml", ".yml"}


def entry_yaml(entry: FAQEntry) -> str:
    row = {"id": entry.id.strip(), "question": entry.question.strip(),
           "variants": [v.strip() for v in entry.variants if v.strip()], "answer": entry.answer.strip(),
           "case": entry.case or None, "category": entry.category, "effective_date": entry.effective_date,
           "source": entry.source.strip(), "sample": entry.sample}
    if not row["variants"]:
        del row["variants"]
    if row["case"] is None:
        del row["case"]
    return yaml.dump([row], Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10_000)


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as the shipped FAQ files are written."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def form_files(settings: Settings, files: list[str]) -> list[str]:
    return [f for f in files if f.startswith("faqs/") and PurePosixPath(f).suffix.lower() in FORM_SUFFIXES]


def entries(settings: Settings, rel: str) -> list[FAQ]:
    return load_faq_rows(read_file(settings.kb_dir, rel, settings.max_file_bytes), rel)


def taxonomy(settings: Settings) -> tuple[list[str], list[Case]]:
    """The categories and cases of the service scope on disk: the form's pickers."""
    text = decode(read_file(settings.kb_dir, SCOPE_FILE, settings.max_file_bytes), SCOPE_FILE)
    categories, cases, _passages = load_scope(text, SCOPE_FILE)
    return categories, cases


def case_titles(data: bytes) -> tuple[str, ...]:
    """The case titles a service-scope text defines (empty when it does not parse)."""
    try:
        return tuple(c.title for c in load_scope(decode(data, SCOPE_FILE), SCOPE_FILE)[1])
    except ValidationError:
        return ()


def write_entry(data: bytes, rel: str, entry: FAQEntry, replace: str | None) -> bytes:
    """The file with `entry` in place of the FAQ `replace` (or appended when None)."""
    text = decode(data, rel)
    lines = text.splitlines(keepends=True)
    block = entry_yaml(entry)
    if replace is None:
        sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        return (text + sep + block).encode("utf-8")
    faqs = load_faq_rows(data, rel)
    starts = sorted(f.line for f in faqs)
    old = next((f for f in faqs if f.id == replace), None)
    if old is None:
        raise ValidationError(rel, f"FAQ '{replace}' 已不在文件中（可能已被别人修改）：请重新打开")
    begin = old.line - 1
    end = next((s - 1 for s in starts if s > old.line), len(lines))
    # Blank lines and comments before the next entry belong to it, not to this one.
    while end > begin + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return "".join([*lines[:begin], block, *lines[end:]]).encode("utf-8")
