"""Two `kefu api` replicas on one Milvus and one PostgreSQL, with no shared files: the
design of README "Scaling out", on real servers (scripts/services.sh; CI: .ci/run).

1. one Milvus server and one PostgreSQL server;
2. two replicas with their own KEFU_HOME and KB folder;
3. an ingest through the CLI (a third KEFU_HOME);
4. both answer from the same kb_version;
5. a change ingested through one replica is served by both within 10 s, without a
   restart; a rollback returns both to the previous version;
6. feedback sent to each lands in the one database, masked;
7. with one replica killed, the other keeps answering.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

pytestmark = [pytest.mark.milvus, pytest.mark.postgres]

REPO = Path(__file__).resolve().parent.parent
TOKEN = "replica-test-token"
FOLLOW_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url: str, body: dict | None = None, token: str | None = None, timeout: float = 30) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(url, data=data, method="GET" if body is None and "/v1/kb/" not in url else "POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback test servers
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class Replica:
    def __init__(self, name: str, env: dict[str, str], tmp: Path, kb: Path):
        self.name = name
        self.home = tmp / f"home-{name}"
        self.kb = tmp / f"kb-{name}"
        shutil.copytree(kb, self.kb)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.env = {**env, "KEFU_HOME": str(self.home), "KEFU_KB": str(self.kb)}
        self.proc = subprocess.Popen([sys.executable, "-m", "kefu.cli", "api", "--port", str(self.port)], env=self.env,
                                     cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_up(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"replica {self.name} exited: {self.output()}"
            try:
                status, _ = _call(self.url + "/healthz", timeout=2)
                if status in (200, 503):
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"replica {self.name} did not start: {self.output()}")

    def ask(self, question: str) -> dict:
        status, body = _call(self.url + "/v1/ask", {"question": question, "role": "customer"})
        assert status == 200, body
        return body

    def version(self) -> str | None:
        status, body = _call(self.url + "/healthz", timeout=5)
        return body.get("kb_version") if status == 200 else None

    def output(self) -> str:
        self.log.flush()
        return (Path(self.log.name).read_bytes()[-3000:]).decode("utf-8", "replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def _follow(replicas, want: str) -> float:
    """Seconds until every replica serves `want` (fails after FOLLOW_SECONDS)."""
    started = time.monotonic()
    while time.monotonic() - started < FOLLOW_SECONDS:
        if all(r.version() == want for r in replicas):
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"not all replicas serve {want} after {FOLLOW_SECONDS} s: {[r.version() for r in replicas]}")


@pytest.fixture
def cluster(milvus, postgres, tiny_kb, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update({k: v for k, v in os.environ.items() if k in (
        "KEFU_VECTOR_STORE", "KEFU_MILVUS_URI", "KEFU_MILVUS_PREFIX", "KEFU_DATABASE_URL", "KEFU_EMBEDDING_MODEL",
        "KEFU_OOS_THRESHOLD", "KEFU_LOCK_TIMEOUT")})
    env.update({"KEFU_API_TOKEN": TOKEN, "KEFU_API_RATE": "0", "KEFU_LIVE_POLL_SECONDS": "1", "KEFU_QUESTION_LOG": "1",
                "HF_HUB_OFFLINE": "1"})
    replicas = [Replica(n, env, tmp_path, tiny_kb) for n in ("a", "b")]
    try:
        for r in replicas:
            r.wait_up()
        yield env, replicas
    finally:
        for r in replicas:
            r.stop()


def test_two_replicas_share_milvus_and_postgres(cluster, tiny_kb, tmp_path, postgres):
    env, (a, b) = cluster
    timings = {}

    # 3. ingest through the CLI, from a machine of its own (a third KEFU_HOME)
    cli_env = {**env, "KEFU_HOME": str(tmp_path / "home-cli"), "KEFU_KB": str(tiny_kb)}
    out = subprocess.run([sys.executable, "-m", "kefu.cli", "ingest", "--json"], env=cli_env, cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)["version"]

    # 4. both answer from it
    timings["first version"] = _follow((a, b), first)
    assert a.ask("显示签收没收到货")["kb_version"] == b.ask("显示签收没收到货")["kb_version"] == first

    # 5. a change ingested through replica a reaches both; no restart
    faq = (a.kb / "faqs" / "faq.yaml").read_text(encoding="utf-8")
    changed = faq.replace("请先确认是否由家人、门卫或快递柜代收。", "请先确认是否由家人、门卫、快递柜或驿站代收。")
    status, report = _call(a.url + "/v1/kb/ingest", {"file": {"path": "faqs/faq.yaml", "content": changed}}, token=TOKEN, timeout=300)
    assert status == 200 and report["swapped"], report
    second = report["version"]
    timings["change"] = _follow((a, b), second)
    assert "驿站" in b.ask("显示签收没收到货")["answer"]

    # ... and a rollback returns both to the previous version
    status, back = _call(b.url + "/v1/kb/rollback", {}, token=TOKEN)
    assert status == 200 and (back["from"], back["to"]) == (second, first), back
    timings["rollback"] = _follow((a, b), first)
    assert "驿站" not in a.ask("显示签收没收到货")["answer"]

    # 6. feedback to each replica lands in the one database, masked
    for r, phone in ((a, "13812345678"), (b, "13987654321")):
        status, _ = _call(r.url + "/v1/feedback", {"question": f"我的手机 {phone} 包裹丢了", "role": "customer",
                                                   "case": "包裹丢失或损毁", "kb_version": first, "rating": "down",
                                                   "comment": f"回电 {phone}"})
        assert status == 201
    engine = sa.create_engine(postgres)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT question, comment FROM feedback ORDER BY id")).all()
        logged = conn.execute(sa.text("SELECT count(DISTINCT replica) FROM question_log")).scalar_one()
    engine.dispose()
    assert len(rows) == 2
    assert all("13812345678" not in q + c and "13987654321" not in q + c for q, c in rows)
    assert "138****5678" in rows[0][0] and "139****4321" in rows[1][0]
    assert logged == 2  # both replicas' question logs went to the one database

    # 7. kill one replica: the other keeps answering
    a.proc.kill()
    a.proc.wait(10)
    for _ in range(5):
        assert b.ask("冻肉化了")["kb_version"] == first
    print(f"\nreplicas followed: {', '.join(f'{k} {v:.1f} s' for k, v in timings.items())}")
