"""The HTTP API on the tiny KB with the deterministic embedder: the same objects as the CLI,
problem+json for every error, limits, metrics, editor operations behind a token."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from core.settings import load_settings
from kefu import Kefu
from kefu.api.app import create_app

PROBLEM = "application/problem+json"
TOKEN = "editor-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _client(settings, kefu: Kefu) -> TestClient:
    return TestClient(create_app(settings, kefu))


@pytest.fixture
def api_settings(tiny_kb, monkeypatch):
    monkeypatch.setenv("KEFU_KB", str(tiny_kb))
    monkeypatch.setenv("KEFU_API_TOKEN", TOKEN)
    monkeypatch.setenv("KEFU_API_RATE", "0")
    return load_settings()


@pytest.fixture
def kefu(api_settings):
    k = Kefu(api_settings, batching=True)
    k.ingest()
    return k


@pytest.fixture
def client(api_settings, kefu):
    with _client(api_settings, kefu) as c:
        yield c


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["title"] and body["type"] == "about:blank"
    return body


def test_ask_returns_the_object_of_kefu_ask_json(client, kefu):
    r = client.post("/v1/ask", json={"question": "显示签收没收到货", "role": "customer"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    got = r.json()
    want = kefu.ask("显示签收没收到货", "customer").to_json()
    got.pop("latency_ms"), want.pop("latency_ms")
    assert got == want
    assert got["faq_id"] == "T-002" and got["case"]["title"] == "包裹丢失或损毁"


def test_ask_for_another_case_and_unknown_case(client):
    r = client.post("/v1/ask", json={"question": "显示签收没收到货", "case": "冷链商品温控异常"})
    assert r.json()["case"]["title"] == "冷链商品温控异常"
    body = _problem(client.post("/v1/ask", json={"question": "包裹丢了", "case": "不存在的案例"}), 422)
    assert "未知的案例" in body["detail"]


@pytest.mark.parametrize("payload", [
    b"{not json",
    b'{"question": "\xff\xfe"}',
    b"[]",
    b'"just a string"',
    b'{"question": 12}',
    b'{"question": "hi", "role": "boss"}',
    b'{"question": "hi", "k": 99}',
    b'{"question": "hi", "history": "not a list"}',
    b"{}",
])
def test_bad_bodies_are_4xx_problems(client, payload):
    r = client.post("/v1/ask", content=payload, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith(PROBLEM)


def test_bad_role_names_the_field(client):
    body = _problem(client.post("/v1/ask", json={"question": "hi", "role": "boss"}), 422)
    assert "role" in body["detail"] and body["errors"][0]["loc"] == ["body", "role"]


def test_bad_json_says_so_in_chinese(client):
    body = _problem(client.post("/v1/ask", content=b"{oops", headers={"content-type": "application/json"}), 422)
    assert body["detail"] == "请求体不是有效的 JSON"


def test_question_length_and_body_size_limits(client, api_settings, kefu):
    _problem(client.post("/v1/ask", json={"question": "退" * 2_001}), 422)
    with _client(api_settings.with_(api_max_body=4_096), kefu) as small:
        body = _problem(small.post("/v1/ask", json={"question": "退款", "history": ["x" * 1_000] * 5}), 413)
        assert "4096 字节" in body["detail"]

        def chunks():  # a streamed body without Content-Length is counted as it arrives
            for _ in range(4):
                yield b"x" * 2_048

        _problem(small.post("/v1/ask", content=chunks(), headers={"content-type": "application/json"}), 413)


def test_long_question_within_the_limit_is_cut_with_a_notice(client):
    r = client.post("/v1/ask", json={"question": "包裹丢了" * 300})
    assert r.status_code == 200 and "前 500 个字" in r.json()["notice"]


def test_routing_errors_are_problems(client):
    _problem(client.get("/v1/nothing"), 404)
    _problem(client.get("/v1/ask"), 405)


def test_rate_limit_per_client(api_settings, kefu):
    settings = api_settings.with_(api_rate=1.0, api_burst=3)
    with _client(settings, kefu) as c:
        codes = [c.post("/v1/ask", json={"question": "包裹丢了"}, headers={"X-Client-Id": "widget"}).status_code
                 for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = c.post("/v1/ask", json={"question": "包裹丢了"}, headers={"X-Client-Id": "widget"})
        body = _problem(r, 429)
        assert int(r.headers["Retry-After"]) >= 1 and "每秒最多" in body["detail"]
        # another client has its own bucket; probes are never limited
        assert c.post("/v1/ask", json={"question": "包裹丢了"}, headers={"X-Client-Id": "ivr"}).status_code == 200
        assert all(c.get("/healthz").status_code == 200 for _ in range(5))


def test_feedback_is_stored_masked(client, kefu):
    r = client.post("/v1/feedback", json={"question": "我的手机 13812345678 包裹丢了", "role": "customer",
                                          "case": "包裹丢失或损毁", "kb_version": "v1", "rating": "down",
                                          "comment": "卡号 6222 0212 3456 7890 123"})
    assert r.status_code == 201 and r.json()["id"] >= 1
    row = kefu.negative_feedback()[0]
    assert "13812345678" not in row.question and "138****5678" in row.question
    assert "3456 7890" not in row.comment
    _problem(client.post("/v1/feedback", json={"question": "x", "role": "customer", "rating": "meh"}), 422)


def test_handoff_records_the_conversation_masked_and_returns_its_number(client, kefu):
    r = client.post("/v1/handoff", json={"messages": ["你好", "显示签收没收到货", "我电话是13912345678"]})
    assert r.status_code == 201, r.text
    body = r.json()
    stored = kefu.handoffs()[0]
    assert body["ref"] == stored.ref and body["ref"].startswith("KF-") and body["team"] == stored.team
    assert [m.question for m in stored.messages] == ["你好", "显示签收没收到货", "我电话是139****5678"]
    assert stored.kb_version == kefu.live_version() == body["kb_version"]
    assert client.post("/v1/handoff", json={"messages": []}).status_code == 422
    assert client.post("/v1/handoff", json={"messages": ["x" * 3000]}).status_code == 422


def test_index_is_the_object_of_kefu_index_json(client, kefu):
    r = client.get("/v1/index")
    assert r.status_code == 200 and r.json() == kefu.status().to_json()


def test_healthz_is_503_until_a_version_is_live(api_settings):
    k = Kefu(api_settings)
    with _client(api_settings, k) as c:
        body = _problem(c.get("/healthz"), 503)
        assert "kefu ingest" in body["detail"]
        _problem(c.post("/v1/ask", json={"question": "包裹丢了"}), 503)
        k.ingest()
        r = c.get("/healthz")
        assert r.status_code == 200 and r.json()["kb_version"] == k.live_version()


def test_metrics(client):
    client.post("/v1/ask", json={"question": "包裹丢了"})
    client.post("/v1/ask", json={"question": "x", "role": "boss"})
    text = client.get("/metrics").text
    assert 'kefu_http_requests_total{method="POST",route="/v1/ask",status="200"}' in text
    assert 'kefu_http_requests_total{method="POST",route="/v1/ask",status="422"}' in text
    assert "kefu_http_request_seconds_bucket" in text and "kefu_refusals_total" in text
    assert "kefu_encode_batch_size_count" in text
    live = client.get("/healthz").json()["kb_version"]
    assert f'kefu_live_version{{version="{live}"}} 1.0' in text


def test_openapi_documents_problems_and_docs_are_served(client):
    spec = client.get("/openapi.json").json()
    ask = spec["paths"]["/v1/ask"]["post"]
    assert PROBLEM in ask["responses"]["422"]["content"] and "application/json" not in ask["responses"]["422"]["content"]
    assert client.get("/docs").status_code == 200


# --- editor operations --------------------------------------------------------------------------


def test_editor_operations_need_the_token(client, api_settings, kefu):
    _problem(client.get("/v1/kb/status"), 401)
    r = client.post("/v1/kb/rollback", headers={"Authorization": "Bearer wrong"})
    assert _problem(r, 401) and r.headers["WWW-Authenticate"].startswith("Bearer")
    with _client(api_settings.with_(api_token=""), kefu) as c:
        assert "KEFU_API_TOKEN" in _problem(c.get("/v1/kb/status", headers=AUTH), 403)["detail"]


def test_editor_stage_ingest_rollback(client, kefu, tiny_kb):
    first = kefu.live_version()
    status = client.get("/v1/kb/status", headers=AUTH).json()
    assert status["live"] == first and {"path": "faqs/faq.yaml", "status": "live"} in status["documents"]
    assert client.post("/v1/kb/validate", headers=AUTH).json()["documents"] == []

    text = (tiny_kb / "faqs" / "faq.yaml").read_text(encoding="utf-8").replace("订单出库前可以", "订单出库之前都可以")
    file = {"path": "faqs/faq.yaml", "content": text}
    staged = client.post("/v1/kb/stage", json=file, headers=AUTH).json()
    assert staged["replaces"] and staged["documents"][0]["changed"] == ["faq:T-001#0"] or staged["documents"]
    assert kefu.live_version() == first  # staging writes nothing

    report = client.post("/v1/kb/ingest", json={"file": file}, headers=AUTH).json()
    assert report["swapped"] and report["previous"] == first and report["version"] == kefu.live_version() != first
    assert "订单出库之前都可以" in (tiny_kb / "faqs" / "faq.yaml").read_text(encoding="utf-8")
    again = client.post("/v1/kb/ingest", headers=AUTH).json()
    assert not again["swapped"]

    back = client.post("/v1/kb/rollback", headers=AUTH).json()
    assert back["from"] == report["version"] and back["to"] == first and kefu.live_version() == first
    assert not back["kb_restored"] and back["kb_changes"] == [{"path": "faqs/faq.yaml", "status": "modified"}]
    again = client.post("/v1/kb/ingest", headers=AUTH).json()  # the KB folder still holds the change ...
    assert again["swapped"]
    back = client.post("/v1/kb/rollback", json={"restore_kb": True}, headers=AUTH).json()
    assert back["kb_restored"] and "订单出库前可以" in (tiny_kb / "faqs" / "faq.yaml").read_text(encoding="utf-8")


def test_editor_validation_error_names_file_and_line(client, kefu, tiny_kb):
    live = kefu.live_version()
    bad = {"path": "faqs/bad.yaml", "content": "- id: B-1\n  question: 退货\n  case: 不存在\n"}
    body = _problem(client.post("/v1/kb/ingest", json={"file": bad}, headers=AUTH), 422)
    assert body["source"] == "faqs/bad.yaml" and body["detail"].startswith("faqs/bad.yaml")
    assert not (tiny_kb / "faqs" / "bad.yaml").exists() and kefu.live_version() == live
    b64 = {"path": "faqs/x.xlsx", "content": "@@not base64@@", "encoding": "base64"}
    _problem(client.post("/v1/kb/stage", json=b64, headers=AUTH), 422)
    ok = {"path": "docs/note.md", "content": base64.b64encode("# 说明\n\n正文。\n".encode()).decode(), "encoding": "base64"}
    assert client.post("/v1/kb/stage", json=ok, headers=AUTH).status_code in (200, 422)
    _problem(client.post("/v1/kb/stage", json={"path": "../escape.md", "content": "x"}, headers=AUTH), 422)
    long_name = {"path": "docs/" + "长" * 90 + ".md", "content": "x"}  # 270 bytes: more than a file system allows
    assert "过长" in _problem(client.post("/v1/kb/stage", json=long_name, headers=AUTH), 422)["detail"]
    surrogate = b'{"path": "docs/\\ud800.md", "content": "x"}'  # valid JSON, not encodable as a file name
    r = client.post("/v1/kb/stage", content=surrogate, headers={**AUTH, "Content-Type": "application/json"})
    assert "string" in _problem(r, 422)["detail"]
