"""Answers on the tiny KB with the deterministic embedder: grounding, roles, bad input."""

import json
import subprocess
import sys

import pytest

from answer.messages import MSG_EMPTY, MSG_NO_TEXT, MSG_OOS
from core.errors import InputError
from ingest.pipeline import run_ingest
from kefu import Kefu
from retrieval.retriever import KefuRetriever


@pytest.fixture
def service(settings, tiny_kb):
    s = settings.with_(kb_dir=tiny_kb)
    run_ingest(s)
    return Kefu(s)


def _grounded(answer):
    """Every step cites existing citation numbers; every citation is a KB passage."""
    numbers = {c.n for c in answer.citations}
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    situation_steps = [st for s in answer.situations for st in (*s.verify, *s.steps)]
    for step in (*answer.handling_path, *answer.verify, *answer.self_service, *situation_steps):
        assert step.cites and set(step.cites) <= numbers, step
    for s in answer.situations:
        assert s.reply and s.reply_cites and set(s.reply_cites) <= numbers


def test_faq_phrasing_returns_the_approved_answer_as_written(service):
    a = service.ask("显示签收没收到货", "agent")
    assert a.faq_id == "T-002" and a.case.title == "包裹丢失或损毁" and a.case.category == "物流与配送问题"
    assert "请先确认是否由家人、门卫或快递柜代收。仍未找到时请联系人工客服启动理赔调查。" in a.answer
    assert any(c.passage == "faq:T-002" for c in a.citations)
    assert all(c.kb_version == a.kb_version for c in a.citations)
    _grounded(a)


def test_agent_sees_verification_steps_escalation_and_internal_notes(service):
    a = service.ask("显示签收没收到货", "agent")
    kinds = [s.kind for s in a.handling_path]
    assert kinds == ["verify", "step", "step", "escalate"]
    assert a.handling_path[-1].text == "用户要求赔偿。（转物流理赔组）"
    assert a.internal_notes == ("调查结束前不要承诺赔偿金额。",)
    assert a.summary == "处理显示签收但未收到或外包装破损的包裹。"


def test_agent_gets_the_situation_asked_about_and_a_reply_in_their_own_voice(service):
    a = service.ask("显示签收没收到货", "agent")
    assert [s.when for s in a.situations] == ["物流显示已签收，但用户没收到", "包裹外包装严重破损"]
    assert a.chosen.when == "物流显示已签收，但用户没收到" and a.chosen.matched == ("签收", "没收到")
    assert a.reply == "已为您核实订单的签收记录。请先确认是否由家人、门卫或快递柜代收；仍未找到的，我们会为您启动理赔调查。"
    by_n = {c.n: c.passage for c in a.citations}
    assert {by_n[n] for n in a.reply_cites} == {"scope:2.1", "faq:T-002"}
    # The other situation is one click away: its steps cite numbered passages too.
    other = a.situations[1]
    assert [s.text for s in other.steps] == ["请用户拍下外包装和商品的照片。", "启动理赔程序，调查责任方。"] and all(s.cites for s in other.steps)
    broken = service.ask("快递到了外包装破了", "agent")
    assert broken.chosen.when == "包裹外包装严重破损" and broken.chosen.matched == ("破了",)
    assert [s.kind for s in broken.handling_path] == ["step", "step", "escalate"] and broken.verify == ()
    j = broken.to_json()
    assert j["reply"] == broken.reply and j["situation"] == "包裹外包装严重破损" and j["situation_matched"] == ["破了"]
    assert [s["when"] for s in j["situations"]] == [s.when for s in broken.situations]
    assert j["situations"][1]["reply"] == {"text": broken.reply, "cites": list(broken.reply_cites)}


