"""FAQ spreadsheet templates for editors: the columns ingest reads, explained, with one
example row that passes validation as it stands."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    meaning: str


COLUMNS = (
    Column("id", True, "全库唯一的编号，如 LOG-101；前缀随类别：ORD、PAY、AS、ACC、LOG、MEM"),
    Column("question", True, "标准问法：用户最常见的一种说法"),
    Column("variants", False, "用户的其他问法（口语、简写、错别字），多个用 | 分隔"),
    Column("answer", True, "审核通过的标准答复，原样展示给用户"),
    Column("case", False, "所属案例：23 个案例标题之一，与服务范围文档完全一致；没有合适案例时留空"),
    Column("category", True, "六大类之一，不带序号，如 物流与配送问题"),
    Column("effective_date", True, "生效日期，格式 YYYY-MM-DD，如 2026-01-01"),
    Column("source", True, "依据，如 服务范围文档 五.1 或相关法规条款"),
    Column("sample", False, "是：答复中的数字、时限是示例内容，上线前须替换；否：已按实际政策审核"),
)

EXAMPLE = {
    "id": "LOG-901",
    "question": "快递柜取件码过期了怎么办",
    "variants": "取件码过期|柜子打不开|取件码失效了",
    "answer": "请在物流详情中重新获取取件码；无法获取时，可以联系配送员重新投递。",
    "case": "配送时间更改",
    "category": "物流与配送问题",
    "effective_date": "2026-01-01",
    "source": "服务范围文档 五.1",
    "sample": "否",
}


def faq_csv() -> bytes:
    """UTF-8 with a byte-order mark: Excel on Windows then opens the Chinese text correctly
    (and saves it back as UTF-8), which avoids the usual GBK refusal."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in COLUMNS])
    writer.writerow([EXAMPLE[c.name] for c in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def faq_xlsx() -> bytes:
    """The first sheet is what ingest reads; the column guide is on a second sheet."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "FAQ"
    sheet.append([c.name for c in COLUMNS])
    sheet.append([EXAMPLE[c.name] for c in COLUMNS])
    for cell in sheet[1]:
        cell.number_format = "@"
    guide = book.create_sheet("列说明")
    guide.append(["列名", "必填", "说明"])
    for c in COLUMNS:
        guide.append([c.name, "是" if c.required else "否", c.meaning])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
