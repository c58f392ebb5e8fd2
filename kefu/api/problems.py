"""Errors as RFC 9457 problem details (`application/problem+json`), with the CLI's messages.

Every error the API returns has this shape: routing errors (404, 405), bad JSON and bad
fields (422), oversized bodies (413), rate limits (429), domain errors (the one-line Chinese
message of `kefu ...` in `detail`) and unexpected ones (500, without internals).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from core.errors import BusyError, ConfigError, IndexError_, InputError, KefuError, ModelError, ValidationError

PROBLEM = "application/problem+json"
log = logging.getLogger("kefu.api")

# Domain error -> HTTP status. A KB file that fails validation is the caller's to fix (422);
# no live index yet is the service's state (503); another ingest running is a conflict (409).
STATUS = {
    ValidationError: 422,
    InputError: 422,
    BusyError: 409,
    IndexError_: 503,
    ModelError: 503,
    ConfigError: 500,
}

TITLES = {
    400: "请求无法解析",
    401: "需要编辑令牌",
    403: "编辑接口未开放",
    404: "没有这个地址",
    405: "不支持该方法",
    409: "另一个入库任务正在运行",
    413: "请求体过大",
    422: "请求内容有误",
    429: "请求过于频繁",
    500: "服务内部错误",
    503: "服务暂不可用",
}


class Problem(BaseModel):
    """RFC 9457 problem details; `errors` lists field errors, `source`/`line` a KB file error."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
    source: str | None = None
    line: int | None = None


def problem(status: int, detail: str | None = None, *, instance: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    title = TITLES.get(status) or (HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "错误")
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problems a route can return (the schema inline under
    problem+json only: `"model": Problem` would also claim an application/json body)."""
    schema = Problem.model_json_schema()
    return {c: {"description": TITLES.get(c, HTTPStatus(c).phrase), "content": {PROBLEM: {"schema": schema}}}
            for c in sorted({400, 413, 422, 429, 500, *codes})}


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()]


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            detail = "请求体不是有效的 JSON"
        else:
            detail = "；".join(f"{'.'.join(e['loc'][1:]) or '请求体'}：{e['msg']}" for e in errors[:5])
        return problem(422, detail, instance=request.url.path, errors=errors)

    @app.exception_handler(HTTPException)  # Starlette's, so that routing 404/405 are covered too
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != HTTPStatus(exc.status_code).phrase else None
        return problem(exc.status_code, detail, instance=request.url.path, headers=getattr(exc, "headers", None))

    @app.exception_handler(KefuError)
    async def _domain(request: Request, exc: KefuError) -> JSONResponse:
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 500)
        extra = {"source": exc.source, "line": exc.line} if isinstance(exc, ValidationError) else {}
        return problem(status, str(exc), instance=request.url.path, **extra)

    @app.exception_handler(Exception)  # runs in Starlette's outermost middleware; logged with its traceback
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem(500, "请稍后重试；如持续出现，请联系管理员查看服务日志", instance=request.url.path)
