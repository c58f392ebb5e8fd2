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
        self.errors: tuple[ValidationError, ...] = (self,)  # every problem found, this one first


class ValidationErrors(ValidationError):
    """Several problems found in one pass, so an editor fixes them all at once rather than
    one per attempt. Reads as the first one (file, line, detail), with the count."""

    def __init__(self, errors: list[ValidationError]):
        flat = [one for e in errors for one in e.errors]
        first = flat[0]
        more = f"（另有 {len(flat) - 1} 处错误）" if len(flat) > 1 else ""
        super().__init__(first.source, first.detail, first.line)
        self.args = (str(self) + more,)
        self.errors = tuple(flat)


def raise_all(errors: list[ValidationError]) -> None:
    """Raise what was collected: the one error itself, or all of them together."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ValidationErrors(errors)


class IndexError_(KefuError):
    """The index is missing, corrupt or was built by another model."""

    exit_code = 3


class BusyError(KefuError):
    """Another ingest holds the lock."""

    exit_code = 4


class InputError(KefuError):
    """A request names something that does not exist (a role, a case)."""

    exit_code = 2
