"""Passwords for the staff pages: compared in constant time, and repeated failures slowed
down, then locked out for a while, per client. Failures are logged, never the password."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("kefu.access")

FREE_FAILURES = 1  # the first typo costs nothing
MAX_FAILURES = 5  # then the client is locked out ...
LOCK_SECONDS = 300.0  # ... for this long
MAX_DELAY = 8.0  # each failure after the first waits 1, 2, 4, 8 seconds before answering


def _now() -> float:
    return time.monotonic()


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def password_matches(entered: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(entered.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    role: str = ""  # the role whose password matched
    failures: int = 0  # wrong passwords in a row from this client
    locked_for: float = 0.0  # seconds until the next attempt is even checked
    delayed: float = 0.0  # seconds this failure was held back


@dataclass
class _Client:
    failures: int = 0
    locked_until: float = 0.0


@dataclass
class LoginGuard:
    """Tracks wrong passwords per client key (a browser session, and its address when known:
    a new tab from the same address does not start from zero)."""

    _clients: dict[str, _Client] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attempt(self, entered: str, passwords: dict[str, str], clients: tuple[str, ...]) -> LoginResult:
        """Check `entered` against each role's password (role -> password; empty ones never
        match). One wrong entry counts once, whatever the number of roles."""
        role = "/".join(passwords)
        now = _now()
        with self._lock:
            if len(self._clients) > 10_000:  # forget clients whose lockout is over
                self._clients = {k: v for k, v in self._clients.items() if v.locked_until > now}
            states = [self._clients.setdefault(c, _Client()) for c in clients]
            locked = max((s.locked_until for s in states), default=0.0)
            if locked > now:
                log.warning("%s login refused: locked out (%s)", role, ", ".join(clients))
                return LoginResult(False, "", max(s.failures for s in states), locked - now)
            granted = next((r for r, expected in passwords.items() if password_matches(entered, expected)), None)
            if granted is not None:
                for c in clients:
                    self._clients.pop(c, None)
                return LoginResult(True, granted)
            failures = max(s.failures for s in states) + 1
            locked_until = now + LOCK_SECONDS if failures >= MAX_FAILURES else 0.0
            for s in states:
                s.failures, s.locked_until = failures, locked_until
        log.warning("wrong %s password (%s), %d in a row%s", role, ", ".join(clients), failures,
                    f"; locked out for {LOCK_SECONDS:.0f} s" if locked_until else "")
        if locked_until:
            return LoginResult(False, "", failures, LOCK_SECONDS)
        delay = min(2.0 ** (failures - 1 - FREE_FAILURES), MAX_DELAY) if failures > FREE_FAILURES else 0.0
        _sleep(delay)
        return LoginResult(False, "", failures, 0.0, delay)
