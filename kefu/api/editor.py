"""Editor operations over HTTP, behind a bearer token (KEFU_API_TOKEN):

    GET  /v1/kb/status     the live version, every KB file against it, the kept versions
    POST /v1/kb/validate   validate the KB folder as it is (nothing embedded or written)
    POST /v1/kb/stage      validate the KB as it would be with one file; nothing written
    POST /v1/kb/ingest     optionally write one validated file, then ingest
    POST /v1/kb/rollback   back to the version live before; {"restore_kb": true} restores the KB files too

Without KEFU_API_TOKEN the editor operations are off (403). A file that fails validation
is a 422 naming the file and line, exactly as `kefu ingest` prints it.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.responses import JSONResponse

from core.errors import IndexError_, ValidationError
from kefu import Kefu
from kefu.api import problems
from kefu.api.schemas import FileIn, IngestIn, IngestOut, KbStatusOut, RollbackIn, RollbackOut, StagedOut, ValidatedOut


def _diffs(documents) -> list[dict]:
    return [{"source": d.source, "added": list(d.added), "changed": list(d.changed), "removed": list(d.removed)}
            for d in documents]


def _data(f: FileIn) -> bytes:
    if f.encoding == "text":
        return f.content.encode("utf-8")
    try:
        return base64.b64decode(f.content, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f.path, "content 不是有效的 base64（encoding 为 base64 时）") from None


def router(kefu: Kefu, token: str) -> APIRouter:

    def editor(authorization: str = Header("", description="Bearer <KEFU_API_TOKEN>")) -> None:
        if not token:
            raise HTTPException(403, "编辑接口未开放：在服务端设置 KEFU_API_TOKEN 后，用 Authorization: Bearer <令牌> 调用")
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(401, "编辑令牌缺失或不正确（Authorization: Bearer <KEFU_API_TOKEN>）",
                                headers={"WWW-Authenticate": 'Bearer realm="kefu-editor"'})

    r = APIRouter(prefix="/v1/kb", tags=["editor"], dependencies=[Depends(editor)],
                  responses=problems.responses(401, 403))

    @r.get("/status", response_model=KbStatusOut, summary="线上版本、各文件状态与保留的版本")
    def status() -> JSONResponse:
        try:
            index = kefu.status().to_json()
        except IndexError_:
            index = None
        docs = [{"path": d.path, "status": d.status} for d in kefu.documents()]
        return JSONResponse({"index": index, "documents": docs, "versions": kefu.versions(), "live": kefu.live_version()})

    @r.post("/validate", response_model=ValidatedOut, summary="校验知识库目录（不嵌入、不写入）")
    def validate() -> JSONResponse:
        p = kefu.validate()
        return JSONResponse({"chunks": p.chunks, "faqs": p.faqs, "playbooks": p.playbooks, "documents": _diffs(p.documents)})

    @r.post("/stage", response_model=StagedOut, summary="校验加入或修改一个文件后的知识库（不写入）")
    def stage(body: FileIn) -> JSONResponse:
        change = kefu.stage(body.path, _data(body))
        return JSONResponse({"path": change.rel, "chunks": len(change.chunks), "total_chunks": change.total_chunks,
                             "replaces": change.replaces, "documents": _diffs(change.diffs)})

    @r.post("/ingest", response_model=IngestOut, responses=problems.responses(409, 503),
            summary="（可选先写入一个校验通过的文件）入库并上线新版本")
    def ingest(body: IngestIn | None = None) -> JSONResponse:
        if body is not None and body.file is not None:
            report = kefu.apply(kefu.stage(body.file.path, _data(body.file)))
        else:
            report = kefu.ingest()
        return JSONResponse({**report.summary(), "documents": _diffs(report.documents)})

    @r.post("/rollback", response_model=RollbackOut, responses=problems.responses(409, 503),
            summary="回滚到之前的线上版本（可同时恢复知识库文件）")
    def rollback(body: RollbackIn | None = None) -> JSONResponse:
        try:
            report = kefu.rollback(restore_kb=bool(body and body.restore_kb))
        except IndexError_ as e:  # nothing (intact) to go back to: the state refuses, not the service
            return problems.problem(409, str(e), instance="/v1/kb/rollback")
        return JSONResponse({"from": report.previous, "to": report.version, "skipped": list(report.skipped),
                             "kb_restored": report.kb_restored,
                             "kb_changes": [{"path": c.path, "status": c.status} for c in report.kb_changes]})

    return r
