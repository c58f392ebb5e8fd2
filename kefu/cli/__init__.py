"""`kefu`: a thin command line over the `Kefu` facade. Domain errors become one line on
stderr and a non-zero exit code; no tracebacks for bad input."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from core.errors import KefuError
from core.settings import load_settings


def build_parser() -> argparse.ArgumentParser:
    from kefu.cli import ask, kb

    p = argparse.ArgumentParser(prog="kefu", description="客服知识助手 Kefu")
    sub = p.add_subparsers(dest="command", required=True)
    kb.add_commands(sub)
    ask.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("kefu").setLevel(logging.ERROR)  # notices go to stderr once, as "kefu: 注意：…"
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
