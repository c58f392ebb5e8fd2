"""Compose a grounded answer from a decision, its search result and the case's playbook.

No text is generated: the answer is an approved FAQ answer, or KB sentences; the handling
path and the agent's reply are the playbook situation's the question is about; every step
carries the numbers of the citations it rests on. Only the connective phrases of
`answer.messages` are fixed wording, and they state no policy.
"""

from __future__ import annotations

from answer import messages as m
from answer.decide import SURE_OOS, DecisionParams, might_be, offered
from answer.situate import Pick, situate
from core.kb import Playbook, PlaybookItem
from core.text import undoes_the_ask
from core.types import Answer, CaseRef, Chunk, Citation, Decision, HandlingStep, SituationPath
from index.versions import IndexVersion
from retrieval.search import SearchResult

RELATED = 3  # other cases listed under an answer


def self_service_for(pb: Playbook, index: int) -> tuple[PlaybookItem, ...]:
    """The playbook's self-service items that may bear on situation `index`: an item whose FAQs
    all belong to other situations (a damaged box, when the parcel is stuck) is left out."""
    def faqs(items) -> set[str]:
        return {c for it in items for c in it.cites if c.startswith("faq:")}

    def of(s) -> set[str]:
        return faqs((*s.verify, *s.steps, s.reply))

    if not 0 <= index < len(pb.situations):
        return pb.self_service
    own = of(pb.situations[index])
    others = set().union(*(of(s) for i, s in enumerate(pb.situations) if i != index)) - own
    return tuple(it for it in pb.self_service if not ((mine := faqs((it,))) and mine <= others))


