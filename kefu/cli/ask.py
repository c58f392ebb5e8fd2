"""`kefu ask` and `kefu eval`."""

from __future__ import annotations

import json
import sys
import textwrap

from answer.messages import KIND_LABEL, MSG_SAMPLE
from core.errors import KefuError
from core.types import ROLES, Answer
from kefu import Kefu

INDENT = "    "
CITATION_CHARS = 120  # of a cited passage in the terminal; --json has it whole


def add_commands(sub) -> None:
    s = sub.add_parser("ask", help="在终端里回答一个问题（不给问题时从标准输入逐行读取，逐行输出 JSON）")
    s.add_argument("question", nargs="?",
                   help='问题；省略时从标准输入每行读取一个问题，或一个 JSON 对象 {"question": "…", "history": ["之前的消息", …]}')
    s.add_argument("--role", choices=ROLES, default="agent",
                   help="agent：客服视角（核实项、处理步骤、给客户的回复、内部备注，默认）；customer：用户视角（自助操作、转人工方式，无内部信息）")
    s.add_argument("--json", action="store_true", help="输出一个 JSON 对象")
    s.add_argument("-k", type=int, default=3, help="除处理手册引用外，额外引用的检索段落数（默认 3）")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("eval", help="在开发集上评测 kefu 与各基线系统")
    s.add_argument("--set", dest="devset", help="开发集 JSONL 文件（默认 eval/devset.jsonl）")
    s.add_argument("--out", help="另外把 report.md 和 chart.png 写入此目录")
    s.add_argument("--json", action="store_true")
    s.add_argument("--systems", help="只评测部分系统，逗号分隔，如 kefu,dense")
    s.set_defaults(func=cmd_eval)


def _markers(cites) -> str:
    return "".join(f"[{n}]" for n in cites)


def _paragraph(label: str, text: str) -> list[str]:
    """A labelled paragraph, its text indented on the lines below (line breaks kept)."""
    return [f"{label}：", textwrap.indent(text.strip(), INDENT)]


def render(answer: Answer) -> str:
    """The readable terminal form of an Answer: every paragraph under a label."""
    j = answer.to_json()
    out = []
    if j["case"]:
        title = j["case"]["title"] or "（类别级问题）"
        out.append(f"案例：{title}｜{j['case']['category']}｜置信度 {j['confidence']:.2f}")
    for alt in j["alternatives"]:
        out.append(f"  也可能是：{alt['title'] or alt['category']}（{alt['category']}）")
    if j["notice"]:
        out.append(f"提示：{j['notice']}")
    if j["sample"]:
        out.append(f"注意：{MSG_SAMPLE}")
    if j["summary"]:
        out += ["", *_paragraph("案例说明", j["summary"])]
    out += ["", *_paragraph("答复", j["answer"])]
    for o in j["also"]:
        named = o["case"]["title"] or o["case"]["category"] or "知识库未收录"
        mark = f"\n注意：{MSG_SAMPLE}" if o["sample"] else ""
        out += ["", *_paragraph(f"另一个问题（{named}）", f"「{o['text']}」\n{o['answer']}{mark}")]
    if j["reply"]:
        out += ["", *_paragraph("回复客户", f"{j['reply']} {_markers(j['reply_cites'])}")]
    chosen = answer.chosen
    if chosen:
        why = f"（按问题中的{''.join(f'「{w}」' for w in chosen.matched)}）" if chosen.matched else ""
        out += ["", f"情形：{chosen.when}{why}"]
        others = [s.when for s in answer.situations if s is not chosen]
        if others:
            out.append(f"其他情形：{'；'.join(others)}（--json 中有各情形的步骤）")
    if j["handling_path"]:
        out += ["", "处理路径："]
        for n, step in enumerate(j["handling_path"], start=1):
            out.append(f"{INDENT}{n}. {KIND_LABEL.get(step['kind'], '')}｜{step['text']} {_markers(step['cites'])}")
    if j["internal_notes"]:
        out += ["", "内部备注（仅客服可见）："]
        out += [f"{INDENT}· {note}" for note in j["internal_notes"]]
    if j["escalate"]:
        team = f"（{j['team']}）" if j["team"] else ""
        out += ["", f"需转人工{team}：{j['escalate_reason']}"]
    if answer.role == "customer" and j["contact"]:
        out += ["", *_paragraph("人工客服", j["contact"])]
    if j["citations"]:
        out += ["", "引用："]
        for c in j["citations"]:
            sample = f"（{MSG_SAMPLE}）" if c["sample"] else ""
            out.append(f"{INDENT}[{c['n']}] {c['source']} · {c['section']}{sample}")
            text = c["text"].strip()
            text = text if len(text) <= CITATION_CHARS else text[:CITATION_CHARS] + "…"
            out.append(textwrap.indent(text, INDENT * 2))
    out.append(f"\n知识库版本 {j['kb_version']}，用时 {j['latency_ms']:.0f} ms")
    return "\n".join(out)


def cmd_ask(args, settings) -> int:
    kefu = Kefu(settings, progress=lambda m: print(f"· {m}", file=sys.stderr, flush=True))
    kefu.warmup(trace=args.question is None)
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
