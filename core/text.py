"""All Chinese text handling: normalisation, sentence splitting, tokenisation, synonyms,
and the chat-system noise of customer messages.

Everything that segments or compares Chinese text goes through here, so that the index
and the queries are processed by exactly the same rules.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

_WS = re.compile(r"\s+")
_CTRL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\ufeff]")
# Sentence ends: Chinese and (after NFKC) ASCII forms; a newline also ends a sentence.
_SENT_END = re.compile(r"(?<=[。！？；!?;])|\n+")
_TAG = re.compile(r"<[^>]{0,200}>")
_PUNCT_ONLY = re.compile(r"^[\W_]+$")
_ENGLISH_WORD = re.compile(r"[a-z]+")
_HAS_WORD = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")

STOPWORDS = frozenset(
    """的 了 吗 呢 吧 啊 呀 哦 嘛 么 是 我 你 他 她 它 我们 你们 在 有 和 与 及 或 就 都 也 还 又 被 把 给
    这 那 这个 那个 怎么 怎么办 怎样 如何 为什么 什么 啥 咋 咋办 能 能不能 可以 可不可以 请问 一下 一直
    想 要 会 让 用 对 从 到 个 上 下 中 里 后 前 吗 么 呐 哈 嗯 哎 诶 请 帮 帮忙 帮我 麻烦 谢谢 您好 你好
    客服 用户 客户 顾客 称 说 问 反馈 处理 操作 应该 需要 the a an to of is my i""".split()
)


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_input(text: str) -> str:
    """Text from outside (argv, stdin, a request) as valid Unicode. Python hands over
    undecodable argv bytes as lone surrogates ("\\udcff"), which tokenizers and UTF-8
    output reject: decode those bytes with replacement (U+FFFD), like any other bad byte."""
    if not text or not _SURROGATE.search(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # surrogates that never were bytes (e.g. from JSON "\ud800")
        return _SURROGATE.sub("\ufffd", text)


@functools.lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


def normalize(text: str, max_chars: int | None = None) -> str:
    """Canonical form for matching: NFKC (full-width -> half-width), simplified Chinese,
    no control characters, single spaces, lower-case Latin, capped length."""
    if not text:
        return ""
    text = clean_input(text)
    if max_chars is not None:
        # Cap before the expensive steps so a pasted essay costs no more than a question.
        text = text[: max_chars * 2]
    text = unicodedata.normalize("NFKC", text)
    text = _CTRL.sub("", text)
    text = _t2s().convert(text)
    text = _WS.sub(" ", text).strip().lower()
    if max_chars is not None:
        text = text[:max_chars]
    return text


def strip_markup(text: str) -> str:
    """Drop HTML/XML-like tags so `<script>` noise does not reach retrieval."""
    return _TAG.sub(" ", text)


def has_content(text: str) -> bool:
    """True when the text has at least one Chinese character, letter or digit."""
    return bool(_HAS_WORD.search(text or ""))


def split_sentences(text: str) -> list[str]:
    """Split at 。！？； (and their ASCII forms) and line breaks, keeping the punctuation."""
    parts = (p.strip() for p in _SENT_END.split(text or ""))
    return [p for p in parts if p]


def pack_sentences(sentences: Sequence[str], max_chars: int) -> list[str]:
    """Greedily pack whole sentences into pieces of at most `max_chars`.

    A sentence longer than that (pasted text without sentence ends) is cut at its last
    comma or space within the limit, else at the limit: every character lands in a piece
    the embedder sees whole, instead of one giant chunk of which it reads the first 512 tokens.
    """
    pieces: list[str] = []
    current = ""
    for sentence in sentences:
        for s in _cut(sentence, max_chars):
            if current and len(current) + len(s) > max_chars:
                pieces.append(current)
                current = s
            else:
                current += s
    if current:
        pieces.append(current)
    return pieces


_SOFT_BREAKS = "，、,:： "


def _cut(sentence: str, max_chars: int) -> list[str]:
    out = []
    start = 0
    while len(sentence) - start > max_chars:
        window = sentence[start:start + max_chars]
        soft = max(window.rfind(c) for c in _SOFT_BREAKS)
        end = start + (soft + 1 if soft >= max_chars // 2 else max_chars)
        out.append(sentence[start:end])
        start = end
    out.append(sentence[start:])
    return out


class Lexicon:
    """The KB's domain words and synonym groups, with a jieba tokenizer that knows them.

    Synonyms map to the first word of their group on both the index and the query side,
    so "快递", "包裹" and "物流" match each other lexically.
    """

    def __init__(self, words: Iterable[str] = (), synonyms: Iterable[Sequence[str]] = ()):
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self.words = sorted({w for w in words if w})
        self.synonyms = [list(g) for g in synonyms if len(g) >= 2]
        # Normalised once: with_synonyms runs on every question.
        self._groups = [(normalize(g[0]), [normalize(w) for w in g]) for g in self.synonyms]
        self._canon: dict[str, str] = {}
        for group in self.synonyms:
            for w in group:
                self._canon.setdefault(normalize(w), normalize(group[0]))
        # English words in a synonym group are rewritten to the group's Chinese word before
        # both searches: "refund 啥时候到" should mean "退款 啥时候到" to the embedder too.
        self._english = {w: c for w, c in self._canon.items() if w.isascii() and w.isalpha() and not c.isascii()}
        self._jieba = jieba.Tokenizer()
        for w in [*self.words, *self._canon]:
            # A high frequency makes jieba keep the domain word whole.
            self._jieba.add_word(normalize(w), freq=20000)
        self._jieba.initialize()

    def rewrite(self, text: str) -> str:
        """Replace known English words in normalised text with their Chinese synonym."""
        if not self._english:
            return text
        return _ENGLISH_WORD.sub(lambda m: self._english.get(m.group(0), m.group(0)), text)

    def with_synonyms(self, tokens: Iterable[str]) -> list[str]:
        """Tokens plus every word of their synonym groups, longest first: what a reader
        should see marked in a cited passage."""
        terms = set(tokens)
        for head, group in self._groups:
            if head in terms:
                terms.update(group)
        return sorted(terms, key=lambda t: (-len(t), t))

    def canonical(self, token: str) -> str:
        return self._canon.get(token, token)

    def tokenize(self, text: str) -> list[str]:
        """Search-mode jieba tokens of normalised text, synonyms folded, stop words and
        punctuation dropped. Long words also yield their parts ("七天无理由退货" -> 七天, 退货 ...)."""
        tokens = []
        for tok in self._jieba.cut_for_search(normalize(text)):
            tok = tok.strip()
            if not tok or tok in STOPWORDS or _PUNCT_ONLY.match(tok):
                continue
            tokens.append(self.canonical(tok))
        return tokens


@functools.lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """A lexicon with no KB words, for callers that only need segmentation."""
    return Lexicon()


def tokenize(text: str) -> list[str]:
    return default_lexicon().tokenize(text)


def char_grams(text: str) -> set[str]:
    """The characters and adjacent character pairs of the normalised text, spaces dropped: what
    the lexical classifier reads. It hears 想买 apart from 买的 where the embedding mostly hears
    the product; a pair needs no segmentation, so a typo or an unknown word still counts."""
    t = normalize(text).replace(" ", "")
    return set(t) | {t[i:i + 2] for i in range(len(t) - 1)}


# --- Chat messages: system noise, clauses, follow-ups ------------------------------------------
#
# A message pasted from a chat front end carries the chat system's own text: greetings, robot
# menu clicks, pasted order cards, "转人工", desensitisation placeholders, repeated lines and
# emoji. Searching on them drags the embedding towards whatever the noise resembles, so they
# are cut out before retrieval; what they say (there is an order to look up, the customer
# wants a human) is kept as signals.

_PLACEHOLDER_NAMES = "数字|金额|订单编号|订单号|姓名|地址|电话|手机号|站点|组织机构|邮箱|身份证号|时间|日期|链接|表情|图片|USERID_\\d*"
_PLACEHOLDER = re.compile(rf"\[(?:{_PLACEHOLDER_NAMES})[x\d]*\]")
_PLACEHOLDER_CUT = re.compile(rf"\[(?:{_PLACEHOLDER_NAMES}|数|订单|订单编|USERI)?[x\d]*$")  # cut at the line limit
# How a placeholder reads inside a sentence: "[数字]号送到吗" still asks about a day.
_PLACEHOLDER_WORD = {"数字": "几", "金额": "几元", "订单编号": "订单", "订单号": "订单", "地址": "地址", "电话": "电话",
                     "手机号": "手机号", "组织机构": "公司", "邮箱": "邮箱", "身份证号": "身份证号"}
_P = r"[\s,.!?~，。！？～、…:：;；'\"“”‘’()（）【】\[\]<>《》\-_=+*#@&^%$`|/\\]*"
_GREETING = re.compile(
    rf"^{_P}(?:(?:你好|您好|你们好|hi|hello|hey|哈喽|嗨|亲|在吗|在么|在嘛|在不|在不在|在线吗|还在吗|在|有人吗|有人在吗|"
    rf"早上好|上午好|中午好|下午好|晚上好|客服|美女|小姐姐|请问|人呢|还有人吗|人去哪了|怎么不回(?:复|答|话)?了?|怎么没人回(?:复|答)?){_P})+$", re.I)
_LEADING_GREETING = re.compile(r"^(?:(?:你好(?![像象])|您好|你们好|hi|hello|哈喽|亲|亲亲|在吗|在么|有人吗)(?:[,，。!！?？~～\s]+|(?=[\u4e00-\u9fff])))+", re.I)
_HUMAN = re.compile(
    rf"^{_P}(?:我要|我想|请|帮我|麻烦)?(?:转接?|找|接)?(?:人工|人工服务|人工客服|真人|在线客服)(?:服务|客服)?(?:吗|呢|啊)?{_P}$"
    rf"|^{_P}(?:是人工吗|是机器人吗|你是机器人吗|是真人吗){_P}$"
    # Asking how to reach customer service is asking for a human: the chat can hand over.
    rf"|^{_P}(?:请问)?(?:京东)?(?:的)?(?:人工)?客服(?:的)?(?:电话|热线)(?:号码?)?(?:是)?(?:多少|几号)?(?:呢|啊|吗)?{_P}$"
    rf"|^{_P}(?:请问)?怎么(?:样)?(?:才能)?(?:联系|找|转|打)(?:到)?(?:人工|客服|人工客服)(?:电话)?(?:呢|啊|吗)?{_P}$")
_HUMAN_INLINE = re.compile(r"(?:我要|我想|请|麻烦)?转人工(?:服务|客服)?[,，。!！]?")
# Robot-menu buttons ("订单业务咨询") and the prompt to pick an order: the topic is a hint, not a question.
_MENU = re.compile(rf"^{_P}(?:订单业务|订单类?|返修退换货|退换货|售后|配送|物流|发票类?|商品信息|商品|账户[与及]财务|账户|会员权益|会员|"
                   rf"少件|支付|退款|价保|白条|企业采购)咨询{_P}$|^{_P}(?:请)?选择(?:您)?(?:要|想)?(?:咨询|查询)?的?(?:订单|商品|服务单){_P}$"
                   # The entry the chat was opened from ("京东快递(移动端)"): a channel, not a question.
                   rf"|^{_P}京东(?:快递|物流|商城|到家|超市|国际|客服)?[(（](?:移动端|手机端|PC端|网页端|电脑端|APP|app|微信|小程序)[)）]{_P}$", re.I)
# Words with no question in them: a lead-in, a bare "this order", a plain "ok", thanks or a
# goodbye ("好的，谢谢" is one piece: the words repeat). Each word can be read one way only (no
# "嗯+" inside the repeat, no "?" that the punctuation also takes): an ambiguous repeat
# backtracks exponentially on a long piece that fails at its end.
_LOOK = r"(?:那我|我)?(?:先|再|去|自己)?(?:看看|找找|查查|试试|等等看?|看一下|试一下)"  # "I'll have a look"
# "已经评价了", "五星好评": the customer closing the chat after rating it, not asking about reviews.
_RATED = (r"(?:我|都)*(?:已经?)?(?:给(?:你|您)?)?(?:打了?)?(?:五星|满分)?(?:好评|评价|评分)(?:过|完)?(?:了|啦)(?:哦|哈)?"
          r"|已经?(?:好评|评价|评分)(?:过|完)?|(?:五星)?好评(?:五星)?|(?:五|\[数字[x\d]*\]|\d)星(?:好评)?|满分")
_FILLER = re.compile(rf"^{_P}(?:(?:我有(?:个|一个)?(?:别的|其他|其它)?问题(?:要|想)?(?:咨询|问一下|问下)?|我想(?:咨询|问)(?:一下|下)?|"
                     rf"问一下|问下|咨询一下|(?:这个|这|此|我的|我这个)订单(?:呢|啊)?|在线等|急|好的?|好吧|好了|好滴|好嘞|好(?:啊|呀|哒)|行吧?|行啊|那(?:好吧?|好的|行吧?)|我?(?:知道了|明白了)|了解了?|懂了|收到了?|没事了|没有了|没了|没有?(?:别的|其他|其它)(?:事|问题)了?|可以了?|不用了|(?:那就?)?算了(?:吧|算了)?|"
                     rf"稍等(?:一下)?|等一下|等下|{_LOOK}|{_RATED}|这个|那个|"
                     rf"嗯呢?|恩|哦|噢|是的?|对的?|ok|okay|谢谢(?:你|您|啊|了|啦)?|谢了|谢啦|多谢|感谢|辛苦(?:了|啦)?|麻烦(?:你|您)?了|再见|拜拜){_P})+$", re.I)
# What a message of such words alone says back: thanks or goodbye, a plain "ok", or "no, not that".
_THANKS = re.compile(r"谢|辛苦|麻烦(?:你|您)?了|再见|拜拜|没有了|没了|没有?(?:别的|其他|其它)|不用了|评|五星|满分")
_ACK = re.compile(rf"^{_P}(?:好|行|嗯|恩|哦|噢|是|对|ok|可以|我?知道|我?明白|了解|懂|收到|稍等|等|没事|那(?:好|行)|(?:那就?)?算了|{_LOOK})", re.I)
_CORRECTION = re.compile(rf"^{_P}(?:不是|不对|不是的|不是这个|不是这样的?|答非所问){_P}$")
_ORDER_CARD = re.compile(
    r"(?:顾客通过点击\S*?信息发送[:：]?)?"
    r"(?:(?:咨询|查询)?[子父主]?订单(?:(?:编号|号)[:：]?|[:：])\s*(?:\[(?:订单编号|数字)[x\d]*\]|\d{6,})|\[订单编号[:：][^\]]*\]?\]?)"
    r"(?:[,，]?\s*订单金额[:：]?\s*(?:\[金额[x\d]*\]|[\d.]+元?))?(?:[,，]?\s*下单时间[:：]?\s*(?:\[[^\]]*\]|[\d\-: ]+))?\]?"
    r"(?:\s*商品(?:ID|编号)[:：]?\s*\d+)?")
# A card's other fields when the front end puts each on its own line.
_CARD_FIELD = re.compile(r"^(?:订单|实付|支付)?(?:金额|下单时间|付款时间|数量)[:：]\s*(?:\[[^\]]*\]|[\d.\-: ]+元?)?$")
_WAYBILL = re.compile(r"(?:京东)?(?:运单|快递单|物流单)号?(?:码)?[:：]?\s*(?:\[[^\]]*\]|[A-Za-z]{0,4}\d{6,})")
_NUMBER_BEFORE_ORDER = re.compile(r"\[数字[x\d]*\]\s*(?=(?:这个|这一?|此)?订单)")  # "[数字]这个订单": an order number
_SERVICE_ORDER = re.compile(r"(?:售后)?服务单号?[:：]?\s*(?:\[[^\]]*\]|\d{4,})")
_LINK = re.compile(r"(?:https?:/{0,2}|www\.)[^\s\u4e00-\u9fff]*|(?:item\.|m\.)*jd\.com[^\s\u4e00-\u9fff]*", re.I)
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F\u200d]|\\[表情[x\\d]*\\]|/:[a-z]{1,8}", re.I)
_REPEATED_PUNCT = re.compile(r"([?？!！。.，,~～])\1+")
_LONG_NUMBER = re.compile(r"(?<![\d.])\d{7,}(?![\d.])")  # phone, order or card numbers: data, not meaning
_REPEATED_CHAR = re.compile(r"([^\W\d_])\1{3,}")  # "啊啊啊啊…" carries no meaning but drowns the words
# "M号", "XL号": a clothing size, not an account ("账号"); "M码" alone still reads as a code, so
# it is said in full ("M尺码").
_SIZE = re.compile(r"(?<![A-Za-z])([Xx]{0,4}[SsLl]|[Mm]|[Xx]{1,4})号")
# Order or waybill numbers alone ("JD1234567"); a word such as "iPhone" is not one.
_ONLY_NUMBERS = re.compile(rf"^{_P}(?:[A-Za-z]{{0,4}}(?:\[[^\]]*\]|\d+)[A-Za-z]{{0,2}}{_P})+$")
_WORDY = re.compile(r"[\u4e00-\u9fffA-Za-z]")


@dataclass(frozen=True)
class ChatSignals:
    """What the chat system's text said, once cut out of a message."""

    has_order: bool = False  # an order card, order, service-order or waybill number: there is something to look up
    has_amount: bool = False
    has_link: bool = False  # a pasted product or page link: there is a product to ask about
    wants_human: bool = False
    greeting: bool = False
    menu: bool = False  # a robot-menu click or "choose an order" prompt
    thanks: bool = False  # thanks or a goodbye
    ack: bool = False  # a plain "ok", "稍等"
    correction: bool = False  # "不是": the last answer missed
    number: bool = False  # a bare number or code: after a question, most likely the one asked about
    repeated: int = 0  # lines dropped as repeats


