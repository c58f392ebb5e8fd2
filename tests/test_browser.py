"""What a person sees: `streamlit run app.py` on a fresh KEFU_HOME with the real model,
driven by Debian's headless Chromium through Playwright (no downloaded browsers)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.model]

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUESTION = "物流显示签收了但我没收到"
FIRST_START_SECONDS = 240  # the first page view builds the index with the real model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with code {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit did not answer on {url} within {timeout:.0f}s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.is_file():
        pytest.fail("Debian's chromium is missing at /usr/bin/chromium: install it with "
                    "`sudo apt-get install chromium` (scripts/test.sh does this when run as root)")
    return CHROMIUM


@pytest.fixture
def app_url(chromium, real_settings, shipped_kb, tmp_path):
    """The app on a free port with a fresh KEFU_HOME (the converted model linked in, no index)."""
    env = dict(os.environ)
    for var in ("KEFU_EMBEDDING_MODEL", "KEFU_EDITOR_PASSWORD", "KEFU_LOCK_TIMEOUT", "KEFU_OOS_THRESHOLD"):
        env.pop(var, None)
    env.update(KEFU_HOME=str(real_settings.home), KEFU_KB=str(shipped_kb))
    port = _free_port()
    log = tmp_path / "streamlit.log"
    cmd = [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", proc, log, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


def test_agent_customer_and_editor_pages_in_chromium(app_url, chromium, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200}, locale="zh-CN")

            # 客服工作台: the first view builds the index under a visible status, then answers.
            page.goto(app_url)
            question = page.get_by_label("客户问题")
            question.wait_for(timeout=FIRST_START_SECONDS * 1000)
            expect(page.get_by_text(re.compile(r"准备完成：索引版本 v\d{4}"))).to_be_visible(timeout=30_000)
            question.fill(QUESTION)
            page.get_by_role("button", name="查询").click()
            expect(page.get_by_role("heading", name="包裹丢失或损毁")).to_be_visible(timeout=60_000)
            steps = page.locator("ol li")
            expect(steps.first).to_be_visible()
            assert steps.count() >= 3
            first_step = steps.first.inner_text()
            assert first_step.startswith("核实") and re.search(r"\[\d+\]", first_step), first_step
            citations = page.get_by_test_id("stExpander")
            expect(citations.first).to_be_visible(timeout=30_000)  # the right column renders after the steps
            first = citations.first.inner_text()
            assert re.search(r"来源 faqs/logistics\.yaml · 章节 .+ · 知识库版本 v\d{4}-", first), first
            bold = citations.first.locator("strong").all_inner_texts()
            assert "签收" in bold, bold  # the question's words are highlighted
            expect(page.get_by_text("请先确认是否由家人、同事、门卫代收").first).to_be_visible()
            main_text = page.get_by_test_id("stMainBlockContainer").inner_text()
            assert "\\" not in main_text  # Markdown escapes render as the characters themselves
            page.wait_for_timeout(1000)  # let the expander animation settle
            shot = tmp_path / "agent.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot of the agent page: {shot}")

            # 自助服务: the chat answers with what the customer can do and who takes over.
            page.goto(f"{app_url}/customer")
            box = page.get_by_test_id("stChatInputTextArea")
            box.wait_for(timeout=60_000)
            box.fill(QUESTION)
            box.press("Enter")
            answer = page.get_by_test_id("stChatMessage").nth(1)
            expect(answer).to_contain_text("您可以先自己试试", timeout=60_000)
            expect(answer).to_contain_text("物流理赔组")
            expect(answer).to_contain_text("订单号")
            assert "内部备注" not in page.get_by_test_id("stMainBlockContainer").inner_text()
            page.screenshot(path=str(tmp_path / "customer.png"), full_page=True)

            # 知识库管理: locked without a password, says how to enable it, offers nothing else.
            page.goto(f"{app_url}/editor")
            expect(page.get_by_text("KEFU_EDITOR_PASSWORD", exact=True)).to_be_visible(timeout=60_000)
            expect(page.get_by_test_id("stFileUploader")).to_have_count(0)
            expect(page.get_by_test_id("stTextInput")).to_have_count(0)
            expect(page.get_by_test_id("stTextArea")).to_have_count(0)
        finally:
            browser.close()
