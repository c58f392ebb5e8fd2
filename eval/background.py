"""The evaluation in the background: `kefu eval` in a child process at low CPU priority.

Run inside the serving process, an evaluation holds the model's one encode lock and both
cores for minutes, and every other user's question waits behind it. A child process has
its own copy of the model and a lower priority (nice 10): questions keep their cores, and
the page polls the child for progress. One evaluation runs at a time per process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from core.settings import REPO_ROOT, Settings, settings_env

NICE = 10

_lock = threading.Lock()
_running: EvalJob | None = None


# Progress lines of `kefu eval` (eval/run.py) read here: "系统：kefu,bm25,…" once, then "kefu：40/265".
SYSTEMS_LINE = "系统："
_SYSTEM_DONE = re.compile(r"^(\w+)：(\d+)/(\d+)$")


@dataclass(frozen=True)
class EvalStatus:
    running: bool
    progress: tuple[str, ...]  # the child's progress messages so far
    report: dict | None = None  # when it finished
    error: str = ""  # when it failed

    @property
    def systems(self) -> dict[str, tuple[int, int]]:
        """Each system's (questions done, total), in the order they run; (0, 0) before it starts."""
        out: dict[str, tuple[int, int]] = {}
        for line in self.progress:
            if line.startswith(SYSTEMS_LINE):
                out = {name: (0, 0) for name in line.removeprefix(SYSTEMS_LINE).split(",") if name}
            elif m := _SYSTEM_DONE.match(line):
                out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        return out

    @property
    def log(self) -> tuple[str, ...]:
        """The other messages (model loading, warnings), for a person to read."""
        return tuple(line for line in self.progress if not line.startswith(SYSTEMS_LINE) and not _SYSTEM_DONE.match(line))


def command(settings: Settings, systems: tuple[str, ...] = (), devset: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "kefu.cli", "eval", "--json"]
    return cmd + (["--systems", ",".join(systems)] if systems else []) + (["--set", devset] if devset else [])


# --- the last report of each evaluation set, kept under KEFU_HOME -------------------------------


def reports_dir(settings: Settings) -> Path:
    return settings.home / "eval"


def save_report(settings: Settings, report: dict) -> Path:
    """Keep the report as the last one of its set (written whole: temp file, then rename)."""
    folder = reports_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(str(report.get("set") or "devset")).stem or "devset"
    key = hashlib.sha256(str(report.get("set", "")).encode()).hexdigest()[:8]
    path = folder / f"{name}-{key}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
    return path


def saved_reports(settings: Settings) -> list[dict]:
    """The last report of every set evaluated, newest first; unreadable files are skipped."""
    out = []
    for path in reports_dir(settings).glob("*.json"):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(report, dict) and isinstance(report.get("systems"), dict):
            out.append(report)
    return sorted(out, key=lambda r: str(r.get("finished_at", "")), reverse=True)


def _lower_priority() -> None:
    os.nice(NICE)


class EvalJob:
    """One `kefu eval --json` child: report on stdout, progress on stderr, both into files."""

    def __init__(self, settings: Settings, systems: tuple[str, ...] = (), devset: str | None = None):
        self.settings = settings
        self.devset = devset
        self.folder = Path(tempfile.mkdtemp(prefix="kefu-eval-"))
        self._out = self.folder / "report.json"
        self._log = self.folder / "progress.log"
        with open(self._out, "wb") as out, open(self._log, "wb") as log:
            self.proc = subprocess.Popen(command(settings, systems, devset), stdout=out, stderr=log, stdin=subprocess.DEVNULL,
                                         cwd=REPO_ROOT, env={**os.environ, **settings_env(settings)},
                                         preexec_fn=_lower_priority)
        self._final: EvalStatus | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _lines(self) -> tuple[str, ...]:
        text = self._log.read_bytes().decode("utf-8", "replace") if self._log.exists() else ""
        return tuple(line.removeprefix("· ").strip() for line in text.splitlines() if line.strip())

    def status(self) -> EvalStatus:
        if self._final is not None:
            return self._final
        code = self.proc.poll()
        lines = self._lines()
        if code is None:
            return EvalStatus(True, lines)
        try:
            report = json.loads(self._out.read_bytes()) if code == 0 else None
        except ValueError:
            report = None
        report = report if isinstance(report, dict) else None
        if report is not None:
            report.setdefault("set", self.devset or "eval/devset.jsonl")
            report.setdefault("set_kind", "real" if str(self.devset or "").lower().endswith(".tsv") else "dev")
            report["finished_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
            try:
                save_report(self.settings, report)
            except OSError:
                pass  # the figures are still shown; only keeping them failed
        errors = [line.removeprefix("kefu: 错误：") for line in lines if line.startswith("kefu:")]
        error = "" if report is not None else (errors[-1] if errors else f"评测进程异常退出（退出码 {code}）")
        self._final = EvalStatus(False, lines, report, error)
        shutil.rmtree(self.folder, ignore_errors=True)
        return self._final

    def cancel(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def start(settings: Settings, systems: tuple[str, ...] = (), devset: str | None = None) -> EvalJob:
    """Start an evaluation (on `devset`, a JSONL or TSV file; the dev set by default), or
    return the one already running in this process."""
    global _running
    with _lock:
        if _running is None or not _running.status().running:
            _running = EvalJob(settings, systems, devset)
        return _running