_FLAGS = tuple(f.name for f in fields(ChatSignals) if isinstance(f.default, bool))  # set while cleaning


@dataclass(frozen=True)
class CleanMessage:
    text: str  # what is left to search on; empty when the message held no question
    signals: ChatSignals


def _placeholders_as_words(text: str) -> str:
    def word(m: re.Match) -> str:
        return _PLACEHOLDER_WORD.get(re.sub(r"[x\d]+$", "", m.group(0)[1:-1]), "")

    return _PLACEHOLDER_CUT.sub("", _PLACEHOLDER.sub(word, text))


def clean_message(text: str) -> CleanMessage:
    """Cut chat-system noise out of a customer message, keeping what it signals."""
    t = _EMOJI.sub(" ", unicodedata.normalize("NFKC", text or ""))
    flags = dict.fromkeys(_FLAGS, False)
    kept: list[str] = []
    seen: set[str] = set()
    repeated = 0
    for segment in t.split():
        if "订单金额" in segment or "[金额" in segment:
            flags["has_amount"] = True
        for pattern, flag in ((_LINK, "has_link"), (_SERVICE_ORDER, "has_order"), (_WAYBILL, "has_order"), (_ORDER_CARD, "has_order")):
            if pattern.search(segment):
                segment = pattern.sub(" ", segment)
                if flag:
                    flags[flag] = True
        segment, numbered = _NUMBER_BEFORE_ORDER.subn("", segment)
        flags["has_order"] |= numbered > 0
        if "[订单编号" in segment:
            flags["has_order"] = True
            segment = re.sub(r"订单(?:编?号)?[:：]?\s*(?=\[订单编号)", "", segment)
        if _HUMAN_INLINE.search(segment):
            flags["wants_human"] = True
            segment = _HUMAN_INLINE.sub(" ", segment)
        for piece in segment.split():
            if _HUMAN.match(piece):
                flags["wants_human"] = True
                continue
            if _GREETING.match(piece):
                flags["greeting"] = True
                continue
            if _MENU.match(piece):
                flags["menu"] = True
                continue
            if _FILLER.match(piece):
                flags["thanks"] |= bool(_THANKS.search(piece))
                flags["ack"] |= bool(_ACK.match(piece))
                continue
            if _CORRECTION.match(piece):
                flags["correction"] = True
                continue
            if _CARD_FIELD.match(piece):
                flags["has_amount"] |= "金额" in piece
                continue
            if _ONLY_NUMBERS.match(piece):
                flags["has_order"] |= "订单" in piece
                flags["number"] = True
                continue
            lead = _LEADING_GREETING.match(piece)
            if lead and lead.end() < len(piece):
                flags["greeting"] = True
                piece = piece[lead.end():]
                if _FILLER.match(piece):  # "你好我想问下": still no question
                    continue
            piece = _REPEATED_CHAR.sub(r"\1", _REPEATED_PUNCT.sub(r"\1", _placeholders_as_words(_LONG_NUMBER.sub("", piece))))
            piece = _SIZE.sub(r"\1尺码", piece)
            piece = piece.strip(" ,，、:：;；")
            if not _WORDY.search(piece):
                continue
            key = re.sub(r"[\W_]+", "", piece)
            if key in seen:
                repeated += 1
                continue
            seen.add(key)
            kept.append(piece)
    return CleanMessage(" ".join(kept), ChatSignals(**flags, repeated=repeated))


