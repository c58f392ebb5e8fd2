"""Request and response bodies of the HTTP API (they are its OpenAPI schema).

Responses carry the library's own JSON (`Answer.to_json()`, `IndexStatus.to_json()`), the
same objects as `kefu ask --json` and `kefu index --json`; the models below document them
and allow keys added later.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["agent", "customer"]
MAX_QUESTION = 2_000  # characters; Kefu itself reads the first KEFU_MAX_QUERY_CHARS and says so
MAX_HISTORY = 20


class AskIn(BaseModel):
    question: str = Field(max_length=MAX_QUESTION, description="客户或客服的问题原文")
    role: Role = Field("agent", description="agent（客服，含内部备注）或 customer（客户自助）")
    history: list[Annotated[str, Field(max_length=MAX_QUESTION)]] = Field(
        default_factory=list, max_length=MAX_HISTORY, description="同一会话中客户之前的消息，从早到晚（追问据此理解）")
    case: str | None = Field(None, max_length=200, description="按这个案例作答（用户选了备选案例时）")
    k: int = Field(3, ge=0, le=10, description="除处理手册引用外，额外引用的检索段落数")


class CaseOut(BaseModel):
    category: str
    title: str | None


class StepOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    text: str
    cites: list[int]


class CitationOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    n: int
    passage: str
    source: str
    section: str
    case: str | None
    text: str
    score: float
    kb_version: str


class AnswerOut(BaseModel):
    """The object `kefu ask --json` prints."""

    model_config = ConfigDict(extra="allow")
    query: str
    role: Role
    case: CaseOut | None
    confidence: float
    answer: str
    handling_path: list[StepOut]
    citations: list[CitationOut]
    escalate: bool
    escalate_reason: str
    kb_version: str
    latency_ms: float


class FeedbackIn(BaseModel):
    question: str = Field(max_length=MAX_QUESTION)
    role: Role
    case: str | None = Field(None, max_length=200)
    kb_version: str = Field("", max_length=100)
    rating: Literal["up", "down"]
    comment: str = Field("", max_length=MAX_QUESTION)


class Created(BaseModel):
    id: int


class HandoffIn(BaseModel):
    messages: list[Annotated[str, Field(max_length=MAX_QUESTION)]] = Field(
        min_length=1, max_length=MAX_HISTORY + 1, description="客户在本次会话中的消息，从早到晚（每条按会话上下文重新作答，以确定接手的团队）")


class HandoffOut(BaseModel):
    ref: str = Field(description="转人工单号，如 KF-20261125-0042")
    team: str
    category: str | None
    case: str | None
    reason: str
    created_at: str
    kb_version: str


class IndexOut(BaseModel):
    """The object `kefu index --json` prints."""

    model_config = ConfigDict(extra="allow")
    version: str
    model: str
    dimension: int
    chunks: int
    cases: dict[str, int]
    versions: list[str]


class Health(BaseModel):
    status: Literal["ok"]
    kb_version: str
    pid: int


# --- editor operations --------------------------------------------------------------------------


class FileIn(BaseModel):
    path: str = Field(min_length=1, max_length=300, description="知识库内的相对路径，如 faqs/logistics.yaml")
    content: str = Field(description="文件内容：文本文件为 UTF-8 文本，XLSX 为 base64")
    encoding: Literal["text", "base64"] = "text"


class IngestIn(BaseModel):
    file: FileIn | None = Field(None, description="先写入并校验这个文件再入库；省略时按知识库目录现状入库")


class DiffOut(BaseModel):
    source: str
    added: list[str]
    changed: list[str]
    removed: list[str]


class StagedOut(BaseModel):
    path: str
    chunks: int  # chunks this file yields
    total_chunks: int
    replaces: bool
    documents: list[DiffOut]


class ValidatedOut(BaseModel):
    chunks: int
    faqs: int
    playbooks: int
    documents: list[DiffOut]


class IngestOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    version: str
    previous: str | None
    swapped: bool
    chunks: int
    embedded: int
    documents: list[DiffOut]


class DocumentOut(BaseModel):
    path: str
    status: str


class RollbackIn(BaseModel):
    restore_kb: bool = Field(False, description="同时把知识库目录恢复为该版本的源文件（同 kefu rollback --restore-kb）")


class RollbackOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")
    from_: str | None = Field(alias="from")
    to: str
    kb_restored: bool
    kb_changes: list[DocumentOut]  # how the KB folder now differs from the version live


class KbStatusOut(BaseModel):
    index: IndexOut | None
    documents: list[DocumentOut]
    versions: list[str]
    live: str | None
