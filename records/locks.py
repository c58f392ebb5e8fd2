"""A writer lock shared by every replica: a PostgreSQL advisory lock.

With several replicas on one Milvus, two editors may ingest or roll back at once from
different machines; a file lock cannot see the other machine, the shared database can.
The lock is a session-level advisory lock held on one connection for the duration.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections.abc import Iterator

import sqlalchemy as sa

from core.errors import BusyError
from core.settings import Settings
from records import db


def shared(settings: Settings) -> bool:
    """Whether the records database can hold a lock for several machines (PostgreSQL)."""
    return sa.make_url(settings.db_url).get_backend_name() == "postgresql"


@contextlib.contextmanager
def writer_lock(settings: Settings, name: str, timeout: float) -> Iterator[None]:
    """Hold the lock `name` in the shared database; wait up to `timeout` seconds, then BusyError."""
    key = zlib.crc32(f"kefu:{name}".encode()) - 2**31  # a signed 32-bit key
    deadline = time.monotonic() + timeout
    with db.engine(settings).connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
            if time.monotonic() >= deadline:
                raise BusyError(f"另一个副本正在入库或回滚（{name}，已等待 {timeout:g} 秒）：请等它完成后重试")
            time.sleep(0.2)
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
