"""Bad KB input is refused with a one-line message naming the file (and line)."""

import pytest
from openpyxl import Workbook

from core.errors import ValidationError
from ingest.validate import load_kb


def _error(kb) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        load_kb(kb)
    assert "\n" not in str(info.value)
    return info.value


def test_tiny_kb_loads(tiny_kb):
    kb = load_kb(tiny_kb)
    assert kb.categories == ("订单相关问题", "物流与配送问题")
    assert [c.title for c in kb.cases] == ["修改或取消订单", "发票问题", "包裹丢失或损毁", "冷链商品温控异常"]
    assert kb.cases[2].passage == "scope:2.1"
    assert [f.id for f in kb.faqs] == ["T-001", "T-002", "T-003"]
    pb = kb.playbooks[0]
    assert [s.when for s in pb.situations] == ["物流显示已签收，但用户没收到", "包裹外包装严重破损"]
    assert pb.situations[0].steps[0].cites == ("faq:T-002",) and pb.situations[1].verify == ()
    assert pb.situations[0].reply.cites == ("scope:2.1", "faq:T-002") and pb.situations[0].keywords == ("签收", "没收到", "代收")
    assert kb.team_for("物流与配送问题").name == "物流配送组" and kb.team_for("支付与退款问题").name == "综合服务台"
    assert "冷链" in kb.words and ("快递", "包裹", "物流") in kb.synonyms


def test_gbk_file_is_named_with_a_conversion_hint(tiny_kb):
    (tiny_kb / "faqs" / "gbk.yaml").write_bytes("- id: G-1\n  question: 退货运费谁出\n".encode("gbk"))
    err = _error(tiny_kb)
    assert err.source == "faqs/gbk.yaml"
    assert "GBK" in str(err) and "UTF-8" in str(err) and "iconv" in str(err)


def test_empty_file(tiny_kb):
    (tiny_kb / "faqs" / "empty.yaml").write_text("  \n", encoding="utf-8")
    assert "文件为空" in str(_error(tiny_kb))


def test_oversized_file(tiny_kb):
    (tiny_kb / "faqs" / "big.yaml").write_text("#" * 3_000_000, encoding="utf-8")
    assert "上限" in str(_error(tiny_kb))


def test_duplicate_faq_id_names_both_places(tiny_kb):
    text = (tiny_kb / "faqs" / "faq.yaml").read_text(encoding="utf-8")
    (tiny_kb / "faqs" / "more.yaml").write_text(text.split("- id: T-002")[0], encoding="utf-8")
    err = _error(tiny_kb)
    assert "FAQ 编号 'T-001' 重复" in str(err) and "faqs/faq.yaml 第 1 行" in str(err)


def test_unknown_case_in_faq_names_the_line(tiny_kb):
    p = tiny_kb / "faqs" / "faq.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace("case: 冷链商品温控异常", "case: 冷链异常"), encoding="utf-8")
    err = _error(tiny_kb)
    assert err.line == 23 and "未知的案例 '冷链异常'" in str(err)  # the `case:` line itself


def test_playbook_citing_a_missing_passage(tiny_kb):
    p = tiny_kb / "playbooks" / "lost.yaml"
    text = p.read_text(encoding="utf-8")
    p.write_text(text.replace("cites: [faq:T-002]\n      - text: 仍未", "cites: [faq:T-999]\n      - text: 仍未"), encoding="utf-8")
    err = _error(tiny_kb)
    assert err.source == "playbooks/lost.yaml" and err.line == 16 and "faq:T-999" in str(err)
    p.write_text(text.replace("cites: [scope:2.1, faq:T-002]", "cites: [scope:2.1, faq:T-404]"), encoding="utf-8")
    err = _error(tiny_kb)
    assert err.line == 21 and "faq:T-404" in str(err)  # a situation's reply cites like any step


STEP = "      - text: {}\n        cites: [scope:2.1]\n"