# An FAQ about undoing a return or a request ("退货申请不想退了，能撤销吗", "我没申请退货…") and a
# customer asking to make one ("我想退货"): e5 reads the two alike, negation and all.
_UNDO = re.compile(r"撤销|撤回|撤了|不想(?:退|换)|不(?:退|换)了|后悔|点错|误点|不小心点|没有?申请|不是我申请")
_DO_RETURN = re.compile(r"(?:想|要|怎么|如何|咋|申请|能不能|能|可以)(?:退|换)")


def undoes_the_ask(faq_question: str, query: str) -> bool:
    """The FAQ undoes (or disowns) the return or request the query asks to make."""
    return bool(_UNDO.search(faq_question or "")) and not _UNDO.search(query or "") and bool(_DO_RETURN.search(query or ""))


_PUZZLED = re.compile(r"^\s*(?:(?:嗯|啊|额|呃|哈|啥|什么|怎么了)?\s*[?？]+|[…]+|\.{3,})\s*$")


def is_puzzled(text: str) -> bool:
    """"??", "嗯?", "啥?", "……": mid-chat, the customer did not follow the last answer or is waiting."""
    return bool(_PUZZLED.match(text or ""))


# Words that open a new topic in a running conversation ("另外…", "还有个事…").
_CONNECTIVE = r"(?:还有(?:个事|就是|一个问题|个问题)?|另外|顺便(?:问一下|问下)?|而且|并且|再就是|再问(?:一下|下)?|还想问(?:一下)?|对了|以及|同时)"
_CLAUSE_BREAK = re.compile(rf"[,，。.!！?？;；\s]+|(?={_CONNECTIVE})")
_MIN_CLAUSE = 4  # shorter pieces ("一包", "急") belong to their neighbour


