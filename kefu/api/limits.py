"""Request limits as plain ASGI middleware: body size and a per-client rate.

Both answer with a problem (413, 429) before the application reads anything.
"""

from __future__ import annotations

import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kefu.api.problems import problem


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse bodies over `max_bytes` (over `large_bytes` under `large_prefix`, where editors
    upload KB files): by Content-Length up front, and by counting a streamed body."""

    def __init__(self, app: ASGIApp, max_bytes: int, large_prefix: str = "", large_bytes: int = 0):
        self.app = app
        self.max_bytes = max_bytes
        self.large_prefix = large_prefix
        self.large_bytes = large_bytes

    def _limit(self, path: str) -> int:
        if self.large_prefix and path.startswith(self.large_prefix):
            return max(self.max_bytes, self.large_bytes)
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._reject(scope, receive, send, limit)
            return
        seen = 0
        too_large = False
        started = False

        async def counted_receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    too_large = True
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            # FastAPI turns an exception raised while it reads the body into its own 400:
            # once the body was too large, that response is replaced by the 413.
            nonlocal started
            if too_large:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._reject(scope, receive, send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _TooLarge:
            if not started:
                await self._reject(scope, receive, send, limit)

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        await problem(413, f"请求体超过 {limit} 字节的上限", instance=scope.get("path"))(scope, receive, send)


class RateLimit:
    """A token bucket per client: `rate` requests per second, bursts of `burst`.

    The client is the `X-Client-Id` header (a ticketing system, a chat widget, an IVR behind
    one address can each name themselves) or else the peer address. It spreads capacity
    fairly between callers; it is no security boundary. Buckets live in each worker
    process, so with `--workers N` a client can get up to N times the rate.
    """

    MAX_CLIENTS = 100_000

    def __init__(self, app: ASGIApp, rate: float, burst: int, exempt: tuple[str, ...] = ()):
        self.app = app
        self.rate = rate
        self.burst = float(burst)
        self.exempt = exempt
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def client(scope: Scope) -> str:
        named = dict(scope["headers"]).get(b"x-client-id", b"")[:64].decode("latin-1").strip()
        return named or (scope.get("client") or ("?", 0))[0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.rate <= 0 or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        key, now = self.client(scope), time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, now)
            if len(self._buckets) > self.MAX_CLIENTS:
                self._buckets.clear()  # bounded memory; every client starts with a full bucket again
        if allowed:
            await self.app(scope, receive, send)
            return
        retry = max(1, int((1 - tokens) / self.rate + 0.999))
        response = problem(429, f"每个客户端每秒最多 {self.rate:g} 个请求，请 {retry} 秒后重试",
                           instance=scope["path"], headers={"Retry-After": str(retry)})
        await response(scope, receive, send)
