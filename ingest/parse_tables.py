"""Parse FAQ tables (CSV, XLSX) into rows that keep their physical line.

Two spreadsheet hazards are refused here, each naming the line and the column:
- a quote left open: it swallows the following rows into one cell (an approved answer
  that silently contains other FAQs), so it is reported where it opened;
- a cell starting with = + - @: a spreadsheet runs it as a formula when the table is
  opened or exported again. An editor who means text marks it as text, the spreadsheet
  way: a leading apostrophe in CSV (removed on reading), the quote prefix in XLSX (what
  Excel stores when one types '). Formula cells of a workbook are always refused.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from core.errors import ValidationError

FORMULA_START = ("=", "+", "-", "@")
TEXT_MARK = "'"
_ID_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class _Row:
    line: int  # physical line (CSV) or sheet row (XLSX) where the row starts
    cells: list[str]
    unsafe: dict[int, str] = field(default_factory=dict)  # column -> why the cell is refused
    refs: dict[int, str] = field(default_factory=dict)  # column -> spreadsheet cell name, for messages


def _column_letter(i: int) -> str:
    name = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        name = chr(65 + rem) + name
    return name


def _formula_hint(value: str) -> str:
    return (f"以 '{value[0]}' 开头，电子表格会把它当作公式执行：请删去开头的 {value[0]}，"
            f"或在开头加一个英文单引号 ' 表示纯文本（入库时去掉）")


# --- CSV --------------------------------------------------------------------------------------------


def _open_quote(text: str) -> tuple[int, int, int] | None:
    """Where a quoted field goes wrong: (line it opened, its column, line where a stray
    closing quote was found or 0 for end of file). Only run once the csv module failed."""
    line, col, state = 1, 0, "start"
    open_line = open_col = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n" and state != "quoted":
            line, col, state = line + 1, 0, "start"
        elif state == "start":
            if ch == '"':
                state, open_line, open_col = "quoted", line, col
            elif ch == ",":
                col += 1
            elif ch != "\r":
                state = "plain"
        elif state == "plain":
            if ch == ",":
                col, state = col + 1, "start"
        elif state == "quoted":
            if ch == "\n":
                line += 1
            elif ch == '"':
                if text.startswith('"', i + 1):
                    i += 1  # "" is an escaped quote
                else:
                    state = "closed"
        elif ch == ",":  # state "closed": only a separator or the line end may follow
            col, state = col + 1, "start"
        elif ch != "\r":
            return open_line, open_col, line
        i += 1
    return (open_line, open_col, 0) if state == "quoted" else None


def _quote_error(rel: str, header: list[str], where: tuple[int, int, int] | None, raw: str) -> ValidationError:
    if where is None:
        return ValidationError(rel, f"CSV 格式错误：{raw}")
    line, col, stray = where
    name = f"'{header[col]}' 列" if col < len(header) else f"第 {col + 1} 列"
    if stray:
        cause = f"它与第 {stray} 行的引号配成了一对，中间的行都被并入了这个单元格"
    else:
        cause = "直到文件末尾都没有结束的引号，之后的行都会被并入这个单元格"
    return ValidationError(rel, f"CSV 格式错误：{name}以引号 \" 开始，但引号未闭合（{cause}）：请补上结束的引号 \"，或删去开头的引号", line)


def _swallowed_row(cell: str, width: int) -> int:
    """1-based offset of a line inside a multi-line cell that looks like a whole row of its
    own (an id, then as many separators as the header): the mark of a quote that a later
    quote happened to close cleanly. 0 when there is none."""
    for k, part in enumerate(cell.split("\n")[1:], start=1):
        first = part.split(",", 1)[0].strip()
        if part.count(",") >= width - 1 and _ID_LIKE.match(first):
            return k
    return 0


def parse_csv(text: str, rel: str) -> list[dict]:
    """Rows as dicts with `__line__` (the physical line where the row starts)."""
    first = text.split("\n", 1)[0]
    header = [h.strip().lower() for h in next(csv.reader([first]), [])]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[_Row] = []
    start = 1
    try:
        for cells in reader:
            rows.append(_csv_row(start, cells))
            start = reader.line_num + 1
    except csv.Error as e:
        raise _quote_error(rel, header, _open_quote(text), str(e)) from None
    for row in rows[1:]:
        for j, cell in enumerate(row.cells):
            k = _swallowed_row(cell, len(header))
            if k:
                line = row.line + sum(c.count("\n") for c in row.cells[:j])
                name = f"'{header[j]}' 列" if j < len(header) else f"第 {j + 1} 列"
                raise ValidationError(rel, f"CSV 格式错误：{name}的引号可能未闭合：单元格里的第 {k + 1} 行看起来是另一条 FAQ："
                                      "请检查这个单元格的引号是否成对", line)
    return _rows_to_dicts(rows, rel)


def _csv_row(line: int, cells: list[str]) -> _Row:
    unsafe: dict[int, str] = {}
    out = []
    for j, cell in enumerate(cells):
        value = cell.strip()
        if value.startswith(TEXT_MARK):
            out.append(value[1:])
            continue
        if value.startswith(FORMULA_START):
            unsafe[j] = _formula_hint(value)
        out.append(cell)
    return _Row(line, out, unsafe, {j: f"{_column_letter(j)}{line}" for j in unsafe})


# --- XLSX -------------------------------------------------------------------------------------------


def parse_xlsx(data: bytes, rel: str) -> list[dict]:
    import zipfile

    from openpyxl import load_workbook

    try:
        # Not read-only: only the full reader sees the quote prefix that marks a text cell.
        wb = load_workbook(io.BytesIO(data), data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as e:
        raise ValidationError(rel, f"XLSX 格式错误（请确认这确实是 .xlsx 工作簿）：{e}") from None
    ws = wb.worksheets[0]
    rows = []
    for r, row in enumerate(ws.iter_rows(), start=1):
        cells, unsafe, refs = [], {}, {}
        for j, c in enumerate(row):
            value = c.value
            if c.data_type == "f":
                unsafe[j], refs[j] = f"是公式（{str(getattr(value, 'text', value))[:40]}）：知识库只收文本，请把公式换成它要表达的文字", c.coordinate
            elif isinstance(value, str) and value.strip().startswith(FORMULA_START) and not c.quotePrefix:
                unsafe[j], refs[j] = _formula_hint(value.strip()), c.coordinate
            cells.append("" if value is None else str(value))
        rows.append(_Row(r, cells, unsafe, refs))
    wb.close()
    return _rows_to_dicts(rows, rel)


# --- both ---------------------------------------------------------------------------------------------


def _rows_to_dicts(rows: list[_Row], rel: str) -> list[dict]:
    while rows and not any(c.strip() for c in rows[0].cells):
        rows.pop(0)
    if not rows:
        raise ValidationError(rel, "缺少表头行")
    head = rows[0]
    header = [h.strip().lower() for h in head.cells]
    while header and not header[-1]:
        header.pop()
    if len(set(header)) != len(header) or "" in header:
        raise ValidationError(rel, f"表头有空白或重复的列名：{head.cells}", head.line)
    out = []
    for row in rows[1:]:
        if not any(c.strip() for c in row.cells):
            continue
        extra = [c for c in row.cells[len(header):] if c.strip()]
        if extra:
            raise ValidationError(rel, f"该行有 {len(row.cells)} 个单元格，但表头只有 {len(header)} 列", row.line)
        for j, why in sorted(row.unsafe.items()):
            raise ValidationError(rel, f"'{header[j]}' 列（单元格 {row.refs[j]}）{why}", row.line)
        d = {h: (row.cells[j].strip() if j < len(row.cells) else "") for j, h in enumerate(header)}
        d["__line__"] = row.line
        out.append(d)
    return out
