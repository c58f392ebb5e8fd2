"""Read KB files safely: size, encoding and syntax problems become one-line errors
that name the file and, where there is one, the line."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import yaml

from core.errors import ValidationError


def read_bytes(path: Path, rel: str, max_bytes: int) -> bytes:
    size = path.stat().st_size
    if size > max_bytes:
        raise ValidationError(rel, f"文件大小为 {size:,} 字节，超过 {max_bytes:,} 字节的上限（KEFU_MAX_FILE_BYTES）：请拆分为多个较小的文件")
    data = path.read_bytes()
    if not data.strip():
        raise ValidationError(rel, "文件为空")
    return data


def decode(data: bytes, rel: str) -> str:
    """UTF-8 only. A GBK file is the usual mistake from Windows editors: say so and how to convert."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        def hint(src: str) -> str:
            return f"请转换为 UTF-8（例如 iconv -f {src} -t UTF-8 in.md > out.md，或在编辑器中另存为 UTF-8）"

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


def parse_csv(text: str, rel: str) -> list[dict]:
    """Rows as dicts with `__line__`; a row with more cells than the header is an error."""
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        rows = list(reader)
    except csv.Error as e:
        raise ValidationError(rel, f"CSV 格式错误：{e}") from None
    return _rows_to_dicts(rows, rel, first_line=1)


def parse_xlsx(data: bytes, rel: str) -> list[dict]:
    import zipfile

    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise ValidationError(rel, f"XLSX 格式错误（请确认这确实是 .xlsx 工作簿）：{e}") from None
    ws = wb.worksheets[0]
    rows = [["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]
    wb.close()
    return _rows_to_dicts(rows, rel, first_line=1)


def _rows_to_dicts(rows: list[list[str]], rel: str, first_line: int) -> list[dict]:
    while rows and not any(c.strip() for c in rows[0]):
        rows.pop(0)
        first_line += 1
    if not rows:
        raise ValidationError(rel, "缺少表头行")
    header = [h.strip().lower() for h in rows[0]]
    while header and not header[-1]:
        header.pop()
    if len(set(header)) != len(header) or "" in header:
        raise ValidationError(rel, f"表头有空白或重复的列名：{rows[0]}", first_line)
    out = []
    for i, row in enumerate(rows[1:], start=first_line + 1):
        if not any(c.strip() for c in row):
            continue
        extra = [c for c in row[len(header):] if c.strip()]
        if extra:
            raise ValidationError(rel, f"该行有 {len(row)} 个单元格，但表头只有 {len(header)} 列", i)
        d = {h: (row[j].strip() if j < len(row) else "") for j, h in enumerate(header)}
        d["__line__"] = i
        out.append(d)
    return out