class Composer:
    """The lookups composing needs, built once per index version."""

    def __init__(self, version: IndexVersion, params: DecisionParams):
        kb = version.kb
        self.kb = kb
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

    def best_faq(self, r: SearchResult, case: str | None, category: str | None = None) -> str | None:
        """The best-ranked FAQ among the hits that speaks for a case, or with no case for a category;
        one that undoes what the customer asks to do ("我想退货" → how to cancel a return) only
        when the case has no other."""
        found = [h.chunk.passage for h in r.hits[:40] if h.chunk.kind == "faq"
                 and (h.chunk.case == case if case else not h.chunk.case and h.chunk.category == category)]
        fits = (p for p in found if not (p in self.faqs and undoes_the_ask(self.faqs[p].question, r.query)))
        return next(fits, found[0] if found else None)

    def short_answer(self, r: SearchResult, case: str | None, faq: str | None = None) -> tuple[str, bool]:
        """What to say of a case in one paragraph: its best FAQ's approved answer, else its scope
        item; of a category-level topic, its FAQ's answer (`faq`). With whether it is sample content."""
        faq = faq or self.best_faq(r, case)
        return self._answer_text(faq, case), self._sample([faq] if faq else [])

    def compose(self, d: Decision, r: SearchResult, raw: str, role: str, k: int = 3) -> Answer:
        trigger = next(((w, why) for w, why in self.escalation if w.lower() in r.query), None)
        if d.refused:
            return self._out_of_scope(d, raw, role, trigger)
        case, category = d.case, d.category
        pb = self.playbooks.get(case) if case else None
        conf = d.confidence
        alternatives = tuple(CaseRef(c.title, self.case_category[c.title], c.score) for c in offered(d, self.params.offer_ratio))
        best_faq = d.faq or (self.best_faq(r, case, category) if case or category else None)
        agent = role == "agent"

        pick = situate(pb.situations, r.query, r.passage_scores) if pb else Pick(-1, ())
        # A customer reads the best FAQ's answer: the self-help follows the situation citing it.
        answered = next((i for i, s in enumerate(pb.situations) if best_faq in s.reply.cites), pick.index) if pb else -1
        own_help = (pb.self_service if agent else self_service_for(pb, answered)) if pb else ()

        # The passages this answer rests on: the playbook's citations and the best in-case hits.
        # Agents get every situation's (the others are one click away), customers none.
        items: list[PlaybookItem] = []
        if pb:
            items += [i for s in pb.situations for i in (*s.verify, *s.steps, s.reply)] if agent else list(own_help)
            items += pb.escalate
        in_case = [h for h in r.hits[:20] if (case and h.chunk.case == case) or h.chunk.passage == best_faq]
        wanted = [best_faq] if best_faq else []
        wanted += [h.chunk.passage for h in in_case[:max(k, 0)] if h.chunk.kind != "playbook"]
        wanted += [c for it in items for c in it.cites]
        citations = self._citations(dict.fromkeys(p for p in wanted if p in self.passages), r)
        number = {c.passage: c.n for c in citations}

        def cites(it: PlaybookItem) -> tuple[int, ...]:
            return tuple(sorted({number[c] for c in it.cites if c in number}))

        def steps(group: tuple[PlaybookItem, ...], kind: str) -> tuple[HandlingStep, ...]:
            return tuple(HandlingStep(f"{it.text}（转{it.to}）" if kind == "escalate" and it.to else it.text, cites(it), kind)
                         for it in group)

        situations: tuple[SituationPath, ...] = ()
        if pb and agent:
            situations = tuple(SituationPath(s.when, steps(s.verify, "verify"), steps(s.steps, "step"), s.reply.text, cites(s.reply),
                                             pick.matched if i == pick.index else (), self._sample(s.reply.cites))
                               for i, s in enumerate(pb.situations))
        chosen = situations[pick.index] if situations else None
        escalation = steps(pb.escalate, "escalate") if pb else ()
        self_service = steps(own_help, "self_service")
        path = (*chosen.verify, *chosen.steps, *escalation) if chosen else (*self_service, *escalation)
        escalate, reason = False, ""
        if trigger:
            escalate, reason = True, trigger[1]
        elif pb and pb.always_escalate:
            escalate, reason = True, pb.always_escalate
        team, ready = (pb.team, pb.have_ready) if pb else self.team(category)
        return Answer(
            query=raw, role=role, case=CaseRef(case, category, conf), confidence=conf,
            answer=self._answer_text(best_faq, case), handling_path=path,
            citations=citations, escalate=escalate, escalate_reason=reason, latency_ms=0.0,
            kb_version=self.version_name, alternatives=alternatives, verify=chosen.verify if chosen else (),
            self_service=self_service, have_ready=ready, team=team,
            internal_notes=pb.internal_notes if pb and agent else (),
            faq_id=best_faq.split(":", 1)[1] if best_faq else None,
            related=tuple(c.title for c in d.cases[:1 + RELATED] if c.title != case)[:RELATED],
            summary=pb.summary if pb and agent else "",
            contact=m.MSG_HUMAN.format(team=team, ready="、".join(ready)) if team else "",
            decision=d, reply=chosen.reply if chosen else "", reply_cites=chosen.reply_cites if chosen else (),
            situations=situations, situation=pick.index if chosen else -1,
            sample=self._sample([best_faq] if best_faq else []) or bool(chosen and chosen.sample),
        )

    def _sample(self, passages) -> bool:
        return any(p in self.faqs and self.faqs[p].sample for p in passages)

    def team(self, category: str | None) -> tuple[str, tuple[str, ...]]:
        """The category's team (or the general desk) and what to have ready for it."""
        t = self.kb.team_for(category)
        return (t.name, t.have_ready) if t else ("", ())

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
            faq = self.faqs.get(pid)
            out.append(Citation(n, pid, c.source, c.section, c.case, "".join(x.text for x in chunks),
                                r.passage_scores.get(pid, 0.0), c.kb_version, sample=bool(faq and faq.sample)))
        return tuple(out)

    def _out_of_scope(self, d: Decision, raw: str, role: str, trigger) -> Answer:
        likely = d.category if d.oos_probability < SURE_OOS else None
        team, ready = self.team(likely)
        text = (m.MSG_UNCOVERED.format(topic=d.uncovered) if d.uncovered else m.MSG_OOS) + (
            m.MSG_OOS_ROUTE.format(category=likely, team=team) if likely else m.MSG_OOS_HUMAN.format(team=team))
        reason = m.REASON_UNCOVERED.format(topic=d.uncovered) if d.uncovered else m.REASON_OOS
        return Answer(
            query=raw, role=role, case=None, confidence=0.0, answer=text, handling_path=(), citations=(),
            escalate=True, escalate_reason=trigger[1] if trigger else reason, latency_ms=0.0,
            kb_version=self.version_name, team=team, have_ready=ready,
            contact=m.MSG_HUMAN.format(team=team, ready="、".join(ready)) if team else "",
            alternatives=((CaseRef(None, likely, 0.0),) if likely else ()) + tuple(
                CaseRef(c.title, self.case_category[c.title], c.score) for c in might_be(d, self.params.offer_ratio)),
            decision=d,
        )