def test_sample_content_is_marked_in_the_answer_and_its_citation(settings, tiny_kb):
    p = tiny_kb / "faqs" / "faq.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace("sample: false", "sample: true"), encoding="utf-8")
    s = settings.with_(kb_dir=tiny_kb)
    run_ingest(s)
    a = Kefu(s).ask("显示签收没收到货", "customer")
    assert a.sample and a.to_json()["sample"] is True
    agent = Kefu(s).ask("显示签收没收到货", "agent")  # its reply cites T-002; the broken-package reply cites none
    assert [x.sample for x in agent.situations] == [True, False] and agent.to_json()["situations"][0]["sample"] is True
    assert next(c for c in a.citations if c.passage == "faq:T-002").sample
    assert not next(c for c in a.citations if c.passage == "scope:2.1").sample


def test_every_escalation_names_a_team(service, tiny_kb):
    (tiny_kb / "dict" / "escalation.txt").write_text("投诉 用户要求投诉\n", encoding="utf-8")
    run_ingest(service.settings)
    in_case = service.ask("包裹丢了我要投诉", "customer")
    assert in_case.escalate and in_case.team == "物流理赔组" and in_case.to_json()["team"] == "物流理赔组"
    strict = Kefu(service.settings.with_(oos_threshold=0.0))
    for question in ("今天北京天气怎么样", "我要投诉"):
        a = strict.ask(question, "customer")
        assert a.escalate and a.team in ("物流配送组", "订单服务组", "综合服务台") and a.have_ready, a
        assert a.team in a.answer and "已为您转人工" not in a.answer  # nothing is transferred until the customer asks
        assert a.to_json()["team"] == a.team


def test_customer_sees_self_service_and_how_to_reach_a_human_but_no_internal_notes(service):
    a = service.ask("显示签收没收到货", "customer")
    assert a.internal_notes == () and a.verify == ()
    assert [s.kind for s in a.handling_path] == ["self_service", "escalate"]
    assert a.have_ready == ("订单号",) and a.team == "物流理赔组"
    assert a.contact == "如需人工协助，请联系人工客服（物流理赔组），并准备好：订单号。"
    assert a.summary == "" and a.answer == "请先确认是否由家人、门卫或快递柜代收。仍未找到时请联系人工客服启动理赔调查。"
    assert a.reply == "" and a.situations == () and a.chosen is None and not a.sample
    _grounded(a)


@pytest.mark.parametrize("query, message", [("", MSG_EMPTY), ("   \n\t ", MSG_EMPTY), ("😀🙏", MSG_NO_TEXT), ("？？？", MSG_NO_TEXT),
                                            ("<script></script>", MSG_NO_TEXT)])
def test_input_without_a_question_gets_a_prompt_not_a_case(service, query, message):
    a = service.ask(query)
    assert a.case is None and a.answer == message and a.citations == () and not a.escalate


def test_html_is_stripped_and_a_long_paste_is_cut_with_a_notice(service):
    a = service.ask("<script>alert(1)</script>冻肉化了")
    assert a.case is not None and a.case.title == "冷链商品温控异常"
    long = service.ask("冷冻食品到货时已经化了怎么办？" + "啊" * 10_000)
    assert "已按前 500 个字处理" in long.notice and long.case is not None and long.citations


def test_out_of_scope_says_so_and_routes_to_a_human(settings, tiny_kb):
    s = settings.with_(kb_dir=tiny_kb)
    run_ingest(s)
    strict = Kefu(s.with_(oos_threshold=0.0))
    a = strict.ask("今天北京天气怎么样")
    assert a.case is None and a.answer.startswith(MSG_OOS) and a.escalate and a.escalate_reason
    assert a.handling_path == () and a.citations == ()


def test_escalation_trigger_word_calls_for_a_human(service, tiny_kb):
    (tiny_kb / "dict" / "escalation.txt").write_text("投诉 用户要求投诉\n", encoding="utf-8")
    run_ingest(service.settings)
    a = service.ask("包裹丢了我要投诉")
    assert a.escalate and a.escalate_reason == "用户要求投诉"


