"""Compose a grounded answer from a decision, its search result and the case's playbook.

No text is generated: the answer is an approved FAQ answer, or KB sentences; the handling
path is the playbook's; every step carries the numbers of the citations it rests on. Only
the connective phrases of `answer.messages` are fixed wording, and they state no policy.
"""

from __future__ import annotations

from answer import messages as m
from answer.decide import DecisionParams, label_of, offered
from core.classifier import CATEGORY_PREFIX
from core.kb import PlaybookItem
from core.types import Answer, CaseRef, Chunk, Citation, Decision, HandlingStep
from index.versions import IndexVersion
from retrieval.search import SearchResult

RELATED = 3  # other cases listed under an answer


class Composer:
    """The lookups composing needs, built once per index version."""

    def __init__(self, version: IndexVersion, params: DecisionParams):
        kb = version.kb
        self.version_name = version.name
        self.params = params
        self.playbooks = {p.case: p for p in kb.playbooks}
        self.case_category = kb.case_category()
        self.case_passage = {c.title: c.passage for c in kb.cases}
        self.faqs = {f.passage: f for f in kb.faqs}
        self.escalation = kb.escalation
        self.passages: dict[str, list[Chunk]] = {}
        for c in version.chunks:
            self.passages.setdefault(c.passage, []).append(c)

    def best_faq(self, r: SearchResult, label: str) -> str | None:
        """The best-ranked FAQ among the hits that speaks for a case (or a "cat:" label)."""
        return next((h.chunk.passage for h in r.hits[:40] if h.chunk.kind == "faq" and label_of(h.chunk) == label), None)

    def short_answer(self, r: SearchResult, case: str) -> str:
        """What to say of a case in one paragraph: its best FAQ's approved answer, else its scope item."""
        return self._answer_text(self.best_faq(r, case), case)

    def compose(self, d: Decision, r: SearchResult, raw: str, role: str, k: int = 3) -> Answer:
        trigger = next(((w, why) for w, why in self.escalation if w.lower() in r.query), None)
        if d.refused:
            return self._out_of_scope(d, raw, role, trigger)
        case, category = d.case, d.category
        pb = self.playbooks.get(case) if case else None
        alternatives = tuple(CaseRef(c.title, self.case_category[c.title], c.score) for c in offered(d, self.params.offer_ratio))
        label = case or (CATEGORY_PREFIX + category if category else "")
        best_faq = d.faq or self.best_faq(r, label)

        # The passages this answer rests on: the playbook's citations and the best in-case hits.
        items: dict[str, tuple[PlaybookItem, ...]] = {}
        if pb:
            items = ({"verify": pb.verify, "step": pb.steps, "escalate": pb.escalate} if role == "agent"
                     else {"self_service": pb.self_service, "escalate": pb.escalate})
        in_case = [h for h in r.hits[:20] if (case and h.chunk.case == case) or h.chunk.passage == best_faq]
        wanted = [best_faq] if best_faq else []
        wanted += [h.chunk.passage for h in in_case[:max(k, 0)] if h.chunk.kind != "playbook"]
        wanted += [c for group in items.values() for it in group for c in it.cites]
        citations = self._citations(dict.fromkeys(p for p in wanted if p in self.passages), r)
        number = {c.passage: c.n for c in citations}

        def steps(group: tuple[PlaybookItem, ...], kind: str) -> tuple[HandlingStep, ...]:
            return tuple(HandlingStep(f"{it.text}（转{it.to}）" if kind == "escalate" and it.to else it.text,
                                      tuple(sorted({number[c] for c in it.cites if c in number})), kind)
                         for it in group)

        built = {kind: steps(group, kind) for kind, group in items.items()}
        escalate, reason = False, ""
        if trigger:
            escalate, reason = True, trigger[1]
        elif pb and pb.always_escalate:
            escalate, reason = True, pb.always_escalate
        return Answer(
            query=raw, role=role, case=CaseRef(case, category, d.confidence), confidence=d.confidence,
            answer=self._answer_text(best_faq, case), handling_path=tuple(s for group in built.values() for s in group),
            citations=citations, escalate=escalate, escalate_reason=reason, latency_ms=0.0,
            kb_version=self.version_name, alternatives=alternatives, verify=built.get("verify", ()),
            self_service=built.get("self_service") or (steps(pb.self_service, "self_service") if pb else ()),
            have_ready=pb.have_ready if pb else (), team=pb.team if pb else "",
            internal_notes=pb.internal_notes if pb and role == "agent" else (),
            faq_id=best_faq.split(":", 1)[1] if best_faq else None,
            related=tuple(c.title for c in d.cases[:1 + RELATED] if c.title != case)[:RELATED],
            summary=pb.summary if pb and role == "agent" else "",
            contact=m.MSG_HUMAN.format(team=pb.team, ready="、".join(pb.have_ready)) if pb else m.MSG_HUMAN_PLAIN,
            decision=d,
        )

    def _answer_text(self, best_faq: str | None, case: str | None) -> str:
        """The approved FAQ answer as written, else the case's service-scope passage."""
        if best_faq:
            return self.faqs[best_faq].answer
        return "".join(c.text for c in self.passages.get(self.case_passage.get(case, ""), []))

    def _citations(self, passages, r: SearchResult) -> tuple[Citation, ...]:
        ranked = sorted(passages, key=lambda p: -r.passage_scores.get(p, 0.0))
        out = []
        for n, pid in enumerate(ranked, start=1):
            chunks = self.passages[pid]
            c = chunks[0]
            out.append(Citation(n, pid, c.source, c.section, c.case, "".join(x.text for x in chunks),
                                r.passage_scores.get(pid, 0.0), c.kb_version))
        return tuple(out)

    def _out_of_scope(self, d: Decision, raw: str, role: str, trigger) -> Answer:
        likely = d.category if d.oos_probability < 0.9 else None
        text = m.MSG_OOS + (m.MSG_OOS_ROUTE.format(category=likely) if likely else m.MSG_OOS_HUMAN)
        return Answer(
            query=raw, role=role, case=None, confidence=0.0, answer=text, handling_path=(), citations=(),
            escalate=True, escalate_reason=trigger[1] if trigger else m.REASON_OOS, latency_ms=0.0,
            kb_version=self.version_name, contact=m.MSG_HUMAN_PLAIN,
            alternatives=(CaseRef(None, likely, 0.0),) if likely else (), decision=d,
        )