@pytest.mark.parametrize("old, new, line, message", [
    # The old flat layout: checks and steps belong to a situation.
    ("situations:\n", "verify:\n  - text: 核实。\n    cites: [scope:2.1]\nsituations:\n", 8, "未知字段 'verify'：核实项和处理步骤须写在 situations"),
    ("    steps:\n      - text: 请用户确认", "    steps:\n" + "".join(STEP.format(f"第{n}步。") for n in range(5)) + "      - text: 请用户确认",
     9, "有 8 项核实和步骤，超过 6 项"),
    ("      - text: 仍未找到时启动理赔程序。", "      - text: 核实订单号和签收记录是否一致。", 17, "与第 12 行的「核实订单号和签收记录。」重复"),
    ("    keywords: [破损, 破了, 压坏]\n", "", 22, "情形「包裹外包装严重破损」缺少 keywords"),
    ("    reply:\n      text: 收到您反映", "    reply:\n      txt: 收到您反映", 30, "情形的 'reply'缺少 'text'"),
    ("    keywords: [签收, 没收到, 代收]\n", "    keywords: [签收]\n    notes: 备注\n", 11, "情形中有未知字段 'notes'"),
    ("  - when: 包裹外包装严重破损", "  - when: 物流显示已签收，但用户没收到", 22, "情形「物流显示已签收，但用户没收到」出现了两次"),
])
def test_playbook_situations_are_checked_with_file_and_line(tiny_kb, old, new, line, message):
    p = tiny_kb / "playbooks" / "lost.yaml"
    text = p.read_text(encoding="utf-8")
    assert old in text
    p.write_text(text.replace(old, new, 1), encoding="utf-8")
    err = _error(tiny_kb)
    assert err.source == "playbooks/lost.yaml" and err.line == line and message in str(err), str(err)


def test_a_situation_without_a_reply(tiny_kb):
    p = tiny_kb / "playbooks" / "lost.yaml"
    text = p.read_text(encoding="utf-8")
    p.write_text(text.replace("    reply:\n      text: 收到您反映的包裹破损情况，请把外包装和商品的照片发给我，我们会为您启动理赔程序。\n      cites: [scope:2.1]\n", ""),
                 encoding="utf-8")
    err = _error(tiny_kb)
    assert err.line == 22 and "情形缺少 'reply'" in str(err)


@pytest.mark.parametrize("teams, line, message", [
    (None, None, "缺少转人工团队表"),
    ("订单相关问题 订单服务组 订单号\n", None, "缺少 '通用' 一行"),
    ("通用 综合服务台 订单号\n售后 售后组 订单号\n", 2, "未知的分类 '售后'"),
    ("通用 综合服务台\n", 1, "每行的格式必须为"),
    ("通用 综合服务台 订单号\n通用 另一个台 订单号\n", 2, "类别 '通用' 出现了两次"),
])
def test_every_escalation_needs_a_team(tiny_kb, teams, line, message):
    p = tiny_kb / "dict" / "teams.txt"
    if teams is None:
        p.unlink()
    else:
        p.write_text(teams, encoding="utf-8")
    err = _error(tiny_kb)
    assert err.source == "dict/teams.txt" and err.line == line and message in str(err), str(err)


def test_playbook_naming_an_unknown_case(tiny_kb):
    p = tiny_kb / "playbooks" / "lost.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace("case: 包裹丢失或损毁", "case: 包裹丢了"), encoding="utf-8")
    assert "未知的案例 '包裹丢了'" in str(_error(tiny_kb))


def test_malformed_yaml_reports_line(tiny_kb):
    (tiny_kb / "faqs" / "bad.yaml").write_text("- id: B-1\n  question: [unclosed\n  answer: x\n", encoding="utf-8")
    err = _error(tiny_kb)
    assert "YAML 格式错误" in str(err) and err.line is not None


def test_malformed_front_matter(tiny_kb):
    (tiny_kb / "docs").mkdir()
    (tiny_kb / "docs" / "policy.md").write_text("---\ncase: [x\n---\n# 标题\n正文。\n", encoding="utf-8")
    assert "YAML 格式错误" in str(_error(tiny_kb))


HEADER = "id,question,variants,answer,case,category,effective_date,source,sample\n"


def test_csv_faqs_import_like_yaml(tiny_kb):
    (tiny_kb / "faqs" / "extra.csv").write_text(
        HEADER + "C-001,发票抬头开错了怎么办？,抬头错了|发漂开错,可以在订单详情页申请换开发票。,发票问题,订单相关问题,2026-02-01,服务范围文档 一.2,是\n",
        encoding="utf-8")
    faq = next(f for f in load_kb(tiny_kb).faqs if f.id == "C-001")
    assert faq.variants == ("抬头错了", "发漂开错") and faq.sample is True and faq.case == "发票问题" and faq.line == 2


