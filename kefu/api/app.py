"""The HTTP API: `kefu api` serves `create_app()` with uvicorn. Thin, like the CLI: every
route calls the `Kefu` facade and returns its JSON.

    POST /v1/ask        an answer, the object of `kefu ask --json`
    POST /v1/feedback   a rating of an answer (201)
    POST /v1/handoff    a customer's conversation handed to a human; its reference number (201)
    GET  /v1/index      the live version, the object of `kefu index --json`
    GET  /healthz       200 once a version is live
    GET  /metrics       Prometheus
    /v1/kb/...          editor operations, behind a bearer token (kefu/api/editor.py)

Questions are answered in the worker threads of the server; their query encodes meet in
one micro-batcher (models/batch.py), so concurrent clients share each encode.
"""

from __future__ import annotations

import contextlib
import logging
import os

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from core.errors import IndexError_
from core.settings import VERSION, Settings, load_settings
from core.types import Conversation
from kefu import Kefu
from kefu.api import editor, problems
from kefu.api.limits import BodySizeLimit, RateLimit
from kefu.api.metrics import Metrics, Observe, process_exit
from kefu.api.schemas import AnswerOut, AskIn, Created, FeedbackIn, HandoffIn, HandoffOut, Health, IndexOut

log = logging.getLogger("kefu.api")
UNLIMITED = ("/healthz", "/metrics")  # probes and scrapes are never rate limited


def create_app(settings: Settings | None = None, kefu: Kefu | None = None) -> FastAPI:
    """The application; `kefu` may be given (tests), else one is built with micro-batching."""
    settings = settings or (kefu.settings if kefu else load_settings())
    metrics = Metrics.get()
    kefu = kefu or Kefu(settings, batching=True)
    if kefu.batching:
        kefu.on_encode_batch(metrics.batch.observe)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        # Load the model and the live version before taking traffic: the first clients
        # should not wait for them (without a version yet, /healthz says 503 until one is ingested).
        kefu.warmup()
        with contextlib.suppress(IndexError_):
            metrics.set_live(kefu.assistant().version.name)
        yield
        kefu.close()
        process_exit()

    app = FastAPI(title="客服知识助手 Kefu API", version=VERSION, lifespan=lifespan,
                  description="Answers, feedback and the knowledge base of Kefu over HTTP. Errors are RFC 9457 "
                              "problem details (application/problem+json) with the messages of the `kefu` command.")
    app.state.kefu = kefu
    problems.install(app)

    @app.post("/v1/ask", response_model=AnswerOut, responses=problems.responses(503), tags=["answers"],
              summary="回答一个问题（与 kefu ask --json 相同的对象）")
    def ask(body: AskIn) -> JSONResponse:
        answer = kefu.ask(body.question, body.role, history=body.history, case=body.case, k=body.k)
        metrics.set_live(answer.kb_version)
        route = answer.decision.route if answer.decision else "none"
        metrics.answers.labels(body.role, route).inc()
        if route == "refused":
            metrics.refusals.labels(body.role).inc()
        return JSONResponse(answer.to_json())

    @app.post("/v1/feedback", status_code=201, response_model=Created, responses=problems.responses(), tags=["answers"],
              summary="记录对一个回答的评价（有用/没用）")
    def feedback(body: FeedbackIn) -> JSONResponse:
        new_id = kefu.feedback(role=body.role, question=body.question, case=body.case, kb_version=body.kb_version,
                               rating=body.rating, comment=body.comment)
        return JSONResponse({"id": new_id}, status_code=201)

    @app.post("/v1/handoff", status_code=201, response_model=HandoffOut, responses=problems.responses(503), tags=["answers"],
              summary="把客户的会话转交人工，返回转人工单号")
    def handoff(body: HandoffIn) -> JSONResponse:
        # The conversation is answered again here, as the customer chat did, so that the team
        # and case come from this KB version and not from what a client claims.
        chat = Conversation()
        for message in body.messages:
            chat = chat.add(message, kefu.ask(message, "customer", history=chat.questions))
        h = kefu.handoff(chat)
        return JSONResponse({"ref": h.ref, "team": h.team, "category": h.category, "case": h.case, "reason": h.reason,
                             "created_at": h.created_at, "kb_version": h.kb_version}, status_code=201)

    @app.get("/v1/index", response_model=IndexOut, responses=problems.responses(503), tags=["knowledge base"],
             summary="线上索引版本（与 kefu index --json 相同的对象）")
    def index() -> JSONResponse:
        return JSONResponse(kefu.status().to_json())

    @app.get("/healthz", response_model=Health, responses=problems.responses(503), tags=["operations"],
             summary="有线上版本时返回 200")
    def healthz() -> JSONResponse:
        version = kefu.assistant().version.name  # IndexError_ (no live version) -> 503
        metrics.set_live(version)
        return JSONResponse({"status": "ok", "kb_version": version, "pid": os.getpid()})

    @app.get("/metrics", include_in_schema=False)
    def scrape():
        return metrics.scrape()

    app.include_router(editor.router(kefu, settings.api_token))
    # add_middleware prepends: the last added runs first. Observe sees every request,
    # including the 413s and 429s answered by the limits.
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body, large_prefix="/v1/kb/",
                       large_bytes=settings.max_file_bytes * 4 // 3 + 4_096)
    app.add_middleware(RateLimit, rate=settings.api_rate, burst=settings.api_burst, exempt=UNLIMITED)
    app.add_middleware(Observe, metrics=metrics)
    return app
