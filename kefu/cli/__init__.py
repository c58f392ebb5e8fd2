"""`kefu`: a thin command line over the `Kefu` facade. Domain errors become one line on
stderr and a non-zero exit code; no tracebacks for bad input, nor when the reader of a
pipe leaves early (`kefu index | head`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from core.errors import KefuError
from core.settings import load_settings

EXAMPLES = """示例：
  kefu serve                             启动网页应用（首次启动会先构建模型和索引），打开 http://localhost:8501
  kefu ask "物流显示签收了但我没收到"      在终端里回答一个问题
  kefu ingest                            修改知识库后重新入库

用 kefu <命令> -h 查看某个命令的参数。"""


def build_parser() -> argparse.ArgumentParser:
    from kefu.cli import api, ask, kb, serve

    p = argparse.ArgumentParser(prog="kefu", description="客服知识助手 Kefu：基于知识库的电商客服问答（所有答复都引用知识库原文）。",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", title="命令", metavar="<命令>")
    serve.add_commands(sub)
    ask.add_commands(sub)
    kb.add_commands(sub)
    api.add_commands(sub)
    return p


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Like parse_args, but an unknown option is reported with the usage of the command it
    was given to (`kefu ingest --bogus` shows how to call `kefu ingest`)."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        target = sub.choices.get(args.command, parser) if args.command else parser
        target.error(f"无法识别的参数：{' '.join(extras)}")
    return args


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("kefu").setLevel(logging.ERROR)  # notices go to stderr once, as "kefu: 注意：…"
    parser = build_parser()
    args = _parse(parser, argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        settings = load_settings()
        code = args.func(args, settings)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handler below
        return code
    except BrokenPipeError:
        # The reader left (`kefu index | head`): stop quietly, as `git log | head` does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KefuError as e:
        print(f"kefu: 错误：{e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("kefu: 已中断", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
