"""The shipped knowledge base: the taxonomy is the seed's, and the content is complete."""

import re
from collections import Counter

from index.status import index_status
from index.store import FileVersions
from ingest.pipeline import run_ingest
from ingest.validate import load_kb
from tests.conftest import DATA, REPO

SEED = (DATA / "seed_service_scope.txt").read_text(encoding="utf-8")
SEED_TITLES = re.findall(r"^\d+\.(.+?):", SEED, flags=re.M)


def test_service_scope_keeps_the_seed_text_and_its_23_case_titles():
    kb = load_kb(REPO / "kb")
    assert len(SEED_TITLES) == 23
    assert [c.title for c in kb.cases] == SEED_TITLES
    scope = (REPO / "kb" / "service_scope.md").read_text(encoding="utf-8")
    flat = lambda s: re.sub(r"[\s#]|^\d+\.", "", s, flags=re.M)  # noqa: E731
    for line in SEED.splitlines():
        body = re.sub(r"^\d+\.", "", line.strip())
        assert flat(body) in flat(scope), body[:30]
    assert len(kb.categories) == 6


def test_faqs_and_playbooks_cover_every_category_and_case():
    kb = load_kb(REPO / "kb")
    assert len(kb.faqs) >= 60
    per_category = Counter(f.category for f in kb.faqs)
    assert set(per_category) == set(kb.categories) and min(per_category.values()) >= 5
    assert {p.case for p in kb.playbooks} == {c.title for c in kb.cases}
    for f in kb.faqs:
        assert f.variants and f.answer.strip() and f.source_ref
    # Every playbook cites its own case's service-scope passage.
    passage = {c.title: c.passage for c in kb.cases}
    for pb in kb.playbooks:
        cites = {c for s in pb.situations for item in (*s.verify, *s.steps) for c in item.cites}
        assert passage[pb.case] in cites, pb.file


def test_every_situation_is_short_and_has_a_grounded_reply():
    """A situation fits on one screen, and its reply to the customer cites an FAQ or the
    case's own passage; a reply quoting a figure cites the sample FAQ it comes from."""
    kb = load_kb(REPO / "kb")
    faqs = {f.passage: f for f in kb.faqs}
    figure = re.compile(r"\d+\s*(个工作日|天|小时|元)")
    assert sum(len(pb.situations) for pb in kb.playbooks) >= 60
    for pb in kb.playbooks:
        assert len(pb.situations) >= 2, pb.file
        for s in pb.situations:
            assert len(s.verify) + len(s.steps) <= 6 and s.steps and len(s.keywords) >= 3, (pb.file, s.when)
            assert s.reply.text.startswith("您好") and any(c.startswith(("faq:", "scope:")) for c in s.reply.cites)
            if figure.search(s.reply.text):
                assert any(faqs[c].sample for c in s.reply.cites if c in faqs), (pb.file, s.when)


def test_teams_cover_every_category_and_a_general_desk():
    kb = load_kb(REPO / "kb")
    assert {t.category for t in kb.teams} == {*kb.categories, "通用"}
    assert all(t.have_ready for t in kb.teams)


def test_sample_figures_are_flagged():
    """An answer with a platform figure (days, yuan) must say it is sample content."""
    kb = load_kb(REPO / "kb")
    figure = re.compile(r"\d+\s*(个工作日|天|小时|元)")
    for f in kb.faqs:
        if figure.search(f.answer) and "七日" not in f.answer:
            assert f.sample, f.id


def test_ingest_of_the_shipped_kb_reports_all_cases(settings, shipped_kb):
    s = settings.with_(kb_dir=shipped_kb)
    run_ingest(s)
    status = index_status(FileVersions(s.index_dir))
    assert len(status.cases) == 23 and all(n >= 3 for n in status.cases.values())
    assert status.faqs >= 60 and status.playbooks == 23
