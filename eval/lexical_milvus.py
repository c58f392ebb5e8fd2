"""Milvus's built-in BM25 against Kefu's own lexical side, on the dev set:
`python -m eval.lexical_milvus --milvus-uri http://127.0.0.1:19530`.

Kefu's lexical side is jieba (search mode, the KB's domain words, synonyms folded to one
word, stop words and punctuation dropped) with BM25 from bm25s. Milvus's is its jieba
analyzer (given the same domain words) with its BM25 function, searched with the raw text.
Both are measured alone (cases of the ranked chunks, as the `bm25` baseline) and inside
Kefu (fused with the same dense side and weights), over the live version of KEFU_HOME:

    kefu        jieba + bm25s (today)
    milvus      Milvus jieba + domain words
    milvus+stop Milvus jieba + domain words + Kefu's stop words
    milvus/ours Milvus BM25 over Kefu's own tokens (isolates tokenising from scoring)
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from core.settings import load_settings
from core.text import STOPWORDS, normalize
from eval.bench import live_assistant
from eval.devset import load_devset
from eval.metrics import compute
from eval.systems import ChunkRanker, KefuSystem
from index.milvus_client import Milvus
from models.embed import load_embeddings


class _Lexical:
    """Stands in for the searcher's BM25: scores every chunk from a Milvus full-text search of
    the query text (the searcher hands over tokens; the text is caught as it is tokenised)."""

    def __init__(self, searcher, milvus: Milvus, collection: str, own_tokens: bool):
        self.n = len(searcher.chunks)
        self.milvus, self.collection, self.own_tokens = milvus, collection, own_tokens
        self.text = ""
        tokenize = searcher.tokenize

        def catching(text):
            self.text = text
            return tokenize(text)

        searcher.tokenize = catching

    def scores(self, tokens) -> np.ndarray:
        out = np.zeros(self.n, dtype=np.float32)
        query = " ".join(tokens) if self.own_tokens else self.text
        ids, scores = self.milvus.fulltext(self.collection, query, self.n)
        out[ids] = scores
        return out


def _build(milvus: Milvus, version, name: str, texts: list[str], stop_words=()) -> str:
    collection = milvus.collection(name)
    milvus.drop_version(collection)
    milvus.create_version(collection, version.manifest.dimension, len(version.chunks), fulltext_words=version.kb.words,
                          stop_words=stop_words)
    milvus.insert(collection, ({"pos": i, "embedding": version.vectors[i].tolist(), "chunk": "{}", "tokens": "[]", "text": t}
                               for i, t in enumerate(texts)))
    milvus.seal(collection)
    return collection


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--milvus-uri", default=os.environ.get("KEFU_MILVUS_URI") or os.environ.get("KEFU_TEST_MILVUS_URI"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.milvus_uri:
        raise SystemExit("--milvus-uri (or KEFU_MILVUS_URI) is required: a Milvus server, e.g. from scripts/services.sh")

    settings = load_settings()
    kefu = live_assistant(settings, load_embeddings(settings))  # the live version of KEFU_HOME, as Kefu serves it
    kefu.ask("你好")
    items = load_devset()
    version = kefu.searcher.version
    milvus = Milvus(args.milvus_uri, prefix=f"lexcmp{os.getpid()}")
    raw = [normalize(c.embed_text) for c in version.chunks]
    ours = [" ".join(t) for t in version.tokens]
    variants = {"milvus": (raw, (), False), "milvus+stop": (raw, tuple(STOPWORDS), False), "milvus/ours": (ours, (), True)}
    results = {}
    try:
        results["kefu"] = _measure(kefu, items, None)
        for label, (texts, stops, own) in variants.items():
            collection = _build(milvus, version, f"{label.replace('+', '-').replace('/', '-')}-{version.name}", texts, stops)
            results[label] = _measure(kefu, items, (milvus, collection, own))
            milvus.drop_version(collection)
    finally:
        milvus.close()
    print(f"dev set {len(items)} rows; KB {version.name}; Milvus {args.milvus_uri}")
    print(f"{'lexical side':<14}{'BM25 alone hit@1':>18}{'MRR':>8}{'in Kefu hit@1':>15}{'MRR':>8}{'hit@3':>8}")
    for label, r in results.items():
        print(f"{label:<14}{r['alone']['hit@1']:>18.3f}{r['alone']['mrr']:>8.3f}{r['kefu']['hit@1']:>15.3f}"
              f"{r['kefu']['mrr']:>8.3f}{r['kefu']['hit@3']:>8.3f}")
    if args.json:
        print(json.dumps(results))


def _measure(kefu, items, milvus_side) -> dict:
    searcher = kefu.searcher
    saved = (searcher._bm25, searcher.tokenize)
    if milvus_side is not None:
        searcher._bm25 = _Lexical(searcher, *milvus_side)
    try:
        alone = compute(items, [ChunkRanker("bm25", searcher).predict(i) for i in items])
        fused = compute(items, [KefuSystem(kefu).predict(i) for i in items])
    finally:
        searcher._bm25 = saved[0]
        searcher.tokenize = saved[1]
    return {"alone": alone, "kefu": fused}


if __name__ == "__main__":
    main()