def test_service_follows_a_swap_and_keeps_serving_when_the_new_version_is_broken(service, tiny_kb):
    first = service.ask("冻肉化了").kb_version
    p = tiny_kb / "faqs" / "faq.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace("客服会协助取证并决定补偿或重发。", "客服会协助取证。"), encoding="utf-8")
    second = run_ingest(service.settings).version
    a = service.ask("冷冻食品到货时已经化了怎么办？")
    assert a.kb_version == second != first and "客服会协助取证。" in a.answer

    p.write_text(p.read_text(encoding="utf-8").replace("冻肉化了", "冻肉全化了"), encoding="utf-8")
    third = run_ingest(service.settings).version
    (service.settings.index_dir / "versions" / third / "chunks.jsonl").write_text("broken", encoding="utf-8")
    b = service.ask("冷冻食品到货时已经化了怎么办？")
    assert b.kb_version == second and b.case.title == "冷链商品温控异常"
    assert third in service.last_error and "已损坏" in service.last_error


def test_answer_json_shape(service):
    j = json.loads(json.dumps(service.ask("显示签收没收到货").to_json(), ensure_ascii=False))
    assert set(j) >= {"query", "case", "confidence", "answer", "handling_path", "citations", "escalate", "escalate_reason", "latency_ms"}
    assert j["case"] == {"category": "物流与配送问题", "title": "包裹丢失或损毁"} and j["query"] == "显示签收没收到货"
    assert set(j["citations"][0]) >= {"n", "source", "section", "case", "text", "score"}
    assert j["handling_path"] and all(set(step) == {"text", "cites", "kind"} for step in j["handling_path"])


def test_langchain_retriever_returns_documents_with_citation_metadata(service):
    docs = KefuRetriever(kefu=service, k=3).invoke("冻肉化了")
    assert len(docs) == 3
    assert docs[0].metadata["case"] == "冷链商品温控异常" and docs[0].metadata["kb_version"]
    assert docs[0].metadata["score"] >= docs[1].metadata["score"]


def test_cli_ask_json_and_batch_mode(settings, tiny_kb):
    run_ingest(settings.with_(kb_dir=tiny_kb))
    one = subprocess.run([sys.executable, "-m", "kefu.cli", "ask", "冻肉化了", "--json"], capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["case"] == {"category": "物流与配送问题", "title": "冷链商品温控异常"}
    batch = subprocess.run([sys.executable, "-m", "kefu.cli", "ask", "--role", "customer"], capture_output=True, text=True,
                           input="冻肉化了\n\n" + "长" * 10_000 + "\n<b>取消订单</b>\n")
    assert batch.returncode == 0 and "Traceback" not in batch.stderr
    rows = [json.loads(line) for line in batch.stdout.splitlines()]
    assert len(rows) == 4 and rows[1]["case"] is None and rows[1]["answer"] == MSG_EMPTY
    assert all(r["internal_notes"] == [] for r in rows) and rows[0]["latency_ms"] > 0


def test_cli_ask_without_an_index_is_one_line_error(settings):
    res = subprocess.run([sys.executable, "-m", "kefu.cli", "ask", "你好"], capture_output=True, text=True)
    assert res.returncode == 3 and "kefu ingest" in res.stderr and "Traceback" not in res.stderr


def test_picking_another_case_answers_for_it_with_the_same_search(service):
    first = service.ask("冻肉化了")
    other = next(c.title for c in first.decision.cases if c.title != first.case.title)
    picked = service.ask("冻肉化了", case=other)
    assert picked.query == "冻肉化了" and picked.case.title == other
    assert picked.decision.cases == first.decision.cases and picked.confidence < first.confidence
    assert [a.title for a in picked.alternatives] == [first.case.title]  # the way back
    with pytest.raises(InputError):
        service.ask("冻肉化了", case="不存在的案例")
    with pytest.raises(InputError):
        service.ask("冻肉化了", role="boss")


def test_answer_carries_the_decision_and_the_terms_to_highlight(service):
    a = service.ask("显示签收没收到货")
    assert (a.decision.route, a.decision.case, a.faq_id) == ("case", "包裹丢失或损毁", "T-002")
    assert a.decision.oos_probability < a.decision.threshold and a.confidence == a.decision.confidence
    assert "签收" in a.terms and a.terms == tuple(sorted(a.terms, key=lambda t: (-len(t), t)))