# Opening a new topic takes an explicit word: a bare "还有别的办法没" still asks about the last
# one, and "另一个呢" asks about the other of the things just named ("另一单能改地址吗" does not).
_MOVE_ON = r"另外|顺便|对了|再问(?:一下|下)?|还想问|还有(?:个|一个|件)(?:事|问题)|还有就是|再就是"
_NEW_TOPIC = re.compile(rf"^{_P}(?:{_MOVE_ON}|另一[单个件](?![^\s,，。]{{0,4}}[呢吗]{_P}$))")
# Words that join two issues in one message ("…，另外…", "…，发票也…").
_SEVERAL = re.compile(r"另外|还有|顺便|再就是|以及|同时|对了|还想问|而且|另一[单个件]|然后(?:我?(?:想|要|还)|帮我|再)")
_ANAPHORIC = re.compile(r"^(?:那|这个|它|还能|还可以|又)")


def split_issues(text: str) -> list[str]:
    """The issues a message raises, in order: a new one starts at a clause that opens with a
    joining word (另外, 还有, 顺便, 而且, 另一单, 然后我想 …) or has 也 near its start; the
    clauses between belong to the issue before them ("买的牛排到了是软的 都化冻了" is one)."""
    issues: list[list[str]] = []
    for piece in _CLAUSE_BREAK.split(text or ""):
        piece = (piece or "").strip()
        body = re.sub(rf"^{_CONNECTIVE}", "", piece).strip()
        if not body:
            continue
        if issues and (len(body) < _MIN_CLAUSE or not (_SEVERAL.match(piece) or "也" in piece[:6])):
            issues[-1].append(body)
        else:
            issues.append([body])
    if len(issues) >= 2 and len("".join(issues[0])) < _MIN_CLAUSE:
        issues[:2] = [issues[0] + issues[1]]
    return ["，".join(i) for i in issues]


