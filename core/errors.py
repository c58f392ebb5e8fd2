"""Domain errors: each carries a message a user can act on."""

from __future__ import annotations


class KefuError(Exception):
    """Base class; the CLI prints the message on one line and exits non-zero."""

    exit_code = 1


class ConfigError(KefuError):
    """A setting has a value that cannot work."""


class ModelError(KefuError):
    """The embedding model is missing, corrupt or cannot be built."""


class ValidationError(KefuError):
    """A knowledge-base file is invalid; names the file and, where known, the line."""

    exit_code = 2

    def __init__(self, source: str, message: str, line: int | None = None):
        self.source = source
        self.line = line
        self.detail = message
        # Same shape as the editor console: "faqs/x.yaml 第 3 行：…".
        where = f"{source} 第 {line} 行" if line else source
        super().__init__(f"{where}：{message}")


class IndexError_(KefuError):
    """The index is missing, corrupt or was built by another model."""

    exit_code = 3


class BusyError(KefuError):
    """Another ingest holds the lock."""

    exit_code = 4


class InputError(KefuError):
    """A request names something that does not exist (a role, a case)."""

    exit_code = 2
