"""Several uvicorn workers on one port, each with a listening socket of its own.

uvicorn's own `--workers` shares one socket, and the worker whose event loop wakes first
accepts the whole queue (asyncio accepts up to the backlog per wake-up): 32 clients that
connect together all land on one worker and the others idle, for as long as the
keep-alive connections live. With SO_REUSEPORT the kernel spreads new connections over
the workers' sockets instead. Where the platform lacks it, `kefu api` falls back to
uvicorn's shared socket.
"""

from __future__ import annotations

import signal
import socket
import threading

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Process

SUPPORTED = hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _ensure_free(host: str, port: int) -> None:
    """A port already served (even by another Kefu, which SO_REUSEPORT would silently join)
    is an error, as with one socket."""
    with socket.socket(_family(host)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    sock = socket.socket(_family(host))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


class Workers:
    """Starts `config.workers` processes, restarts one that dies, stops all on SIGINT/SIGTERM.
    The sockets stay open here, so connections made while a worker restarts wait for it."""

    def __init__(self, config: Config):
        self.config = config
        self.stop = threading.Event()
        self.failed = False

    def run(self) -> None:
        config = self.config
        _ensure_free(config.host, config.port)
        sockets = [_listen(config.host, config.port, config.backlog) for _ in range(config.workers)]
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop.set())
        processes = [self._start(s) for s in sockets]
        try:
            while not self.stop.wait(0.5):
                for i, p in enumerate(processes):
                    if p.process.is_alive():
                        continue
                    p.join()
                    if p.exitcode == STARTUP_FAILURE:  # would fail the same way again
                        self.failed = True
                        self.stop.set()
                        break
                    processes[i] = self._start(sockets[i])
        finally:
            for p in processes:
                p.terminate()
            for p in processes:
                p.join()
            for s in sockets:
                s.close()

    def _start(self, sock: socket.socket) -> Process:
        p = Process(self.config, [sock])
        p.start()
        return p
