from core.privacy import mask_personal_data
from core.text import Lexicon, normalize, pack_sentences, split_sentences, tokenize


def test_tokenize_splits_chinese_into_several_tokens():
    tokens = tokenize("七天无理由退货")
    assert len(tokens) > 1
    assert "退货" in tokens


def test_normalize_full_width_traditional_and_space():
    assert normalize("我的訂單　怎麼還沒發貨？ＡＢＣ１２３") == "我的订单 怎么还没发货?abc123"
    assert normalize("  a\t\nb  ") == "a b"
    assert normalize("x" * 10_000, max_chars=500) == "x" * 500


def test_split_sentences_keeps_punctuation_and_handles_ascii_forms():
    assert split_sentences("先核实。再处理！可以吗?好;结束") == ["先核实。", "再处理！", "可以吗?", "好;", "结束"]
    assert split_sentences("第一行\n第二行") == ["第一行", "第二行"]


def test_pack_sentences_keeps_sentences_whole_up_to_the_limit():
    pieces = pack_sentences(["一二三。", "四五六。", "七八九十十一十二。"], max_chars=9)
    assert pieces == ["一二三。四五六。", "七八九十十一十二。"]


def test_pack_sentences_cuts_a_sentence_longer_than_the_limit_at_a_comma_or_the_limit():
    assert pack_sentences(["一二三四五，六七八九十"], max_chars=8) == ["一二三四五，", "六七八九十"]
    assert pack_sentences(["一二三四五六七八九十"], max_chars=4) == ["一二三四", "五六七八", "九十"]


def test_lexicon_keeps_domain_words_and_folds_synonyms():
    lex = Lexicon(words=["价保"], synonyms=[("快递", "包裹", "物流")])
    assert "价保" in lex.tokenize("价保怎么申请")
    assert lex.tokenize("包裹丢了") [0] == "快递"
    assert "快递" in lex.tokenize("物流不动了")


def test_mask_personal_data():
    text = "手机13812345678，身份证11010119900307123X，卡号6222 0212 3456 7890 123，电话138-1234-5678，订单号 2345678"
    assert mask_personal_data(text) == (
        "手机138****5678，身份证110101********123X，卡号6222 **** **** 0123，电话138****5678，订单号 2345678"
    )
