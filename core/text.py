"""All Chinese text handling: normalisation, sentence splitting, tokenisation, synonyms.

Everything that segments or compares Chinese text goes through here, so that the index
and the queries are processed by exactly the same rules.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence

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
        for group in self.synonyms:
            if normalize(group[0]) in terms:
                terms.update(normalize(w) for w in group)
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
