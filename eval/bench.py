"""Benchmarks that print figures (not timed tests): `python -m eval.bench [--quick]`.

1. The shipped KB: full build, chunks per second, re-ingest (unchanged, one FAQ changed),
   query latency p50/p95 in batch mode over the dev set, peak memory.
2. Scaling on synthetic KBs of 1k, 10k and 100k chunks built from the KB's own sentences:
   build time, index size, query latency (full hybrid search) and peak memory, each size in
   its own process so its memory is its own. Embedding cost is linear and measured once on
   real text; the larger indexes hold perturbed copies of real embeddings so the run stays
   within minutes.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.settings import REPO_ROOT, load_settings


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs), q))


def live_assistant(settings, embedder, name: str | None = None):
    """An Assistant over one index version (the live one by default), as `Kefu` builds it."""
    from answer.decide import DecisionParams
    from answer.respond import Assistant
    from index.versions import read_version
    from retrieval.search import Searcher

    version = read_version(settings.index_dir, name, expected_model=embedder.name)
    return Assistant(Searcher(version, embedder, settings.max_query_chars), DecisionParams.from_settings(settings))


WARM_UP = ("你好", "订单怎么还没发货呢")


def warm_up(assistant) -> None:
    for q in WARM_UP:  # the first encodes after a load or a trace are slow
        assistant.ask(q)


def shipped(home: Path) -> dict:
    from eval.devset import load_devset
    from ingest.pipeline import run_ingest
    from models.embed import load_embeddings

    kb = Path(tempfile.mkdtemp()) / "kb"
    shutil.copytree(REPO_ROOT / "kb", kb)
    s = load_settings().with_(home=home, kb_dir=kb)
    t = time.perf_counter()
    embedder = load_embeddings(s)
    load_s = time.perf_counter() - t
    full = run_ingest(s, embedder=embedder)
    again = run_ingest(s, embedder=embedder)
    faq = kb / "faqs" / "logistics.yaml"
    faq.write_text(faq.read_text(encoding="utf-8").replace("请联系人工客服", "请及时联系人工客服", 1), encoding="utf-8")
    changed = run_ingest(s, embedder=embedder)
    assistant = live_assistant(s, embedder)
    questions = [i.query for i in load_devset()]
    warm_up(assistant)
    single = [assistant.ask(q).latency_ms for q in questions]  # as one `kefu ask "…"` encodes
    traced = embedder.trace_queries()  # as servers and batch runs do at warm-up
    warm_up(assistant)
    lat = [assistant.ask(q).latency_ms for q in questions]
    return {
        "model_load_s": load_s, "chunks": full.chunks, "full_build_s": full.seconds,
        "chunks_per_s": full.chunks / full.seconds, "reingest_unchanged_s": again.seconds,
        "reingest_one_faq_s": changed.seconds, "reingest_one_faq_embedded": changed.embedded,
        "query_p50_ms": pct(lat, 50), "query_p95_ms": pct(lat, 95), "queries": len(lat), "peak_rss_mb": peak_mb(),
        "traced": traced, "single_p50_ms": pct(single, 50), "single_p95_ms": pct(single, 95),
    }


def embed_rate(home: Path, n: int = 200) -> float:
    """Passages embedded per second on real KB sentences of chunk length."""
    from ingest.split import split_kb
    from ingest.validate import load_kb
    from models.embed import load_embeddings

    texts = [c.embed_text for c in split_kb(load_kb(REPO_ROOT / "kb"))]
    texts = (texts * (n // len(texts) + 1))[:n]
    embedder = load_embeddings(load_settings().with_(home=home))
    t = time.perf_counter()
    embedder.encode_passages(texts)
    return n / (time.perf_counter() - t)


def scale_one(n: int, home: Path, seed: int = 7) -> dict:
    """Build and query a synthetic index of n chunks (run in its own process)."""
    import dataclasses

    from core.text import Lexicon, split_sentences
    from core.types import Chunk
    from index import versions
    from index.faiss_store import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M
    from models.embed import load_embeddings

    rng = random.Random(seed)
    s = load_settings().with_(home=home)
    embedder = load_embeddings(s)
    live = versions.read_version(s.index_dir)  # the shipped KB, built by the first part
    base = live.chunks
    sentences = [x for c in base for x in split_sentences(c.text)]
    chunks, rows = [], []
    for i in range(n):
        j = rng.randrange(len(base))
        src = base[j]
        text = "".join(rng.sample(sentences, 3))
        chunks.append(Chunk(Chunk.make_id(f"synthetic/{i}", text), f"syn:{i}", f"syn:{i}", "scope", f"synthetic/{i % 50}.md",
                            src.section, text, src.case, src.category, "synthetic"))
        rows.append(j)
    noise = np.random.default_rng(seed).normal(0, 0.02, size=(n, live.vectors.shape[1])).astype(np.float32)
    vectors = live.vectors[rows] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    t = time.perf_counter()
    lexicon = Lexicon(live.kb.words, live.kb.synonyms)
    tokens = [lexicon.tokenize(c.embed_text) for c in chunks]
    name = versions.new_version_name(s.index_dir, f"syn{n}")
    manifest = dataclasses.replace(live.manifest, version=name, counts={"chunks": n})
    path = versions.write_version(s.index_dir, manifest, chunks, tokens, vectors, live.phrasings, live.phrasing_vectors, live.kb,
                                  live.classifier,
                                  versions.read_sources(s.index_dir, live.name))
    build_s = time.perf_counter() - t
    size_mb = sum(p.stat().st_size for p in path.iterdir() if p.is_file()) / 1e6
    t = time.perf_counter()
    assistant = live_assistant(s, embedder, name)
    version = assistant.version
    lexical_s = time.perf_counter() - t
    from eval.devset import load_devset

    queries = [i.query for i in load_devset()][:80]
    for q in queries[:5]:
        assistant.ask(q)
    lat = [assistant.ask(q).latency_ms for q in queries]
    shutil.rmtree(path)
    versions.digest_path(s.index_dir, name).unlink(missing_ok=True)
    # Dense search alone, both index types on the same vectors: why HNSW past 20k chunks.
    import faiss

    qv = embedder.encode_queries(queries[:40])
    dense = {}
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    hnsw = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    hnsw.add(vectors)
    hnsw.hnsw.efSearch = HNSW_EF_SEARCH
    for label, index in (("flat", flat), ("hnsw", hnsw)):
        ts = []
        for q in qv:
            t = time.perf_counter()
            index.search(q.reshape(1, -1), 200)
            ts.append((time.perf_counter() - t) * 1000)
        dense[label] = pct(ts, 50)
    return {"chunks": n, "index_type": version.manifest.index_type, "build_s": build_s, "load_s": lexical_s,
            "index_mb": size_mb, "query_p50_ms": pct(lat, 50), "query_p95_ms": pct(lat, 95), "peak_rss_mb": peak_mb(),
            "dense_flat_ms": dense["flat"], "dense_hnsw_ms": dense["hnsw"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="scale to 1k and 10k only")
    ap.add_argument("--scale-one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scale_one:
        print(json.dumps(scale_one(args.scale_one, Path(args.home))))
        return

    home = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
    models = load_settings().models_dir
    if models.is_dir():  # reuse an already converted model; conversion is not what we measure
        (home / "models").symlink_to(models, target_is_directory=True)
    print("== shipped knowledge base ==")
    r = shipped(home)
    print(f"model load            {r['model_load_s']:.1f} s")
    print(f"full build            {r['full_build_s']:.1f} s for {r['chunks']} chunks ({r['chunks_per_s']:.1f} chunks/s, incl. FAQ phrasings)")
    print(f"re-ingest unchanged   {r['reingest_unchanged_s']:.2f} s")
    print(f"re-ingest one FAQ     {r['reingest_one_faq_s']:.2f} s ({r['reingest_one_faq_embedded']} chunk embedded)")
    encoder = "traced question encoder, as servers" if r["traced"] else "no traced encoder on this model or CPU"
    print(f"query latency         p50 {r['query_p50_ms']:.1f} ms, p95 {r['query_p95_ms']:.1f} ms over {r['queries']} dev-set questions ({encoder}; 2 cores)")
    print(f"  as one `kefu ask`   p50 {r['single_p50_ms']:.1f} ms, p95 {r['single_p95_ms']:.1f} ms (no trace)")
    print(f"peak memory           {r['peak_rss_mb']:.0f} MB")

    rate = embed_rate(home)
    print(f"\n== scaling (synthetic KBs) ==\nembedding on real text: {rate:.1f} passages/s -> "
          + ", ".join(f"{n // 1000}k: {n / rate / 60:.0f} min" for n in (1_000, 10_000, 100_000)))
    print("(build: tokenise + index + write; load: BM25 from stored tokens; p50/p95: the full hybrid query;\n"
          " flat/hnsw: FAISS search alone, top 200, p50)")
    print(f"{'chunks':>8} {'index':>6} {'build s':>8} {'load s':>7} {'size MB':>8} {'p50 ms':>7} {'p95 ms':>7} {'peak MB':>8} {'flat ms':>8} {'hnsw ms':>8}")
    for n in (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000):
        out = subprocess.run([sys.executable, "-m", "eval.bench", "--scale-one", str(n), "--home", str(home)],
                             capture_output=True, text=True, check=True, cwd=REPO_ROOT)
        x = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{x['chunks']:>8} {x['index_type']:>6} {x['build_s']:>8.2f} {x['load_s']:>7.2f} {x['index_mb']:>8.1f} "
              f"{x['query_p50_ms']:>7.1f} {x['query_p95_ms']:>7.1f} {x['peak_rss_mb']:>8.0f} {x['dense_flat_ms']:>8.2f} {x['dense_hnsw_ms']:>8.2f}")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
