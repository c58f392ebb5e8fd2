"""What every page of the Streamlit app shares: settings, the cached `Kefu`, first start,
and safe Markdown (KB and user text is escaped, never rendered as HTML)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import streamlit as st

from answer.messages import KIND_LABEL, MSG_SAMPLE, NOTICE_CORRECTION, NOTICE_WANTS_HUMAN, PLAIN_NOTICES  # noqa: F401 - the pages' wording
from core.errors import BusyError, KefuError
from core.settings import Settings, load_settings
from core.types import Answer, Hooks
from kefu import Kefu

STATUS_LABEL = {"live": "已上线", "modified": "已修改未入库", "new": "新文件", "deleted": "已删除"}

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
def get_kefu(settings: Settings) -> Kefu:
    """One `Kefu` per settings for all sessions: the model loads once (`kefu serve` has
    loaded it already), and asking follows index swaps by itself."""
    return Kefu.shared(settings)


def ready_kefu(settings: Settings) -> Kefu:
    """The live `Kefu`; on a fresh machine first build the model and the index, visibly.

    The progress callbacks write to an `st.status` outside any cached function, so nothing
    is recorded for replay into a container that later runs do not have.
    """
    kefu = get_kefu(settings)
    if kefu.needs_build():
        try:
            with st.status("首次启动：正在准备模型和索引…", expanded=True) as status:
                log, bar = st.container(), st.progress(0.0, text="正在嵌入知识库…")
                hooks = Hooks(message=lambda m: log.write(f"· {md(m)}"),
                              progress=lambda done, total: bar.progress(min(done / max(total, 1), 1.0),
                                                                        text=f"正在嵌入知识库：{done}/{total}"))
                report = kefu.ingest(hooks=hooks)
                status.update(label=f"准备完成：索引版本 {report.version}", state="complete", expanded=False)
        except BusyError:
            st.info("另一个会话正在构建索引，请稍候刷新页面。")
            st.stop()
        except KefuError as e:
            st.error(f"首次启动失败：{md(str(e))}")
            st.stop()
    try:
        with st.spinner("正在加载模型和索引…"):
            kefu.assistant()
            _warm(kefu)
    except KefuError as e:
        st.error(f"索引无法加载：{md(str(e))}")
        st.stop()
    return kefu


@st.cache_resource(show_spinner=False)
def _warm(_kefu: Kefu) -> bool:
    """Warm the model once per process, not on every rerun."""
    _kefu.warmup()
    return True


def warn_if_stale(kefu: Kefu) -> None:
    """Say when another version than the live one is served, and why (empty once it is fixed)."""
    if kefu.last_error:
        st.warning(md(kefu.last_error))


def _secret(name: str) -> str:
    try:
        return str(st.secrets.get(name, "") or "")
    except (FileNotFoundError, KeyError, ValueError, OSError):
        return ""  # no secrets file, or one that cannot be parsed


def editor_password(settings: Settings) -> str:
    """KEFU_EDITOR_PASSWORD, else `editor_password` from Streamlit secrets, else empty (console off)."""
    return settings.editor_password or _secret("editor_password")


def agent_password(settings: Settings) -> str:
    """KEFU_AGENT_PASSWORD, else `agent_password` from Streamlit secrets, else empty."""
    return settings.agent_password or _secret("agent_password")


def client_address() -> str | None:
    """The browser's address; None when it connects from this machine (or no browser does)."""
    address = st.context.ip_address
    return address if isinstance(address, str) and address else None


def staff_allowed(settings: Settings) -> bool:
    """May this session see the staff pages (agent desk with internal notes, editor, evaluation)?
    With an agent password: after logging in. Without one (zero setup): from this machine only."""
    if agent_password(settings):
        return bool(st.session_state.get("agent_ok") or st.session_state.get("editor_ok"))
    return client_address() is None


