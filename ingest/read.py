"""Read KB files safely: size, encoding and syntax problems become one-line errors
that name the file and, where there is one, the line."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

import yaml

from core.errors import ValidationError


def read_bytes(path: Path, rel: str, max_bytes: int) -> bytes:
    """The bytes of a regular file, never more than `max_bytes`.

    Opened without blocking (a FIFO would wait for a writer forever), checked on the open
    descriptor (a device or FIFO is refused before any read), and read to at most
    `max_bytes + 1`: /proc files and growing files lie about their size, /dev/zero has none.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ValidationError(rel, "文件不存在（可能是指向已删除文件的符号链接）") from None
    except OSError as e:
        raise ValidationError(rel, f"无法读取文件（{e.strerror}）") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValidationError(rel, "不是普通文件（可能是设备、管道或目录）：知识库只读取普通文本文件和 .xlsx 表格")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValidationError(rel, f"文件超过 {max_bytes:,} 字节的上限（KEFU_MAX_FILE_BYTES）：请拆分为多个较小的文件")
    if not data.strip():
        raise ValidationError(rel, "文件为空")
    return data


def _utf8_hint(rel: str, src: str) -> str:
    """How to convert this very file: the command names it, and the usual tool for its type."""
    name = PurePosixPath(rel).name
    stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
    command = f"iconv -f {src} -t UTF-8 '{name}' > '{stem}-utf8{suffix}'"
    if suffix.lower() == ".csv":
        tool = "或在 Excel 中「另存为」选择「CSV UTF-8（逗号分隔）」"
    else:
        tool = "或在编辑器（如记事本）中「另存为」选择 UTF-8 编码"
    return f"请转换为 UTF-8（例如 {command}，{tool}）"


def decode(data: bytes, rel: str) -> str:
    """UTF-8 only. A GBK file is the usual mistake from Windows editors: say so and how to convert."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        def hint(src: str) -> str:
            return _utf8_hint(rel, src)

        for enc in ("gb18030", "big5"):
            try:
                data.decode(enc)
            except UnicodeDecodeError:
                continue
            name = "GBK" if enc == "gb18030" else "Big5"
            raise ValidationError(rel, f"文件不是 UTF-8 编码，看起来是 {name} 编码：{hint(name)}", line) from None
        raise ValidationError(rel, f"文件不是有效的 UTF-8 编码（第 {e.start} 字节出错）：{hint('GBK')}", line) from None
    if "\x00" in text:
        raise ValidationError(rel, "文件含有 NUL 字节：这是二进制文件，不是文本文件")
    if not text.strip():
        raise ValidationError(rel, "文件为空")
    return text


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records each mapping's 1-based line under `__line__` and each key's
    line under `__key_lines__`, so errors can point at the offending line."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    mapping["__key_lines__"] = {getattr(k, "value", None): k.start_mark.line + 1 for k, _ in node.value}
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Dates stay text: validation checks them and reports the line, instead of a crash here.
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def parse_yaml(text: str, rel: str):
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise ValidationError(rel, f"YAML 格式错误：{e.problem or e}", line) from None
    except (yaml.YAMLError, ValueError, TypeError) as e:
        raise ValidationError(rel, f"YAML 格式错误：{e}") from None