def test_malformed_csv_row_names_the_line(tiny_kb):
    (tiny_kb / "faqs" / "extra.csv").write_text(HEADER + "C-1,问,,答,发票问题,订单相关问题,2026-02-01,来源,否,多余\n", encoding="utf-8")
    err = _error(tiny_kb)
    assert err.source == "faqs/extra.csv" and err.line == 2


def test_xlsx_faqs_import_and_validate(tiny_kb):
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER.strip().split(","))
    ws.append(["X-001", "冷链包裹坏了怎么办？", "冻品化了", "请拍照后联系客服。", "冷链商品温控异常", "物流与配送问题", "2026-03-01", "服务范围文档 二.2", "否"])
    wb.save(tiny_kb / "faqs" / "sheet.xlsx")
    assert any(f.id == "X-001" and f.file == "faqs/sheet.xlsx" for f in load_kb(tiny_kb).faqs)

    ws.append(["X-002", "问题", "", "答案", "不存在的案例", "物流与配送问题", "2026-03-01", "来源", "否"])
    wb.save(tiny_kb / "faqs" / "sheet.xlsx")
    err = _error(tiny_kb)
    assert err.source == "faqs/sheet.xlsx" and err.line == 3


def test_broken_xlsx(tiny_kb):
    (tiny_kb / "faqs" / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    assert "XLSX 格式错误" in str(_error(tiny_kb))


def test_bad_date_and_unknown_field(tiny_kb):
    p = tiny_kb / "faqs" / "faq.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace("2026-01-01", "2026-13-01", 1), encoding="utf-8")
    assert "effective_date" in str(_error(tiny_kb))
    p.write_text(p.read_text(encoding="utf-8").replace("2026-13-01", "2026-01-01").replace("sample: false", "smaple: false", 1), encoding="utf-8")
    assert "未知的 FAQ 字段：smaple" in str(_error(tiny_kb))


def test_unsupported_file_type(tiny_kb):
    (tiny_kb / "faqs" / "notes.docx").write_bytes(b"x")
    assert "不支持此文件类型" in str(_error(tiny_kb))


def test_disabled_passages_are_validated_and_left_out_of_search(shipped_kb):
    from ingest.split import split_kb
    from ingest.train import phrasings

    (shipped_kb / "dict" / "disabled.txt").write_text("# 停用\nfaq:LOG-007\nscope:5.3\n", encoding="utf-8")
    kb = load_kb(shipped_kb)
    assert kb.disabled == ("faq:LOG-007", "scope:5.3")
    assert any(f.id == "LOG-007" for f in kb.faqs)  # kept in the KB: playbooks may still cite it
    passages = {c.passage for c in split_kb(kb)}
    assert "faq:LOG-007" not in passages and "scope:5.3" not in passages and "faq:LOG-001" in passages
    assert not any(p.passage in ("faq:LOG-007", "scope:5.3") for p in phrasings(kb))
    (shipped_kb / "dict" / "disabled.txt").write_text("faq:LOG-404\n包裹\n", encoding="utf-8")
    with pytest.raises(ValidationError) as err:
        load_kb(shipped_kb)
    assert (err.value.source, err.value.line) == ("dict/disabled.txt", 2) and "不是可停用的段落编号" in err.value.detail
    (shipped_kb / "dict" / "disabled.txt").write_text("faq:LOG-404\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="停用的段落 'faq:LOG-404' 不存在"):
        load_kb(shipped_kb)


@pytest.mark.parametrize("lines, line, message", [
    ("以旧换新和回收\n", 1, "每行的格式必须为 '主题 词、词'"),
    ("以旧换新和回收 回收、旧\n", 1, "词 '旧' 太短"),
    ("# 注释\n以旧换新和回收 回收\n包裹 签收\n", 3, "「包裹」的词 '签收' 出现在 FAQ T-002 的问法中"),
])
def test_an_uncovered_topic_needs_words_and_no_faq_answering_it(tiny_kb, lines, line, message):
    (tiny_kb / "dict" / "uncovered.txt").write_text(lines, encoding="utf-8")
    err = _error(tiny_kb)
    assert err.source == "dict/uncovered.txt" and err.line == line and message in str(err), str(err)


def test_uncovered_topics_load_with_their_words(tiny_kb):
    (tiny_kb / "dict" / "uncovered.txt").write_text("以旧换新和回收 以旧换新、回收，估价\n", encoding="utf-8")
    assert load_kb(tiny_kb).uncovered == (("以旧换新和回收", ("以旧换新", "回收", "估价")),)
