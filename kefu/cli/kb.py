"""`kefu ingest`, `kefu index` and `kefu rollback`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kefu import Kefu


def print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False))


class ProgressBar:
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
    from core.types import Hooks

    bar = ProgressBar(quiet=args.json)
    report = Kefu(settings, progress=bar.message).ingest(Path(args.kb) if args.kb else None,
                                                         hooks=Hooks(bar.message, bar.progress))
    if args.json:
        print_json(report.summary())
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


def cmd_index(args, settings) -> int:
    status = Kefu(settings).status()
    if args.json:
        print_json(status.to_json())
        return 0
    print(f"线上版本：{status.version}（构建于 {status.built_at}）")
    print(f"嵌入模型：{status.model}（{status.dimension} 维，{status.index_type} 索引）")
    print(f"分块 {status.chunks} 个；FAQ {status.faqs} 条；处理手册 {status.playbooks} 份；案例 {len(status.cases)} 个")
    for title, n in status.cases.items():
        print(f"  {title}: {n}")
    print(f"保留的版本：{', '.join(status.versions)}")
    if status.sample_faqs:
        print(f"仍含示例内容的 FAQ（上线前请按实际政策替换）：{'、'.join(status.sample_faqs)}")
        for reply in status.sample_replies:
            print(f"  引用示例内容的客服回复：{reply}")
    return 0


CHANGE_LABEL = {"new": "新增", "modified": "已修改", "deleted": "已删除", "unreadable": "无法读取"}


def _changes_text(changes) -> str:
    shown = "、".join(f"{c.path}（{CHANGE_LABEL.get(c.status, c.status)}）" for c in changes[:10])
    return shown + (f" 等 {len(changes)} 个文件" if len(changes) > 10 else "")


def cmd_rollback(args, settings) -> int:
    kb_dir = Path(args.kb) if args.kb else None
    r = Kefu(settings).rollback(restore_kb=args.restore_kb, kb_dir=kb_dir)
    if args.json:
        print_json({"from": r.previous, "to": r.version, "skipped": list(r.skipped), "kb_restored": r.kb_restored,
                    "kb_changes": [{"path": c.path, "status": c.status} for c in r.kb_changes]})
        return 0
    print(f"已回滚：{r.previous or '（无线上版本）'} -> {r.version}")
    if r.skipped:
        print(f"已跳过损坏的版本：{'、'.join(r.skipped)}")
    if r.kb_restored:
        print(f"知识库目录已恢复为 {r.version} 的源文件")
    elif r.kb_changes:
        print(f"注意：知识库目录 {kb_dir or settings.kb_dir} 与线上版本 {r.version} 的源文件不同：{_changes_text(r.kb_changes)}。"
              f"下次入库会重新发布这些改动；运行 `kefu restore-kb` 把知识库目录恢复为 {r.version} 的源文件"
              "（以后回滚时可加 --restore-kb 一并恢复）", file=sys.stderr)
    return 0


def cmd_restore_kb(args, settings) -> int:
    kb_dir = Path(args.kb) if args.kb else None
    undone = Kefu(settings).restore_kb(kb_dir=kb_dir)
    if args.json:
        print_json({"restored": [{"path": c.path, "status": c.status} for c in undone]})
    elif undone:
        print(f"知识库目录已恢复为线上版本的源文件，撤销了：{_changes_text(undone)}")
    else:
        print("知识库目录与线上版本的源文件一致，无需恢复")
    return 0


def add_commands(sub) -> None:
    s = sub.add_parser("ingest", help="校验知识库目录并构建新的索引版本")
    s.add_argument("--kb", help="知识库目录（默认：KEFU_KB，未设置时用自带的 kb/）")
    s.add_argument("--json", action="store_true", help="输出一行 JSON 摘要")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("index", help="显示线上索引版本")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("rollback", help="回滚到当前版本之前上线的索引版本")
    s.add_argument("--restore-kb", action="store_true", help="同时把知识库目录恢复为该版本的源文件（整体替换，不会只恢复一半）")
    s.add_argument("--kb", help="知识库目录（默认：KEFU_KB，未设置时用自带的 kb/）")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_rollback)

    s = sub.add_parser("restore-kb", help="把知识库目录恢复为线上版本的源文件")
    s.add_argument("--kb", help="知识库目录（默认：KEFU_KB，未设置时用自带的 kb/）")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_restore_kb)
