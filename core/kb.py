"""The knowledge base as loaded and validated: taxonomy, passages, FAQs, playbooks, lexicon.

The same typed object is frozen into every index version (`kb.json`), so what a query
reads back is what ingest validated.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from core.hashing import sha256_bytes, sha256_text


def content_hash(files: dict[str, str]) -> str:
    """One digest of a KB's files (relative path -> sha256): equal exactly when every file is."""
    return sha256_text("".join(f"{path}\0{files[path]}\n" for path in sorted(files)))


@dataclass(frozen=True)
class SourceFile:
    """One KB file as ingest read it: the exact bytes that were validated, kept with every
    index version so that a rollback can put the KB back as it was."""

    rel: str  # path relative to the KB folder, "/"-separated
    data: bytes

    @property
    def sha256(self) -> str:
        return sha256_bytes(self.data)

GENERAL_DESK = "通用"  # the teams.txt line for questions of no known category


@dataclass(frozen=True)
class Case:
    title: str
    category: str
    passage: str  # e.g. "scope:5.3"


@dataclass(frozen=True)
class Passage:
    """A citable unit of the KB: a service-scope paragraph or a policy-document section."""

    id: str  # "scope:5.3", "doc:returns.2"
    source: str  # path relative to the KB folder
    section: str  # heading path, e.g. "五、物流与配送问题 > 3.包裹丢失或损毁"
    text: str
    case: str | None
    category: str | None
    line: int


@dataclass(frozen=True)
class FAQ:
    id: str
    question: str
    variants: tuple[str, ...]
    answer: str
    case: str | None
    category: str
    effective_date: str
    source_ref: str  # the entry's `source` field: what the policy rests on
    sample: bool
    file: str  # path relative to the KB folder
    line: int
    case_line: int = 0  # line of the `case:` field, for errors about it (YAML only)

    @property
    def passage(self) -> str:
        return f"faq:{self.id}"


@dataclass(frozen=True)
class FAQEntry:
    """What the form holds: the FAQ fields an editor fills in."""

    id: str
    question: str
    variants: tuple[str, ...]
    answer: str
    case: str | None
    category: str
    effective_date: dt.date
    source: str
    sample: bool

    @classmethod
    def from_faq(cls, f: FAQ) -> FAQEntry:
        return cls(f.id, f.question, f.variants, f.answer, f.case, f.category, dt.date.fromisoformat(f.effective_date),
                   f.source_ref, f.sample)


@dataclass(frozen=True)
class PlaybookItem:
    text: str
    cites: tuple[str, ...]
    line: int = 0
    to: str = ""  # escalation target, for escalate items


@dataclass(frozen=True)
class Situation:
    """One branch of a playbook: when it applies, what to check and do, and the reply an
    agent sends in their own voice (KB text with its citations, never generated)."""

    when: str  # the condition, shown as the situation's name
    keywords: tuple[str, ...]  # words in a question that point at this situation
    verify: tuple[PlaybookItem, ...]
    steps: tuple[PlaybookItem, ...]
    reply: PlaybookItem
    line: int = 0


@dataclass(frozen=True)
class Playbook:
    case: str
    category: str
    summary: str
    team: str
    preconditions: tuple[PlaybookItem, ...]
    situations: tuple[Situation, ...]  # the first is the default
    self_service: tuple[PlaybookItem, ...]
    have_ready: tuple[str, ...]
    escalate: tuple[PlaybookItem, ...]
    internal_notes: tuple[str, ...]
    file: str
    always_escalate: str = ""  # a reason when this case always goes to a human

    def items(self) -> tuple[PlaybookItem, ...]:
        """Every item that must cite a passage."""
        inner = tuple(i for s in self.situations for i in (*s.verify, *s.steps, s.reply))
        return (*self.preconditions, *inner, *self.self_service, *self.escalate)


@dataclass(frozen=True)
class Team:
    """Who takes over an escalation for a category ("通用": the general desk), and what the
    customer should have ready."""

    category: str
    name: str
    have_ready: tuple[str, ...]
    line: int = 0


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything ingest read from `kb/`, validated."""

    categories: tuple[str, ...]
    cases: tuple[Case, ...]
    passages: tuple[Passage, ...]
    faqs: tuple[FAQ, ...]
    playbooks: tuple[Playbook, ...]
    words: tuple[str, ...]
    synonyms: tuple[tuple[str, ...], ...]
    escalation: tuple[tuple[str, str], ...]  # (trigger word, reason)
    negatives: tuple[str, ...]  # example questions the KB does not cover
    files: dict[str, str]  # relative path -> sha256 of its bytes
    teams: tuple[Team, ...] = ()
    disabled: tuple[str, ...] = ()  # passages switched off by an editor (dict/disabled.txt): kept, not searched
    # Topics the KB declares it does not cover, each with the words that name it (dict/uncovered.txt).
    uncovered: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def team_for(self, category: str | None) -> Team | None:
        """The category's team, else the general desk."""
        by = {t.category: t for t in self.teams}
        return by.get(category or "") or by.get(GENERAL_DESK)

    @property
    def content_hash(self) -> str:
        return content_hash(self.files)

    def case_category(self) -> dict[str, str]:
        return {c.title: c.category for c in self.cases}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> KnowledgeBase:
        def items(raw) -> tuple[PlaybookItem, ...]:
            return tuple(item(i) for i in raw)

        def item(i: dict) -> PlaybookItem:
            return PlaybookItem(i["text"], tuple(i["cites"]), i.get("line", 0), i.get("to", ""))

        def situation(s: dict) -> Situation:
            return Situation(s["when"], tuple(s["keywords"]), items(s["verify"]), items(s["steps"]), item(s["reply"]), s.get("line", 0))

        def playbook(p: dict) -> Playbook:
            return Playbook(
                case=p["case"], category=p["category"], summary=p["summary"], team=p["team"],
                preconditions=items(p["preconditions"]), situations=tuple(situation(s) for s in p["situations"]),
                self_service=items(p["self_service"]), have_ready=tuple(p["have_ready"]),
                escalate=items(p["escalate"]), internal_notes=tuple(p["internal_notes"]), file=p["file"],
                always_escalate=p.get("always_escalate", ""),
            )

        return cls(
            categories=tuple(d["categories"]),
            cases=tuple(Case(**c) for c in d["cases"]),
            passages=tuple(Passage(**p) for p in d["passages"]),
            faqs=tuple(FAQ(**{**f, "variants": tuple(f["variants"])}) for f in d["faqs"]),
            playbooks=tuple(playbook(p) for p in d["playbooks"]),
            words=tuple(d["words"]),
            synonyms=tuple(tuple(g) for g in d["synonyms"]),
            escalation=tuple((w, why) for w, why in d["escalation"]),
            negatives=tuple(d["negatives"]),
            files=dict(d["files"]),
            teams=tuple(Team(t["category"], t["name"], tuple(t["have_ready"]), t.get("line", 0)) for t in d.get("teams", ())),
            disabled=tuple(d.get("disabled", ())),
            uncovered=tuple((topic, tuple(words)) for topic, words in d.get("uncovered", ())),
        )