# Words that open a message without adding to it: the words that move the topic on (they have
# done their work once the conversation is read) and "我想问一下"-style lead-ins.
_LEAD_IN = re.compile(rf"^{_P}(?:(?:还想问(?:一下|下)?|{_MOVE_ON}"
                      rf"|我?想(?:咨询|问问?)(?:一下|下)?|请问(?:一下|下)?|问(?:一下|下)|咨询(?:一下|下)?|麻烦问(?:一下|下)?){_P})+")


def drop_lead_in(text: str) -> str:
    """The message without its lead-in words ("另外 下单时券没用上…" → "下单时券没用上…"), for
    searching; kept whole when little would be left."""
    rest = _LEAD_IN.sub("", text or "", count=1)
    return rest if len(rest) >= _MIN_CLAUSE else text


def opens_new_topic(text: str) -> bool:
    """"另外…"/"还有个事…": the customer moves on, so earlier messages are not its context."""
    return bool(_NEW_TOPIC.match(text or ""))


# A follow-up with nothing of its own ("那怎么办", "这个呢", "还有呢"): only the conversation
# says what it is about.
_VAGUE = re.compile(rf"^{_P}(?:那|那么|那这个?|这|这个|那个|这样|那样|还有|然后|所以|可是|但是|那我|我)?"
                    rf"(?:现在|接下来|下一步|该|应该|要)?(?:的话)?(?:怎么办|咋办|怎么弄|咋弄|怎么搞|怎么处理|怎么说|什么意思|啥意思|为什么|为啥|然后呢|呢)?"
                    rf"(?:呢|啊|吧|呀|嘛)?{_P}$")


