"""What every page of the Streamlit app shares: settings, the cached Service, first start,
and safe Markdown (KB and user text is escaped, never rendered as HTML)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable

import streamlit as st

from kefu.cli_query import KIND_LABEL  # noqa: F401 - the step labels the terminal uses too
from kefu.errors import BusyError, KefuError
from kefu.settings import Settings, load_settings
from kefu.text import normalize
from kefu.types import Answer
from retrieval import store
from retrieval.embed import KefuEmbeddings, load_embeddings
from retrieval.service import Service

STATUS_LABEL = {"live": "已上线", "modified": "已修改未入库", "new": "新文件", "deleted": "已删除"}
PLAIN_NOTICES = ("empty", "no_text")  # answers that are only a message about the input

# ASCII punctuation that means something to Markdown or to Streamlit's extensions
# (`:red[...]` directives, `$` maths); a backslash makes each of them literal.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:=^&])")


# --- settings and the live service -------------------------------------------------------------


def settings_or_stop() -> Settings:
    try:
        return load_settings()
    except KefuError as e:
        st.error(f"配置有误：{md(str(e))}")
        st.stop()


@st.cache_resource(show_spinner=False)
def get_embedder(settings: Settings, _preloaded: KefuEmbeddings | None = None) -> KefuEmbeddings:
    """The embedding model, loaded once per process (`_preloaded` seeds it on first start)."""
    return _preloaded if _preloaded is not None else load_embeddings(settings)


@st.cache_resource(show_spinner="正在加载模型和索引…")
def get_service(settings: Settings) -> Service:
    """One Service per settings for all sessions; it follows index swaps by itself."""
    service = Service(settings, embedder=get_embedder(settings))
    service.warmup()
    return service


def ready_service(settings: Settings) -> Service:
    """The live Service; on a fresh machine first build the model and the index, visibly.

    The progress callbacks write to an `st.status` outside any cached function, so nothing
    is recorded for replay into a container that later runs do not have.
    """
    if _needs_build(settings):
        from ingest.pipeline import Hooks, run_ingest

        try:
            with st.status("首次启动：正在准备模型和索引…", expanded=True) as status:
                log, bar = st.container(), st.progress(0.0, text="正在嵌入知识库…")
                embedder = load_embeddings(settings, progress=lambda m: log.write(f"· {md(m)}"))
                get_embedder(settings, _preloaded=embedder)
                hooks = Hooks(message=lambda m: log.write(f"· {md(m)}"),
                              progress=lambda done, total: bar.progress(min(done / max(total, 1), 1.0),
                                                                        text=f"正在嵌入知识库：{done}/{total}"))
                report = run_ingest(settings, embedder=embedder, hooks=hooks)
                status.update(label=f"准备完成：索引版本 {report.version}", state="complete", expanded=False)
        except BusyError:
            st.info("另一个会话正在构建索引，请稍候刷新页面。")
            st.stop()
        except KefuError as e:
            st.error(f"首次启动失败：{md(str(e))}")
            st.stop()
    try:
        service = get_service(settings)
        service.assistant()
    except KefuError as e:
        st.error(f"索引无法加载：{md(str(e))}")
        st.stop()
    return service


def _needs_build(settings: Settings) -> bool:
    """No index yet, or one built by another embedding model (KEFU_EMBEDDING_MODEL changed):
    either way the app builds one rather than stopping at a page nobody can fix it from."""
    live = store.current_version(settings.index_dir)
    if live is None:
        return True
    try:
        manifest = store.read_manifest(store.versions_dir(settings.index_dir) / live)
    except KefuError:
        return False  # a corrupt index is reported, not silently replaced
    return manifest.get("model") != settings.embedding_model


def warn_if_stale(service: Service) -> None:
    if service.last_error:
        st.warning(f"最新的索引版本加载失败，仍由上一版本继续服务：{md(service.last_error)}")


def editor_password(settings: Settings) -> str:
    """KEFU_EDITOR_PASSWORD, else `editor_password` from Streamlit secrets, else empty."""
    if settings.editor_password:
        return settings.editor_password
    try:
        return str(st.secrets.get("editor_password", "") or "")
    except (FileNotFoundError, KeyError, ValueError, OSError):
        return ""  # no secrets file, or one that cannot be parsed: the console stays off


def password_matches(entered: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(entered.encode("utf-8"), expected.encode("utf-8"))


# --- safe Markdown ---------------------------------------------------------------------------------


def md(text: str) -> str:
    """Escape text for st.markdown & co. so it shows literally; keep line breaks."""
    return _MD_SPECIAL.sub(r"\\\1", text or "").replace("\n", "  \n")


def markers(cites: Iterable[int]) -> str:
    return "".join(rf"\[{n}\]" for n in cites)


def query_terms(service: Service, query: str) -> list[str]:
    """The query's jieba tokens (what lexical search matched on), with their synonyms."""
    searcher = service.assistant().searcher
    return expand_terms(searcher.lexicon, searcher.lexicon.tokenize(searcher.prepare(query)))


def expand_terms(lexicon, tokens: Iterable[str]) -> list[str]:
    terms = set(tokens)
    for group in lexicon.synonyms:
        if normalize(group[0]) in terms:
            terms.update(normalize(w) for w in group)
    return sorted(terms, key=lambda t: (-len(t), t))


def highlight(text: str, terms: Iterable[str]) -> str:
    """Escaped Markdown of `text` with every occurrence of a term (2+ characters) in bold.
    Overlapping and adjacent matches merge into one bold run."""
    text = text or ""
    folded = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    marked = [False] * len(text)
    for term in {t.lower() for t in terms if len(t.strip()) >= 2}:
        start = folded.find(term)
        while start >= 0:
            marked[start:start + len(term)] = [True] * len(term)
            start = folded.find(term, start + len(term))
    out, i = [], 0
    while i < len(text):
        j = i
        while j < len(text) and marked[j] == marked[i] and not text[j].isspace():
            j += 1
        if j == i:  # whitespace ends a run and is never bold
            j += 1
        piece = md(text[i:j])
        out.append(f"**{piece}**" if marked[i] and not text[i].isspace() else piece)
        i = j
    return "".join(out)


# --- answers ---------------------------------------------------------------------------------------


def footer(answer: Answer) -> None:
    st.caption(f"知识库版本 {md(answer.kb_version)} · 用时 {answer.latency_ms:.0f} ms")
