"""`kefu`: a thin command line over the library. Domain errors become one line on stderr
and a non-zero exit code; no tracebacks for bad input."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kefu.errors import KefuError
from kefu.settings import load_settings


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False))


class _Bar:
    """A progress bar on stderr for long embedding runs (in place on a terminal)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = -1

    def message(self, msg: str) -> None:
        if not self.quiet:
            print(f"· {msg}", file=sys.stderr, flush=True)

    def progress(self, done: int, total: int) -> None:
        if self.quiet or total < 20:
            return
        pct = int(100 * done / total)
        if self.tty:
            filled = pct * 30 // 100
            print(f"\r  [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)
        elif pct // 25 > self.last // 25 or done == total:
            print(f"  已嵌入 {done}/{total}", file=sys.stderr, flush=True)
        self.last = pct


def cmd_ingest(args, settings) -> int:
    from ingest.pipeline import Hooks, run_ingest

    if args.kb:
        settings = settings.with_(kb_dir=Path(args.kb))
    bar = _Bar(quiet=args.json)
    report = run_ingest(settings, hooks=Hooks(bar.message, bar.progress))
    if args.json:
        _print_json(report.summary())
        return 0
    if not report.swapped:
        print(f"知识库未变化，线上版本仍为 {report.version}（嵌入 0 个分块）")
        return 0
    for d in report.documents:
        print(f"{d.source}: +{len(d.added)} 新增  ~{len(d.changed)} 修改  -{len(d.removed)} 删除")
        for label, keys in (("+", d.added), ("~", d.changed), ("-", d.removed)):
            for k in keys[:20]:
                print(f"    {label} {k}")
            if len(keys) > 20:
                print(f"    {label} …另有 {len(keys) - 20} 个")
    print(f"已上线 {report.version}（上一版本 {report.previous or '无'}）：{report.chunks} 个分块，"
          f"新嵌入 {report.embedded}，复用 {report.reused}，用时 {report.seconds:.1f} 秒")
    return 0


def index_status(settings) -> dict:
    from retrieval import store

    v = store.read_version(settings.index_dir)
    cases = {c["title"]: 0 for c in v.kb["cases"]}
    for c in v.chunks:
        if c.case in cases:
            cases[c.case] += 1
    m = v.manifest
    return {
        "version": v.name, "model": m["model"], "dimension": m["dimension"], "built_at": m["built_at"],
        "index_type": m["index_type"], "chunks": len(v.chunks), "faqs": m["counts"]["faqs"],
        "playbooks": m["counts"]["playbooks"], "questions": m["counts"]["questions"], "cases": cases,
        "versions": store.list_versions(settings.index_dir), "path": str(v.path),
    }


def cmd_index(args, settings) -> int:
    status = index_status(settings)
    if args.json:
        _print_json(status)
        return 0
    print(f"线上版本：{status['version']}（构建于 {status['built_at']}）")
    print(f"嵌入模型：{status['model']}（{status['dimension']} 维，{status['index_type']} 索引）")
    print(f"分块 {status['chunks']} 个；FAQ {status['faqs']} 条；处理手册 {status['playbooks']} 份；案例 {len(status['cases'])} 个")
    for title, n in status["cases"].items():
        print(f"  {title}: {n}")
    print(f"保留的版本：{', '.join(status['versions'])}")
    return 0


def cmd_rollback(args, settings) -> int:
    from retrieval import store

    with store.ingest_lock(settings.index_dir, settings.lock_timeout):
        old, new = store.rollback(settings.index_dir)
    if args.json:
        _print_json({"from": old, "to": new})
    else:
        print(f"已回滚：{old} -> {new}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kefu", description="客服知识助手 Kefu")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("ingest", help="校验知识库目录并构建新的索引版本")
    s.add_argument("--kb", help="知识库目录（默认：KEFU_KB，未设置时用自带的 kb/）")
    s.add_argument("--json", action="store_true", help="输出一行 JSON 摘要")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("index", help="显示线上索引版本")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("rollback", help="回滚到上一个索引版本")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_rollback)

    from kefu import cli_query

    cli_query.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        return args.func(args, settings)
    except KefuError as e:
        print(f"kefu: 错误：{e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("kefu: 已中断", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
