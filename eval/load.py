"""Load benchmark of the HTTP API: `python -m eval.load [--url URL] [--clients 1,8,32]`.

Closed-loop clients (each sends its next question when the last answer arrives) ask the
dev-set questions over keep-alive HTTP/1.1 connections for a fixed time per level, and
the run prints answers per second, latency p50/p95/p99, errors, the mean encode batch
(from /metrics) and the server's CPU time per answer. The client is a few lines of
asyncio (no HTTP library) so that it takes little of the CPU it measures; it runs on the
same machine as the server, which is stated in the output with the load average.

Without --url it starts `kefu api` itself on a free port, over a throwaway KEFU_HOME
holding the shipped KB (the converted model is reused from KEFU_HOME when present), with
the rate limit off, and stops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from core.settings import REPO_ROOT, load_settings
from eval.devset import load_devset


@dataclass(frozen=True)
class Level:
    clients: int
    answers: int
    errors: int
    seconds: float
    p50: float
    p95: float
    p99: float
    mean_batch: float
    cpu_ms: float  # server CPU time per answer (all its processes), when known
    load: float  # 1-minute load average at the end

    @property
    def rate(self) -> float:
        return self.answers / self.seconds


async def _client(host: str, port: int, path: str, bodies: list[bytes], start: int, stop_at: float,
                  record_from: float, latencies: list[float], errors: list[str], name: str) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = start
    try:
        while time.perf_counter() < stop_at:
            body = bodies[i % len(bodies)]
            i += 1
            head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                    f"X-Client-Id: {name}\r\nContent-Length: {len(body)}\r\n\r\n").encode("ascii")
            t = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            headers = await reader.readuntil(b"\r\n\r\n")
            status = int(headers.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", headers).group(1))
            payload = await reader.readexactly(length)
            done = time.perf_counter()
            if t >= record_from:
                if status == 200:
                    latencies.append((done - t) * 1000)
                else:
                    errors.append(f"{status} {payload[:200].decode('utf-8', 'replace')}")
    except (OSError, asyncio.IncompleteReadError, ValueError, AttributeError) as e:
        errors.append(f"{type(e).__name__}: {e}")
    finally:
        writer.close()


def _get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - our own server
        return r.read().decode("utf-8")


def _batch_totals(base: str) -> tuple[float, float]:
    """(questions encoded, encodes) so far, summed over workers, from /metrics."""
    text = _get(base + "/metrics")
    total = sum(float(m) for m in re.findall(r"^kefu_encode_batch_size_sum (\S+)$", text, re.M))
    count = sum(float(m) for m in re.findall(r"^kefu_encode_batch_size_count (\S+)$", text, re.M))
    return total, count


def _cpu_seconds(pids: list[int]) -> float | None:
    """CPU time (user + system) of these processes and their children, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
    return total


def _server_pids(root: int | None) -> list[int]:
    if root is None:
        return []
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        todo += [int(c) for c in children]
    return pids


async def _level(base: str, bodies: list[bytes], clients: int, seconds: float, warmup: float, pids: list[int]) -> Level:
    u = urlsplit(base)
    latencies: list[float] = []
    errors: list[str] = []
    before_batch = _batch_totals(base)
    now = time.perf_counter()
    record_from, stop_at = now + warmup, now + warmup + seconds
    cpu0 = None

    async def mark_cpu():
        nonlocal cpu0
        await asyncio.sleep(max(0.0, record_from - time.perf_counter()))
        cpu0 = _cpu_seconds(pids)

    stride = max(1, len(bodies) // clients)
    await asyncio.gather(mark_cpu(), *(
        _client(u.hostname, u.port, "/v1/ask", bodies, c * stride, stop_at, record_from, latencies, errors, f"load-{c}")
        for c in range(clients)))
    cpu1 = _cpu_seconds(pids)
    elapsed = time.perf_counter() - record_from
    after_batch = _batch_totals(base)
    encoded, encodes = after_batch[0] - before_batch[0], after_batch[1] - before_batch[1]
    lat = np.asarray(latencies or [float("nan")])
    cpu_ms = (cpu1 - cpu0) * 1000 / len(latencies) if cpu0 is not None and cpu1 is not None and latencies else float("nan")
    for e in errors[:3]:
        print(f"  error: {e}", file=sys.stderr)
    return Level(clients, len(latencies), len(errors), elapsed, *np.percentile(lat, [50, 95, 99]).tolist(),
                 encoded / encodes if encodes else float("nan"), cpu_ms, os.getloadavg()[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(workers: int, env_extra: dict[str, str]) -> tuple[subprocess.Popen, str, Path]:
    """`kefu api` over a throwaway KEFU_HOME with the shipped KB ingested."""
    home = Path(tempfile.mkdtemp(prefix="kefu-load-"))
    models = load_settings().models_dir
    if models.is_dir():  # reuse the converted model; converting is not what we measure
        (home / "models").symlink_to(models, target_is_directory=True)
    env = {**os.environ, "KEFU_HOME": str(home), "KEFU_API_RATE": "0", **env_extra}
    kefu = [sys.executable, "-m", "kefu.cli"]
    print("· ingesting the shipped KB into a throwaway KEFU_HOME", file=sys.stderr, flush=True)
    subprocess.run([*kefu, "ingest", "--json"], env=env, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*kefu, "api", "--port", str(port), "--workers", str(workers)], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"kefu api exited with {proc.returncode}")
        try:
            if json.loads(_get(base + "/healthz", 2)).get("status") == "ok":
                return proc, base, home
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit("kefu api did not become healthy within 300 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running `kefu api` (its rate limit must allow the load)")
    ap.add_argument("--clients", default="1,8,32", help="concurrent clients per level (default 1,8,32)")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds per level (default 20)")
    ap.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each level (default 3)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="workers of the server started here (default: one per core, as README advises)")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = ap.parse_args()

    items = load_devset()
    questions = [i.query for i in items]
    bodies = [json.dumps({"question": i.query, "role": ("agent", "customer")[n % 2], "history": list(i.history)},
                         ensure_ascii=False).encode("utf-8") for n, i in enumerate(items)]
    proc = home = None
    base = args.url.rstrip("/") if args.url else None
    if base is None:
        proc, base, home = _start_server(args.workers, {})
    try:
        health = json.loads(_get(base + "/healthz"))
        print(f"server {base} (KB {health['kb_version']}); {os.cpu_count()} CPUs; load average before "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {len(questions)} dev-set questions, closed loop, "
              f"{args.seconds:g} s per level after {args.warmup:g} s warm-up")
        pids = _server_pids(proc.pid if proc else None)
        levels = [asyncio.run(_level(base, bodies, int(c), args.seconds, args.warmup, pids)) for c in args.clients.split(",")]
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            shutil.rmtree(home, ignore_errors=True)
    print(f"{'clients':>7} {'answers':>8} {'errors':>6} {'answers/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'batch':>6} {'CPU ms/answer':>13} {'load':>5}")
    for lv in levels:
        print(f"{lv.clients:>7} {lv.answers:>8} {lv.errors:>6} {lv.rate:>9.1f} {lv.p50:>7.1f} {lv.p95:>7.1f} {lv.p99:>7.1f} "
              f"{lv.mean_batch:>6.1f} {lv.cpu_ms:>13.1f} {lv.load:>5.2f}")
    if args.json:
        print(json.dumps([{**lv.__dict__, "rate": lv.rate} for lv in levels]))


if __name__ == "__main__":
    main()