def login_form(kefu: Kefu, form: str, passwords: dict[str, str], label: str) -> None:
    """A password form; a match sets `<role>_ok` in the session (every staff role opens the
    agent pages). Wrong passwords are slowed down and locked out by the library."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    with st.form(f"{form}_login"):
        entered = st.text_input(label, type="password", key=f"{form}_pw")
        if not st.form_submit_button("登录", type="primary", key=f"{form}_login_btn"):
            return
    ctx = get_script_run_ctx()
    address = client_address()
    clients = (f"session:{ctx.session_id if ctx else '-'}",) + ((f"address:{address}",) if address else ())
    result = kefu.login(entered, {r: p for r, p in passwords.items() if p}, clients)
    if result.ok:
        st.session_state[f"{result.role}_ok"] = True
        st.session_state.agent_ok = True
        st.rerun()
    if result.locked_for:
        st.error(f"密码错误次数过多，已暂时锁定：请 {max(1, round(result.locked_for / 60))} 分钟后再试。")
    else:
        st.error("密码不正确。")


# --- the file uploader in Chinese -------------------------------------------------------------------

# Streamlit's uploader has fixed English text ("Upload", "2MB per file • MD, CSV", and once a
# file is chosen "Remove x.csv" and "Add files"). This stylesheet and script, a constant but for
# the size (an int), show and name its buttons in Chinese: the stylesheet the visible text, the
# script the names a screen reader says and the tooltips (aria-label, title). It is the one
# piece of HTML in the app, and no user or KB text ever goes into it.
UPLOADER_HTML = """<style>
[data-testid="stFileUploaderDropzone"] [data-testid="stBaseButton-secondary"] * { font-size: 0 !important; }
[data-testid="stFileUploaderDropzone"] [data-testid="stBaseButton-secondary"] [data-testid="stIconMaterial"] { font-size: 1.25rem !important; }
[data-testid="stFileUploaderDropzone"] [data-testid="stBaseButton-secondary"]::after { content: "选择文件"; font-size: 0.875rem; margin-left: 0.25rem; }
[data-testid="stFileChipDeleteBtn"] button::after { content: "移除"; font-size: 0.75rem; margin-left: 0.125rem; white-space: nowrap; }
[data-testid="stFileUploaderDropzone"] [data-testid="stBaseButton-borderlessIcon"] { width: auto; padding: 0 0.5rem; white-space: nowrap; }
[data-testid="stFileUploaderDropzone"] [data-testid="stBaseButton-borderlessIcon"]::after { content: "更换文件"; font-size: 0.875rem; margin-left: 0.25rem; }
[data-testid="stFileUploaderDropzoneInstructions"] * { font-size: 0 !important; }
[data-testid="stFileUploaderDropzoneInstructions"]::after { content: "或把文件拖到这里 · 单个文件不超过 {mb} MB"; font-size: 0.875rem; opacity: 0.7; }
[data-testid="stElementContainer"]:has(.kefu-uploader-names) { display: none; }
</style>
<span class="kefu-uploader-names"></span>
<script>
(() => {
  if (window.kefuUploaderNames) return;
  window.kefuUploaderNames = true;
  const name = (el, text) => {
    if (el.getAttribute("aria-label") !== text) el.setAttribute("aria-label", text);
    if (el.title !== text) el.title = text;
  };
  const rename = () => {
    document.querySelectorAll('[data-testid="stFileUploaderDropzone"]').forEach((zone) => {
      zone.querySelectorAll('[data-testid="stBaseButton-secondary"]').forEach((b) => name(b, "选择文件"));
      zone.querySelectorAll('[data-testid="stBaseButton-borderlessIcon"]').forEach((b) => name(b, "更换文件"));
      zone.querySelectorAll('[data-testid="stFileChip"]').forEach((chip) => {
        const button = chip.querySelector('[data-testid="stFileChipDeleteBtn"] button');
        if (!button) return;
        const file = chip.querySelector('[data-testid="stFileChipName"]')?.textContent || "";
        const cancel = (button.getAttribute("aria-label") || "").startsWith("Cancel");
        name(button, (cancel ? "取消上传 " : "移除文件 ") + file);
      });
      zone.querySelectorAll('[data-testid="stFileUploaderDropzoneInput"]').forEach((i) => {
        if (i.getAttribute("aria-label") !== "选择文件") i.setAttribute("aria-label", "选择文件");
      });
    });
  };
  new MutationObserver(rename).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["aria-label"] });
  rename();
})();
</script>"""


def uploader_in_chinese(limit_mb: int) -> None:
    # The script needs an element on the page; the style hides it, so it leaves no gap above the uploader.
    st.html(UPLOADER_HTML.replace("{mb}", str(int(limit_mb))), unsafe_allow_javascript=True)


# --- safe Markdown ---------------------------------------------------------------------------------


def md(text: str) -> str:
    """Escape text for st.markdown & co. so it shows literally; keep line breaks."""
    return _MD_SPECIAL.sub(r"\\\1", text or "").replace("\n", "  \n")


def markers(cites: Iterable[int]) -> str:
    return "".join(rf"\[{n}\]" for n in cites)


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
