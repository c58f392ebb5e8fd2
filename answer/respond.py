"""Answer a question from one index version: check the input, search, decide, compose."""

from __future__ import annotations

import time
from dataclasses import replace

from answer import messages as m
from answer.compose import Composer
from answer.decide import DecisionParams, choose, decide
from core.errors import InputError
from core.text import clean_input, has_content, strip_markup
from core.types import ROLES, Answer, CaseRef
from retrieval.search import Searcher


class Assistant:
    """Answers questions from one index version (a swap builds a new Assistant)."""

    def __init__(self, searcher: Searcher, params: DecisionParams):
        self.searcher = searcher
        self.version = searcher.version
        self.params = params
        self.composer = Composer(self.version, params)

    def ask(self, query: str, role: str = "agent", k: int = 3, case: str | None = None) -> Answer:
        """The answer to `query`; `case` answers for that case instead of the decided one
        (an alternative the user picked), with the same search and scores."""
        started = time.perf_counter()
        if role not in ROLES:
            raise InputError(f"角色必须是 {'、'.join(ROLES)} 之一，而不是 '{role}'")
        if case is not None and case not in self.composer.case_category:
            raise InputError(f"未知的案例 '{case}'")
        raw = clean_input(query or "")
        if not raw.strip():
            return self._plain(raw, role, m.MSG_EMPTY, started, m.NOTICE_EMPTY)
        if not has_content(strip_markup(raw)):
            return self._plain(raw, role, m.MSG_NO_TEXT, started, m.NOTICE_NO_TEXT)
        notice = m.MSG_TRUNCATED.format(n=self.searcher.max_query_chars) if len(raw) > self.searcher.max_query_chars else ""
        r = self.searcher.search(raw)
        decided = decide(r, self.composer.faqs, self.composer.case_category, self.params)
        d = choose(decided, case, self.composer.case_category) if case not in (None, decided.case) else decided
        a = self.composer.compose(d, r, raw, role, k)
        if case is not None and decided.case and decided.case != case:
            # Picking another case keeps the way back to the one first decided.
            score = next((c.score for c in decided.cases if c.title == decided.case), 0.0)
            a = replace(a, alternatives=(CaseRef(decided.case, decided.category or "", score),))
        return replace(a, latency_ms=(time.perf_counter() - started) * 1000, notice=notice,
                       terms=self.searcher.terms(r.tokens))

    def _plain(self, raw: str, role: str, message: str, started: float, notice: str) -> Answer:
        return Answer(query=raw, role=role, case=None, confidence=0.0, answer=message, handling_path=(),
                      citations=(), escalate=False, escalate_reason="", kb_version=self.version.name,
                      latency_ms=(time.perf_counter() - started) * 1000, notice=notice)