def is_vague(text: str) -> bool:
    """Nothing to search on without the conversation: a pronoun or a bare "怎么办"."""
    t = (text or "").strip()
    return bool(t) and bool(_VAGUE.match(t))


# A question about a product before buying it (stock, what comes with it, whether it fits,
# its specs, which one to buy): people and shops answer those, the KB does not, and the
# embedding reads the product noun as an after-sales matter ("这个送不送网线" came out as a
# repair case). Any word of an order, a payment, a delivery or an after-sales matter keeps
# the message in scope: "我买的没货了" is about an order.
_PRESALE = re.compile(
    r"有货吗|有没有货|还有货吗|无货|现货|什么时候有货|到货通知|"
    r"带不带|送不送(?![到我这那上门])|配不配|带有.{0,6}吗|包含.{0,6}吗|附带|标配|"
    r"适用|兼容|能用吗|可以用吗|能不能用|支持.{1,8}吗|"
    r"限购|能买.{0,4}[吗么嘛]|可以买.{0,4}[吗么嘛]|想买|要买|准备买|打算买|推荐(?:一|个|款|下|吗|嘛|么)|哪个好|哪款|区别|"
    r"规格|参数|材质|多大|多重|单独买|分开卖|分开的吗")
_AFTER_PURCHASE = re.compile(
    r"买的|买了|下单|下了单|下错|订单|单号|付款|支付|代付|付了|扣款|扣了|退|换|收到|签收|到了|没到|发货|快递|物流|配送|送货|"
    r"坏|破|漏|修|保修|售后|无理由|发票|账号|账户|密码|登录|白条|京豆|优惠券|plus|会员|地址|取消|拆|合并|少了|缺了|错了|"
    r"少货|少发|漏发|运费|包邮|价保|保价|延保|改|券|银行卡|信用卡|储蓄卡|礼品卡|购物卡|京东卡|e卡|花呗|微信|支付宝|余额|分期|visa|企业|"
    r"自提|提货|自取|上门|安装|上楼|寄|送到|送达", re.I)


