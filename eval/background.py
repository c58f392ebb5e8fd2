"""The evaluation in the background: `kefu eval` in a child process at low CPU priority.

Run inside the serving process, an evaluation holds the model's one encode lock and both
cores for minutes, and every other user's question waits behind it. A child process has
its own copy of the model and a lower priority (nice 10): questions keep their cores, and
the page polls the child for progress. One evaluation runs at a time per process.
"""

from __future__ import annotations

import json
import os
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


@dataclass(frozen=True)
class EvalStatus:
    running: bool
    progress: tuple[str, ...]  # the child's progress messages so far
    report: dict | None = None  # when it finished
    error: str = ""  # when it failed


def command(settings: Settings, systems: tuple[str, ...] = ()) -> list[str]:
    cmd = [sys.executable, "-m", "kefu.cli", "eval", "--json"]
    return cmd + (["--systems", ",".join(systems)] if systems else [])


def _lower_priority() -> None:
    os.nice(NICE)


class EvalJob:
    """One `kefu eval --json` child: report on stdout, progress on stderr, both into files."""

    def __init__(self, settings: Settings, systems: tuple[str, ...] = ()):
        self.folder = Path(tempfile.mkdtemp(prefix="kefu-eval-"))
        self._out = self.folder / "report.json"
        self._log = self.folder / "progress.log"
        with open(self._out, "wb") as out, open(self._log, "wb") as log:
            self.proc = subprocess.Popen(command(settings, systems), stdout=out, stderr=log, stdin=subprocess.DEVNULL,
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
        errors = [line.removeprefix("kefu: 错误：") for line in lines if line.startswith("kefu:")]
        error = "" if report is not None else (errors[-1] if errors else f"评测进程异常退出（退出码 {code}）")
        self._final = EvalStatus(False, lines, report, error)
        shutil.rmtree(self.folder, ignore_errors=True)
        return self._final

    def cancel(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def start(settings: Settings, systems: tuple[str, ...] = ()) -> EvalJob:
    """Start an evaluation, or return the one already running in this process."""
    global _running
    with _lock:
        if _running is None or not _running.status().running:
            _running = EvalJob(settings, systems)
        return _running
