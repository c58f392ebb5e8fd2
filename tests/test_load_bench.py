"""The load benchmark runs end to end against a `kefu api` it starts (two workers), and its
figures add up (the deterministic embedder: this checks the harness, not the speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_load_benchmark_prints_a_level_per_client_count():
    r = subprocess.run([sys.executable, "-m", "eval.load", "--clients", "1,4", "--seconds", "1.5", "--warmup", "0.3",
                        "--workers", "2", "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    table, levels = r.stdout.splitlines()[:-1], json.loads(r.stdout.splitlines()[-1])
    assert any(line.split()[:3] == ["clients", "answers", "errors"] for line in table)
    assert [lv["clients"] for lv in levels] == [1, 4]
    for lv in levels:
        assert lv["errors"] == 0 and lv["answers"] > 0
        assert lv["p50"] <= lv["p95"] <= lv["p99"]
        assert abs(lv["rate"] - lv["answers"] / lv["seconds"]) < 1e-6
        assert lv["mean_batch"] >= 1