def names_purchase(text: str) -> bool:
    """A word of an order, a payment, a delivery or an after-sales matter."""
    return bool(_AFTER_PURCHASE.search(text or ""))


def is_presale(text: str) -> bool:
    """A pre-sale question about a product, with nothing of an order or an after-sales matter."""
    return bool(_PRESALE.search(text or "")) and not names_purchase(text)


def topic_word(text: str, words: Sequence[str]) -> str | None:
    """The first of a topic's words (`dict/uncovered.txt`) that the text holds, case aside: the
    one match answering and ingest's check against the FAQ phrasings share."""
    t = (text or "").lower()
    return next((w for w in words if w.lower() in t), None)


def uncovered_topic(text: str, topics: Sequence[tuple[str, Sequence[str]]]) -> str | None:
    """The first topic the KB declares it does not cover (`dict/uncovered.txt`) that the text
    names. Unlike a pre-sale question, an order word does not bring it back in scope: "旧手机回收
    的订单查不到了" is about a recycling order, which no case handles."""
    return next((topic for topic, words in topics if topic_word(text, words)), None)


def looks_elliptic(text: str, max_chars: int = 10) -> bool:
    """A follow-up that leans on what came before: short ("要多少钱", "多久能到账"), or
    opening with 那/这个/还能; a full question ending in 怎么办 is not one."""
    t = (text or "").strip()
    return bool(t) and not opens_new_topic(t) and (len(t) <= max_chars or bool(_ANAPHORIC.match(t)))
