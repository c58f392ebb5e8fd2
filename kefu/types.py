"""Typed data that crosses module lines: KB documents, chunks, hits and answers."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

# --- The knowledge base as loaded and validated ---------------------------------------


@dataclass(frozen=True)
class Case:
    title: str
    category: str
    passage: str  # e.g. "scope:5.3"


@dataclass(frozen=True)
class Passage:
    """A citable unit of the KB: a service-scope paragraph or an FAQ entry."""

    id: str  # "scope:5.3", "faq:LOG-003"
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


@dataclass(frozen=True)
class PlaybookItem:
    text: str
    cites: tuple[str, ...]
    line: int = 0
    to: str = ""  # escalation target, for escalate items


@dataclass(frozen=True)
class Playbook:
    case: str
    category: str
    summary: str
    team: str
    preconditions: tuple[PlaybookItem, ...]
    verify: tuple[PlaybookItem, ...]
    steps: tuple[PlaybookItem, ...]
    self_service: tuple[PlaybookItem, ...]
    have_ready: tuple[str, ...]
    escalate: tuple[PlaybookItem, ...]
    internal_notes: tuple[str, ...]
    file: str
    always_escalate: str = ""  # a reason when this case always goes to a human

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Playbook":
        items = lambda key: tuple(PlaybookItem(i["text"], tuple(i["cites"]), i.get("line", 0), i.get("to", "")) for i in d[key])  # noqa: E731
        return cls(
            case=d["case"], category=d["category"], summary=d["summary"], team=d["team"],
            preconditions=items("preconditions"), verify=items("verify"), steps=items("steps"),
            self_service=items("self_service"), have_ready=tuple(d["have_ready"]),
            escalate=items("escalate"), internal_notes=tuple(d["internal_notes"]), file=d["file"],
            always_escalate=d.get("always_escalate", ""),
        )


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything ingest read from `kb/`, validated: the taxonomy, passages, FAQs, playbooks."""

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

    @property
    def content_hash(self) -> str:
        h = hashlib.sha256()
        for path in sorted(self.files):
            h.update(f"{path}\0{self.files[path]}\n".encode())
        return h.hexdigest()


# --- Index units ------------------------------------------------------------------------


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha256(path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (model weights are 70 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Chunk:
    """What the index stores and a citation shows. `id` hashes source and text."""

    id: str
    key: str  # stable identity across versions: passage id plus part number
    passage: str  # the passage this chunk belongs to ("scope:5.3", "faq:LOG-003", "playbook:5.3")
    kind: str  # "scope" | "faq" | "playbook"
    source: str
    section: str
    text: str
    case: str | None
    category: str | None
    position: int
    kb_version: str = ""
    questions: tuple[str, ...] = ()  # an FAQ's question and its variants

    @property
    def embed_text(self) -> str:
        """The heading path is embedded with the text: a bare "3.包裹丢失或损毁" item
        means more with its category in front of it."""
        parts = [self.section, *self.questions[1:], self.text] if self.questions else [self.section, self.text]
        return "\n".join(p for p in parts if p)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["questions"] = list(self.questions)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Chunk":
        return cls(**{**d, "questions": tuple(d.get("questions", ()))})

    @staticmethod
    def make_id(source: str, text: str) -> str:
        return text_hash(f"{source}\0{text}")[:16]


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # fused score used for ranking
    dense: float = 0.0
    lexical: float = 0.0
    rank: int = 0


# --- Answers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRef:
    title: str | None
    category: str
    score: float = 0.0


@dataclass(frozen=True)
class Citation:
    n: int
    passage: str
    source: str
    section: str
    case: str | None
    text: str
    score: float
    kb_version: str


@dataclass(frozen=True)
class HandlingStep:
    text: str
    cites: tuple[int, ...]
    kind: str = "step"  # "verify" | "step" | "escalate" | "self_service" | "precondition"


@dataclass(frozen=True)
class Answer:
    query: str
    role: str
    case: CaseRef | None
    confidence: float
    answer: str
    handling_path: tuple[HandlingStep, ...]
    citations: tuple[Citation, ...]
    escalate: bool
    escalate_reason: str
    latency_ms: float
    kb_version: str = ""
    alternatives: tuple[CaseRef, ...] = ()
    verify: tuple[HandlingStep, ...] = ()
    self_service: tuple[HandlingStep, ...] = ()
    have_ready: tuple[str, ...] = ()
    team: str = ""
    internal_notes: tuple[str, ...] = ()
    faq_id: str | None = None
    related: tuple[str, ...] = ()
    notice: str = ""  # a message about the input itself (empty, truncated, ...)
    summary: str = ""  # agents: the playbook's one-line description of the case
    contact: str = ""  # how to reach a human and what to have ready

    def to_json(self) -> dict:
        """The stable JSON shape of `kefu ask --json`."""
        case = None
        if self.case is not None:
            case = {"category": self.case.category, "title": self.case.title}
        return {
            "query": self.query,
            "role": self.role,
            "case": case,
            "confidence": round(self.confidence, 4),
            "alternatives": [{"category": a.category, "title": a.title, "score": round(a.score, 4)} for a in self.alternatives],
            "answer": self.answer,
            "summary": self.summary,
            "contact": self.contact,
            "handling_path": [{"text": s.text, "cites": list(s.cites), "kind": s.kind} for s in self.handling_path],
            "verify": [{"text": s.text, "cites": list(s.cites)} for s in self.verify],
            "self_service": [{"text": s.text, "cites": list(s.cites)} for s in self.self_service],
            "have_ready": list(self.have_ready),
            "team": self.team,
            "internal_notes": list(self.internal_notes),
            "citations": [
                {"n": c.n, "passage": c.passage, "source": c.source, "section": c.section, "case": c.case,
                 "text": c.text, "score": round(c.score, 4), "kb_version": c.kb_version}
                for c in self.citations
            ],
            "escalate": self.escalate,
            "escalate_reason": self.escalate_reason,
            "faq_id": self.faq_id,
            "related": list(self.related),
            "notice": self.notice,
            "kb_version": self.kb_version,
            "latency_ms": round(self.latency_ms, 2),
        }
