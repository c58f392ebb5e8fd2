"""Typed data that crosses module lines: chunks, hits, decisions and answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from core.hashing import sha256_text

ROLES = ("agent", "customer")


@dataclass
class Hooks:
    """How a caller (CLI, page, API) hears about a long run: messages, and embedding counts."""

    message: Callable[[str], None] = lambda _msg: None
    progress: Callable[[int, int], None] = lambda _done, _total: None


# --- Index units ------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """What the index stores and a citation shows. `id` hashes source and text."""

    id: str
    key: str  # stable identity across versions: passage id plus part number
    passage: str  # the passage this chunk belongs to ("scope:5.3", "faq:LOG-003", "playbook:5.3")
    kind: str  # "scope" | "doc" | "faq" | "playbook"
    source: str
    section: str
    text: str
    case: str | None
    category: str | None
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
    def from_dict(cls, d: dict) -> Chunk:
        return cls(**{**d, "questions": tuple(d.get("questions", ()))})

    @staticmethod
    def make_id(source: str, text: str) -> str:
        return sha256_text(f"{source}\0{text}")[:16]


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # fused score used for ranking
    dense: float = 0.0  # cosine
    lexical: float = 0.0  # raw BM25
    rank: int = 0


@dataclass(frozen=True)
class CaseScore:
    title: str
    score: float


@dataclass(frozen=True)
class Match:
    """The closest stored phrasing to a query: an FAQ question or variant (passage
    "faq:ID"), or an out-of-scope example (passage "oos")."""

    passage: str
    cosine: float
    text: str


# --- Decisions and answers ------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Why an answer is what it is: in scope or not, by which route, and the scores behind it."""

    route: str  # "case" | "category" (a topic with no case) | "refused"
    case: str | None
    category: str | None  # for a refusal: the likely category, if any
    faq: str | None  # the category-level FAQ answered with, if any
    oos_probability: float  # how probable "the KB does not cover this" is
    threshold: float  # at or above it the question is refused
    faq_match: Match | None  # the closest FAQ phrasing
    oos_match: Match | None  # the closest out-of-scope example
    cases: tuple[CaseScore, ...]  # every case with its tempered probability, best first
    confidence: float = 0.0  # the decided label's tempered probability among in-scope labels
    # Refused as a topic the KB does not cover (a pre-sale question, or one of dict/uncovered.txt),
    # whatever the scores: the topic as the answer names it, else "".
    uncovered: str = ""

    @property
    def refused(self) -> bool:
        return self.route == "refused"


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
    sample: bool = False  # an FAQ whose figures are illustrative (`sample: true`)


@dataclass(frozen=True)
class HandlingStep:
    text: str
    cites: tuple[int, ...]
    kind: str = "step"  # "verify" | "step" | "escalate" | "self_service"


@dataclass(frozen=True)
class SituationPath:
    """A playbook situation as an agent follows it: checks, steps and the reply to send,
    each with the numbers of the citations it rests on."""

    when: str
    verify: tuple[HandlingStep, ...]
    steps: tuple[HandlingStep, ...]
    reply: str
    reply_cites: tuple[int, ...]
    matched: tuple[str, ...] = ()  # the question's words that point at it (empty: chosen otherwise)
    sample: bool = False  # its reply cites an FAQ marked `sample: true`

    def to_json(self) -> dict:
        return {"when": self.when, "sample": self.sample,
                "verify": [{"text": s.text, "cites": list(s.cites)} for s in self.verify],
                "steps": [{"text": s.text, "cites": list(s.cites)} for s in self.steps],
                "reply": {"text": self.reply, "cites": list(self.reply_cites)}}


@dataclass(frozen=True)
class OtherIssue:
    """Another issue found in the same message, with its case and a short grounded answer."""

    text: str  # the part of the message it was found in
    case: CaseRef
    answer: str
    sample: bool = False  # the answer rests on an FAQ marked `sample: true`


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
    terms: tuple[str, ...] = ()  # the query's search terms with their synonyms, longest first (for highlighting)
    decision: Decision | None = None  # None when the input held no question
    reply: str = ""  # agents: the chosen situation's reply, in the agent's voice
    reply_cites: tuple[int, ...] = ()
    situations: tuple[SituationPath, ...] = ()  # agents: every situation of the case's playbook
    situation: int = -1  # which of `situations` the question is about (-1: none)
    sample: bool = False  # the answer or the reply rests on an FAQ marked `sample: true`

    also: tuple[OtherIssue, ...] = ()  # the message's other issues, each with its case

    @property
    def chosen(self) -> SituationPath | None:
        return self.situations[self.situation] if 0 <= self.situation < len(self.situations) else None

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
            "reply": self.reply,
            "reply_cites": list(self.reply_cites),
            "situation": self.chosen.when if self.chosen else None,
            "situation_matched": list(self.chosen.matched) if self.chosen else [],
            "situations": [s.to_json() for s in self.situations],
            "citations": [
                {"n": c.n, "passage": c.passage, "source": c.source, "section": c.section, "case": c.case,
                 "text": c.text, "score": round(c.score, 4), "kb_version": c.kb_version, "sample": c.sample}
                for c in self.citations
            ],
            "sample": self.sample,
            "escalate": self.escalate,
            "escalate_reason": self.escalate_reason,
            "faq_id": self.faq_id,
            "related": list(self.related),
            "also": [{"text": o.text, "case": {"category": o.case.category, "title": o.case.title}, "answer": o.answer,
                      "sample": o.sample} for o in self.also],
            "notice": self.notice,
            "kb_version": self.kb_version,
            "latency_ms": round(self.latency_ms, 2),
        }


# --- Conversations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    question: str  # as the customer typed it
    answer: Answer


@dataclass(frozen=True)
class Conversation:
    """A customer's chat: messages in order with the answer each got, and the reference
    number once it was handed to a human."""

    turns: tuple[Turn, ...] = ()
    handoff: str = ""  # the reference number, once handed over
    handoff_team: str = ""

    @property
    def questions(self) -> tuple[str, ...]:
        return tuple(t.question for t in self.turns)

    def add(self, question: str, answer: Answer) -> Conversation:
        return replace(self, turns=(*self.turns, Turn(question, answer)))

    def answer_again(self, i: int, answer: Answer) -> Conversation:
        """Turn `i` answered anew (the customer picked another case); its question is kept."""
        turns = list(self.turns)
        turns[i] = Turn(turns[i].question, answer)
        return replace(self, turns=tuple(turns))
