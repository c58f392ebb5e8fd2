"""`kefu ask`, `kefu eval` and `kefu serve`."""

from __future__ import annotations

import json
import subprocess
import sys

from answer.messages import KIND_LABEL
from core.errors import KefuError
from core.settings import REPO_ROOT
from core.types import ROLES
from kefu import Kefu


def add_commands(sub) -> None:
    s = sub.add_parser("ask", help="回答一个问题（不给问题时从标准输入逐行读取，逐行输出 JSON）")
    s.add_argument("question", nargs="?",
                   help='问题；省略时从标准输入每行读取一个问题，或一个 JSON 对象 {"question": "…", "history": ["之前的消息", …]}')
    s.add_argument("--role", choices=ROLES, default="agent")
    s.add_argument("--json", action="store_true", help="输出一个 JSON 对象")
    s.add_argument("-k", type=int, default=3, help="除处理手册引用外，额外引用的检索段落数（默认 3）")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("eval", help="在开发集上评测 kefu 与各基线系统")
    s.add_argument("--set", dest="devset", help="开发集 JSONL 文件（默认 eval/devset.jsonl）")
    s.add_argument("--out", help="另外把 report.md 和 chart.png 写入此目录")
    s.add_argument("--json", action="store_true")
    s.add_argument("--systems", help="只评测部分系统，逗号分隔，如 kefu,dense")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("serve", help="启动 Streamlit 应用")
    s.add_argument("--port", type=int, default=8501)
    s.add_argument("--address", help="监听地址（默认：设置了 KEFU_AGENT_PASSWORD 时为所有网卡，否则只监听本机 127.0.0.1）")
    s.set_defaults(func=cmd_serve)


def render(answer) -> str:
    """The readable terminal form of an Answer."""
    j = answer.to_json()
    out = []
    if j["case"]:
        title = j["case"]["title"] or "（类别级问题）"
        out.append(f"案例：{title}｜{j['case']['category']}｜置信度 {j['confidence']:.2f}")
        for alt in j["alternatives"]:
            out.append(f"  也可能是：{alt['title']}（{alt['category']}）")
    if j["notice"]:
        out.append(f"提示：{j['notice']}")
    out.append("")
    if j["summary"]:
        out.append(f"案例说明：{j['summary']}")
    out.append(j["answer"])
    if j["handling_path"]:
        out.append("\n处理路径：")
        for n, step in enumerate(j["handling_path"], start=1):
            cites = "".join(f"[{c}]" for c in step["cites"])
            out.append(f"  {n}. {KIND_LABEL.get(step['kind'], '')}｜{step['text']} {cites}")
    if j["internal_notes"]:
        out.append("\n内部备注：")
        out += [f"  · {note}" for note in j["internal_notes"]]
    if j["escalate"]:
        out.append(f"\n需转人工：{j['escalate_reason']}")
    if answer.role == "customer" and j["contact"]:
        out.append(f"\n{j['contact']}")
    if j["citations"]:
        out.append("\n引用：")
        for c in j["citations"]:
            out.append(f"  [{c['n']}] {c['source']} · {c['section']}（{c['score']:.3f}）")
            out.append(f"      {c['text'][:120]}")
    out.append(f"\n知识库版本 {j['kb_version']}，用时 {j['latency_ms']:.0f} ms")
    return "\n".join(out)


def cmd_ask(args, settings) -> int:
    kefu = Kefu(settings, progress=lambda m: print(f"· {m}", file=sys.stderr, flush=True))
    kefu.warmup()
    if args.question is not None:
        answer = kefu.ask(args.question, args.role, k=args.k)
        _notice(kefu)
        print(json.dumps(answer.to_json(), ensure_ascii=False) if args.json else render(answer))
        return 0
    failed = 0
    for raw in sys.stdin.buffer:
        # Each line decoded on its own with replacement: one bad byte costs nothing but itself.
        question, history = batch_line(raw.decode("utf-8", "replace").rstrip("\r\n"))
        try:
            answer = kefu.ask(question, args.role, history=history, k=args.k)
        except KefuError as e:  # one bad line costs one answer, never the rest of the batch
            failed = failed or e.exit_code
            print(json.dumps({"query": question, "error": str(e)}, ensure_ascii=False), flush=True)
            continue
        print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
    _notice(kefu)
    return failed


def _notice(kefu: Kefu) -> None:
    """Say on stderr when another version than the live one answers (e.g. the live one is damaged)."""
    if kefu.last_error:
        print(f"kefu: 注意：{kefu.last_error}", file=sys.stderr, flush=True)


def batch_line(line: str) -> tuple[str, list[str]]:
    """A batch line is a question, or a JSON object {"question": ..., "history": [...]}
    carrying the customer's earlier messages, oldest first."""
    if line.lstrip().startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            return line, []  # a question that happens to start with "{"
        if isinstance(obj, dict) and isinstance(obj.get("question"), str):
            history = obj.get("history") or []
            return obj["question"], [h for h in history if isinstance(h, str)] if isinstance(history, list) else []
    return line, []


def cmd_eval(args, settings) -> int:
    from eval.run import print_report, run_eval

    say = lambda m: print(f"· {m}", file=sys.stderr, flush=True)  # noqa: E731
    kefu = Kefu(settings, progress=say)
    kefu.warmup()
    systems = args.systems.split(",") if args.systems else None
    report = run_eval(kefu, devset=args.devset, out=args.out, systems=systems, progress=say)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print_report(report)
    return 0


def cmd_serve(args, settings) -> int:
    address = args.address
    if address is None and not settings.agent_password:
        # Zero setup is for this machine: without an agent password anyone who can reach the
        # app would read the agents' internal notes.
        address = "127.0.0.1"
        print(f"kefu: 注意：未设置 KEFU_AGENT_PASSWORD，只在本机提供服务（http://localhost:{args.port}）。"
              "要让其他电脑访问，请设置 KEFU_AGENT_PASSWORD（客服）和 KEFU_EDITOR_PASSWORD（编辑）", file=sys.stderr)
    cmd = [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "app.py"), "--server.port", str(args.port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    if address:
        cmd += ["--server.address", address]
    return subprocess.call(cmd, cwd=REPO_ROOT)
