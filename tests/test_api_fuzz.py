"""Fuzz the HTTP API from its own OpenAPI schema: no input may produce a 5xx.

Schemathesis generates bodies, headers and paths from the schema (boundaries, wrong types,
missing fields, odd strings) and calls the app in-process; editor routes are called with
the token so that their bodies reach the code too.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from core.settings import load_settings
from kefu import Kefu
from kefu.api.app import create_app

TOKEN = "fuzz-token"


@pytest.fixture
def fuzz_app(tiny_kb, monkeypatch):
    monkeypatch.setenv("KEFU_KB", str(tiny_kb))
    monkeypatch.setenv("KEFU_API_TOKEN", TOKEN)
    monkeypatch.setenv("KEFU_API_RATE", "0")
    s = load_settings()
    kefu = Kefu(s, batching=True)
    kefu.ingest()
    return create_app(s, kefu)


def test_no_server_errors(fuzz_app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=[not_a_server_error])

        fuzz()
