"""`kefu api`: the HTTP API under uvicorn (needs the `scale` extra: pip install -e '.[scale]')."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile

from core.errors import ConfigError
from kefu import Kefu

APP = "kefu.api.app:create_app"  # by name: the CLI and the API are separate front doors


def add_commands(sub) -> None:
    s = sub.add_parser("api", help="启动 HTTP 接口（OpenAPI 文档在 /docs）")
    s.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1；对外服务用 0.0.0.0）")
    s.add_argument("--port", type=int, default=8000, help="端口（默认 8000）")
    s.add_argument("--workers", type=int, default=1, help="工作进程数（默认 1；每个进程各加载一份模型）")
    s.add_argument("--access-log", action="store_true", help="逐条打印访问日志")
    s.set_defaults(func=cmd_api)


def cmd_api(args, settings) -> int:
    missing = [m for m in ("fastapi", "uvicorn", "prometheus_client") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"HTTP 接口需要额外的依赖（缺少 {', '.join(missing)}）：请运行 .venv/bin/pip install -e '.[scale]'")
    if args.workers < 1:
        raise ConfigError("--workers 至少为 1")
    if Kefu(settings).live_version() is None:
        print("kefu: 提示：还没有线上索引版本，/healthz 返回 503，直到运行 `kefu ingest`（或 POST /v1/kb/ingest）", file=sys.stderr)
    import uvicorn

    from kefu.cli import workers

    # One torch thread per worker unless told otherwise: the request threads need the other
    # core, and OpenMP threads that outnumber free cores spin against each other (README
    # "Scaling out"). Workers read these at start.
    os.environ.setdefault("KEFU_TORCH_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    metrics_dir = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every worker writes its samples here and /metrics sums them. It must exist, start
        # empty, and be set before prometheus_client is imported (in the workers).
        metrics_dir = tempfile.mkdtemp(prefix="kefu-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    print(f"kefu: HTTP 接口 http://{args.host}:{args.port}（文档 /docs），{args.workers} 个工作进程", file=sys.stderr, flush=True)
    options = {"factory": True, "host": args.host, "port": args.port, "workers": args.workers,
               "access_log": args.access_log, "log_level": "info", "timeout_graceful_shutdown": 10}
    try:
        if args.workers > 1 and workers.SUPPORTED:
            try:
                supervisor = workers.Workers(uvicorn.Config(APP, **options))
                supervisor.run()
            except OSError as e:
                raise ConfigError(f"无法监听 {args.host}:{args.port}：{e.strerror or e}（端口被占用时换一个：--port）") from None
            if supervisor.failed:
                raise ConfigError("工作进程启动失败，详见上方日志")
        else:
            uvicorn.run(APP, **options)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
