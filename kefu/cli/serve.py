"""`kefu serve`: build what the app needs, then serve it.

The model and the index are built here, with a progress bar in the terminal, before the
server accepts anyone: the first visitor gets an answer, not an 80-second wait. Streamlit
then runs in this same process, so the pages use the `Kefu` loaded here (`Kefu.shared`).
"""

from __future__ import annotations

import socket
import sys

from core.settings import REPO_ROOT
from core.types import Hooks
from kefu import Kefu
from kefu.cli.kb import ProgressBar

APP = REPO_ROOT / "app.py"
PAGES = (("客服工作台", "agent"), ("自助服务", "customer"), ("知识库管理", "editor"), ("评测", "eval"))


def add_commands(sub) -> None:
    s = sub.add_parser("serve", help="启动网页应用：先准备模型和索引，就绪后在 http://localhost:8501 提供服务")
    s.add_argument("--port", type=int, default=8501, help="端口（默认 8501）")
    s.add_argument("--address", help="监听地址（默认：设置了 KEFU_AGENT_PASSWORD 时为所有网卡，否则只监听本机 127.0.0.1）")
    s.set_defaults(func=cmd_serve)


def streamlit_options(port: int, address: str | None) -> dict:
    """Streamlit's settings for the app, as `streamlit run` flags would give them. The toolbar
    is minimal: agents and customers have no use for Deploy, Rerun or Stop."""
    options = {"server_port": port, "server_headless": True, "server_fileWatcherType": "none",
               "browser_gatherUsageStats": False, "client_toolbarMode": "minimal", "logger_hideWelcomeMessage": True}
    if address:
        options["server_address"] = address
    return options


def _port_taken(port: int, address: str | None) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address or "", port))
        except OSError:
            return True
    return False


def cmd_serve(args, settings) -> int:
    from core.errors import ConfigError

    if not 0 < args.port < 65536:
        raise ConfigError(f"端口 {args.port} 无效：请用 1 到 65535 之间的数")
    address = args.address
    if address is None and not settings.agent_password:
        # Zero setup is for this machine: without an agent password anyone who can reach the
        # app would read the agents' internal notes.
        address = "127.0.0.1"
        print(f"kefu: 注意：未设置 KEFU_AGENT_PASSWORD，只在本机提供服务（http://localhost:{args.port}）。"
              "要让其他电脑访问，请设置 KEFU_AGENT_PASSWORD（客服）和 KEFU_EDITOR_PASSWORD（编辑）", file=sys.stderr)
    if _port_taken(args.port, address):
        raise ConfigError(f"端口 {args.port} 已被占用（可能已有一个 kefu serve 在运行）：请用 --port 换一个端口")
    bar = ProgressBar(quiet=False)
    kefu = Kefu.shared(settings, progress=bar.message)
    kefu.embedder  # noqa: B018 - converts the built-in model on first use, then loads it
    if kefu.needs_build():
        bar.message("首次启动：正在构建索引")
        kefu.ingest(hooks=Hooks(bar.message, bar.progress))
    kefu.assistant()
    kefu.warmup()
    host = "localhost" if args.address in (None, "", "0.0.0.0", "::") else args.address
    url = f"http://{host}:{args.port}"
    lines = [f"客服知识助手已就绪（索引版本 {kefu.live_version()}）：{url}"]
    lines += [f"  {title:\u3000<5} {url}/{path}" for title, path in PAGES]  # full-width padding lines the URLs up
    if not settings.editor_password:
        lines.append("  （知识库管理需要密码：用 KEFU_EDITOR_PASSWORD=… kefu serve 启动）")
    lines.append("按 Ctrl+C 停止。")
    print("\n".join(lines), flush=True)
    return _run_streamlit(streamlit_options(args.port, address))


def _run_streamlit(options: dict) -> int:
    from streamlit.web import bootstrap

    bootstrap.load_config_options(flag_options=options)
    bootstrap.run(str(APP), False, [], options)
    return 0

