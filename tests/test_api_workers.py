"""`kefu api --workers N`: every worker gets connections, a dead worker is replaced, and a
port already in use is a clear error (kefu/cli/workers.py)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kefu.cli import workers

pytestmark = pytest.mark.skipif(not workers.SUPPORTED, reason="SO_REUSEPORT is Linux/BSD only")

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid(port: int) -> int:
    # A new connection each time: the kernel picks a worker per connection.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=20) as r:  # noqa: S310 - loopback
        return json.loads(r.read())["pid"]


def _wait_up(proc: subprocess.Popen, port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            _pid(port)
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("kefu api did not start")


@pytest.fixture
def served(tiny_kb, tmp_path):
    env = {**os.environ, "KEFU_KB": str(tiny_kb), "KEFU_API_RATE": "0"}
    subprocess.run([sys.executable, "-m", "kefu.cli", "ingest"], env=env, cwd=REPO, check=True, capture_output=True)
    port = _free_port()
    log = open(tmp_path / "api.log", "w+b")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "kefu.cli", "api", "--port", str(port), "--workers", "2"], env=env,
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_up(proc, port)
        yield env, port, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        log.close()


def _burst(port: int, n: int) -> Counter:
    """Connect n clients at once (as a load balancer's pool does), then ask each which worker
    holds its connection."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(n)]
    for c in conns:
        c.connect()
    pids = Counter()
    for c in conns:
        c.request("GET", "/healthz")
        pids[json.loads(c.getresponse().read())["pid"]] += 1
        c.close()
    return pids


def test_a_burst_of_connections_is_spread_over_the_workers_and_a_dead_worker_is_replaced(served):
    env, port, proc = served
    # With one shared socket the worker that wakes first takes the whole burst. Spread by
    # the kernel, fewer than 5 of 32 on one of two workers has a chance of 2 in 100,000.
    burst = _burst(port, 32)
    assert len(burst) == 2 and min(burst.values()) >= 5, burst
    pids = set(burst)
    deadline = time.monotonic() + 60
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    # The survivor keeps answering, and a replacement joins on the dead worker's socket.
    seen: set[int] = set()
    while time.monotonic() < deadline + 60 and not (seen - pids):
        with ThreadPoolExecutor(8) as pool:
            seen |= set(pool.map(lambda _: _pid(port), range(8)))
    assert victim not in seen and seen - pids, seen
    assert proc.poll() is None


def test_a_port_in_use_is_an_error(served):
    env, port, _ = served
    r = subprocess.run([sys.executable, "-m", "kefu.cli", "api", "--port", str(port), "--workers", "2"], env=env,
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert f"127.0.0.1:{port}" in r.stderr and "--port" in r.stderr, r.stderr


def test_stopping_stops_the_workers(served):
    _, port, proc = served
    pids = {_pid(port) for _ in range(16)}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    time.sleep(0.5)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
