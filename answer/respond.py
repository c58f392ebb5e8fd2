"""Answer a message from one index version: clean it, resolve it against the conversation,
search, decide, compose, and note the other issues it raises."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from answer import messages as m
from answer.compose import Composer
from answer.decide import DecisionParams, choose, decide, evidence, uncovered
from core.errors import InputError
from core.text import (
    CleanMessage,
    clean_input,
    clean_message,
    drop_lead_in,
    has_content,
    is_presale,
    is_puzzled,
    is_vague,
    looks_elliptic,
    names_purchase,
    opens_new_topic,
    split_issues,
    strip_markup,
    uncovered_topic,
)
from core.types import ROLES, Answer, CaseRef, Decision, OtherIssue
from retrieval.search import Searcher, SearchResult

# An earlier message is context for a follow-up that is unsure alone, or much surer with it.
UNSURE = 0.5
SURER = 0.2
SHORT = 30  # a follow-up this short ("家里人都说没拿到") leans on the conversation when that makes it surer
# In a message that names several issues, the first is the main one when its text alone
# decides a case this surely; another is named when its text leads its runner-up by this
# many logits for a different case and the KB's evidence for it holds (README, "How an
# answer is made"). 1.7 logits read as confidence 0.70 at the temperature of 2.0.
MAIN_ISSUE = 0.5
OTHER_ISSUE_MARGIN = 1.7
MAX_OTHER_ISSUES = 2
CONTEXT_MESSAGES = 2  # how many of the latest earlier messages a follow-up is read with


@dataclass(frozen=True)
class _Reading:
    """One text of a message (the whole, its reading with the conversation, or one issue),
    searched and decided."""

    text: str
    result: SearchResult
    decision: Decision
    evidence: float


class Assistant:
    """Answers questions from one index version (a swap builds a new Assistant)."""

    def __init__(self, searcher: Searcher, params: DecisionParams):
        self.searcher = searcher
        self.version = searcher.version
        self.params = params
        self.composer = Composer(self.version, params)
        self.case_category = self.composer.case_category

    def ask(self, query: str, role: str = "agent", k: int = 3, case: str | None = None,
            history: Sequence[str] = ()) -> Answer:
        """The answer to `query`, the latest customer message; `history` holds the earlier
        ones, oldest first. `case` answers for that case instead of the decided one (an
        alternative the user picked), with the same search and scores."""
        started = time.perf_counter()
        if role not in ROLES:
            raise InputError(f"角色必须是 {'、'.join(ROLES)} 之一，而不是 '{role}'")
        if case is not None and case not in self.case_category:
            raise InputError(f"未知的案例 '{case}'")
        raw = clean_input(query or "")
        if not raw.strip():
            return self._plain(raw, role, m.MSG_EMPTY, started, m.NOTICE_EMPTY)
        if is_puzzled(raw) and self._earlier(history):
            return self._plain(raw, role, m.MSG_PUZZLED, started, m.NOTICE_GREETING)
        if not has_content(strip_markup(raw)):
            return self._plain(raw, role, m.MSG_NO_TEXT, started, m.NOTICE_NO_TEXT)
        message = clean_message(strip_markup(raw))
        if not message.text:
            return self._noise_only(raw, role, message, started, asked_before=bool(self._earlier(history)))
        notice = m.MSG_TRUNCATED.format(n=self.searcher.max_query_chars) if len(raw) > self.searcher.max_query_chars else ""

        # One encode for the message, its reading with the conversation, and its issues.
        text = message.text
        context = self._context(text, history)
        # "那怎么办" with no conversation to lean on: any case would be a guess, and "not
        # covered" would be wrong too. Ask what it is about; without a conversation, unsearched.
        vague = is_vague(text) and not message.signals.wants_human
        if vague and not context:
            return self._plain(raw, role, m.MSG_VAGUE, started, m.NOTICE_VAGUE)
        parts = split_issues(text)
        parts = parts if len(parts) > 1 else []
        said = drop_lead_in(text)
        texts = [said, *([f"{context} {said}"] if context else []), *parts]
        vectors = self.searcher.embed_many([self.searcher.prepare(t) for t in texts])
        # An order card says the message is about an order, so it is not a pre-sale question.
        found = [self._read(t, self.searcher.search(t, v), message.signals.has_order) for t, v in zip(texts, vectors)]

        main, issues = found[0], found[len(texts) - len(parts):]
        leaned = bool(context) and self._follows_on(text, main.decision, found[1].decision)
        if leaned:
            main, issues = found[1], []
        elif issues and self._leads(issues[0]):
            main, issues = issues[0], issues[1:]
        elif issues and main.decision.uncovered:
            # A topic the KB does not cover, named first, does not hide an answerable issue after it.
            lead = next((x for x in issues if self._leads(x)), None)
            if lead is not None:
                main, issues = lead, [x for x in issues if x is not lead]
        if vague and not leaned:
            return self._plain(raw, role, m.MSG_VAGUE, started, m.NOTICE_VAGUE)
        r, d = main.result, main.decision
        decided = d
        if case is not None and case != d.case:
            d = choose(d, case, self.case_category)
        a = self.composer.compose(d, r, raw, role, k)
        if case is not None and decided.case and decided.case != case:
            # Picking another case keeps the way back to the one first decided.
            a = replace(a, alternatives=(CaseRef(decided.case, decided.category or "", decided.confidence),))
        if message.signals.wants_human and not a.escalate:
            a = replace(a, escalate=True, escalate_reason=m.REASON_WANTS_HUMAN)
        also = self._other_issues(d, issues) if not d.refused else ()
        return replace(a, latency_ms=(time.perf_counter() - started) * 1000, notice=notice,
                       terms=self.searcher.terms(r.tokens), also=also)

    # --- the conversation ----------------------------------------------------------------------

    @staticmethod
    def _earlier(history: Sequence[str]) -> list[str]:
        """The customer's earlier messages, cleaned; those of chat-system noise only left out."""
        return [c.text for c in (clean_message(strip_markup(clean_input(h or ""))) for h in history) if c.text]

    def _context(self, text: str, history: Sequence[str]) -> str:
        """The latest earlier messages a follow-up may lean on (cleaned), or "" for a new topic."""
        if not history or opens_new_topic(text):
            return ""
        earlier = self._earlier(history)
        # Details added after the question ("不知道什么原因", "没用多久的") would crowd it out of
        # the window: the latest messages that say something on their own come first.
        stated = [t for t in earlier if not looks_elliptic(t)] or earlier
        return " ".join(stated[-CONTEXT_MESSAGES:])

    @staticmethod
    def _follows_on(text: str, alone: Decision, in_context: Decision) -> bool:
        """Read the message with the conversation when it leans on it ("那运费呢"), when it is
        short or unsure alone and the conversation makes it surer, or when the conversation makes
        it much surer; a clear new question stands alone."""
        # A pre-sale question is about a product, not about the order talked of before: read with
        # the conversation, "这款耳机支持降噪吗" would take the parcel's case. So for any topic
        # the KB does not cover.
        if alone.uncovered:
            return False
        # A follow-up to such a topic is still about it ("这个创口贴显示无货" → "多久能到货呢"),
        # unless it names an order or an after-sales matter of its own ("我的快递怎么还没到").
        if in_context.uncovered:
            return not names_purchase(text)
        if in_context.refused:
            return False
        if alone.refused or looks_elliptic(text):
            return True
        gain = in_context.confidence - alone.confidence
        return ((alone.confidence < UNSURE or len(text) <= SHORT) and gain > 0) or gain >= SURER

    # --- several issues in one message -----------------------------------------------------------

    def _read(self, text: str, r: SearchResult, has_order: bool = False) -> _Reading:
        d = decide(r, self.case_category, self.params)
        if topic := uncovered_topic(text, self.version.kb.uncovered):
            d = uncovered(d, topic)
        elif not has_order and is_presale(text):
            d = uncovered(d, m.PRESALE_TOPIC)
        return _Reading(text, r, d, evidence(r))

    def _leads(self, first: _Reading) -> bool:
        """Customers name their main issue first: it leads when it alone decides a case."""
        d = first.decision
        return d.route == "case" and d.confidence >= MAIN_ISSUE and first.evidence >= self.params.min_evidence

    def _other_issues(self, d: Decision, readings: list[_Reading]) -> tuple[OtherIssue, ...]:
        found: list[OtherIssue] = []
        seen = {d.case or d.faq}
        for x in readings:
            c = x.decision
            if c.uncovered:  # no case to name, but the customer asked: say it is not covered
                if c.uncovered not in seen:
                    seen.add(c.uncovered)
                    found.append(OtherIssue(x.text, CaseRef(None, "", 0.0), m.MSG_UNCOVERED.format(topic=c.uncovered) + m.MSG_UNCOVERED_ALSO))
                continue
            # A case, or a category-level topic (价保, 运费险 …) by its FAQ.
            key = c.case or c.faq
            if c.refused or not key or key in seen or c.confidence < self.params.confidence_of(OTHER_ISSUE_MARGIN) or x.evidence < self.params.min_evidence:
                continue
            seen.add(key)
            text, sample = self.composer.short_answer(x.result, c.case, None if c.case else c.faq)
            found.append(OtherIssue(x.text, CaseRef(c.case, c.category or "", c.confidence), text, sample))
        return tuple(found[:MAX_OTHER_ISSUES])

    # --- messages that hold no question ------------------------------------------------------------

    def _noise_only(self, raw: str, role: str, message: CleanMessage, started: float, asked_before: bool = False) -> Answer:
        """Only chat-system text (a greeting, an order card, "转人工", thanks): ask for the
        question, hand over to a human when that is what the customer asked for, or close politely."""
        s = message.signals
        if s.wants_human:
            a = self._plain(raw, role, m.MSG_WANTS_HUMAN, started, m.NOTICE_WANTS_HUMAN)
            team, ready = self.composer.team(None)
            return replace(a, escalate=True, escalate_reason=m.REASON_WANTS_HUMAN, team=team, have_ready=ready,
                           contact=m.MSG_HUMAN.format(team=team, ready="、".join(ready)) if team else "")
        if s.has_order:
            # After a question, an order card answers "which order?": only a person can look it up.
            text = m.MSG_ORDER_AFTER_QUESTION if asked_before else m.MSG_ORDER_ONLY
            return self._plain(raw, role, text, started, m.NOTICE_ORDER_ONLY)
        if s.number and asked_before:
            return self._plain(raw, role, m.MSG_NUMBER_AFTER_QUESTION, started, m.NOTICE_ORDER_ONLY)
        if s.has_link:
            return self._plain(raw, role, m.MSG_LINK_ONLY, started, m.NOTICE_LINK_ONLY)
        if s.correction:
            return self._plain(raw, role, m.MSG_CORRECTION, started, m.NOTICE_CORRECTION)
        if s.thanks:
            return self._plain(raw, role, m.MSG_THANKS, started, m.NOTICE_THANKS)
        if s.ack and not (s.greeting or s.menu):
            return self._plain(raw, role, m.MSG_ACK, started, m.NOTICE_ACK)
        return self._plain(raw, role, m.MSG_GREETING_AGAIN if asked_before else m.MSG_GREETING, started, m.NOTICE_GREETING)

    def _plain(self, raw: str, role: str, message: str, started: float, notice: str) -> Answer:
        return Answer(query=raw, role=role, case=None, confidence=0.0, answer=message, handling_path=(),
                      citations=(), escalate=False, escalate_reason="", kb_version=self.version.name,
                      latency_ms=(time.perf_counter() - started) * 1000, notice=notice)
