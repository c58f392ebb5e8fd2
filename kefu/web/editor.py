"""知识库管理: the content editors' console, behind a password. Document status, edit or
upload a file, validate it on a staged copy, preview, ingest, roll back, hit-test, and the
negative feedback to act on."""

from __future__ import annotations

import hashlib

import streamlit as st

from core.errors import KefuError, ValidationError
from core.types import Hooks
from kefu import Kefu
from kefu.web import common as ui

HOW_TO_ENABLE = (
    "知识库管理未启用。要启用，请在启动应用前设置环境变量 `KEFU_EDITOR_PASSWORD`"
    "（例如 `export KEFU_EDITOR_PASSWORD=一个足够长的密码`），"
    "或在 `.streamlit/secrets.toml` 中设置 `editor_password`，然后重启应用。"
)


def documents(kefu: Kefu) -> None:
    try:
        status = kefu.documents()
    except KefuError as e:
        st.error(ui.md(str(e)))
        return
    pending = sum(d.status != "live" for d in status)
    st.caption(f"共 {len(status)} 个文件" + (f"，其中 {pending} 个与线上索引不一致，入库后生效。" if pending else "，全部已上线。"))
    st.dataframe([{"文件": d.path, "状态": ui.STATUS_LABEL.get(d.status, d.status)} for d in status],
                 hide_index=True, width="stretch", height="content")
    sample_content(kefu)


def sample_content(kefu: Kefu) -> None:
    """Answers customers see marked 示例内容: the editors' list of what to replace."""
    try:
        live = kefu.status()
    except KefuError:
        return
    if live.sample_faqs:
        st.warning(f"{len(live.sample_faqs)} 条 FAQ 仍含示例内容（页面上标注「{ui.MSG_SAMPLE}」），上线前请按实际政策替换："
                   + "、".join(ui.md(i) for i in live.sample_faqs), icon=":material/info:")
        if live.sample_replies:
            st.caption("引用这些 FAQ 的客服回复：" + "；".join(ui.md(r) for r in live.sample_replies))


def _fingerprint(rel: str, data: bytes) -> tuple[str, str]:
    return rel, hashlib.sha256(data).hexdigest()


def _stage(kefu: Kefu, rel: str, data: bytes) -> None:
    for key in ("pending", "stage_error", "ingest_report"):
        st.session_state.pop(key, None)
    st.session_state.staged_for = _fingerprint(rel, data)
    try:
        st.session_state.pending = kefu.stage(rel, data)
    except ValidationError as e:
        st.session_state.stage_error = (e.source, e.line, e.detail)


def choose_change(kefu: Kefu) -> tuple[str, bytes] | None:
    """The file the editor is working on, as (path in the KB, bytes), after a validate click."""
    mode = st.radio("操作", ["编辑现有文档", "上传文件"], horizontal=True, key="edit_mode")
    if mode == "编辑现有文档":
        try:
            files = kefu.editable_files()
        except KefuError as e:
            st.error(ui.md(str(e)))
            return None
        rel = st.selectbox("文档", files, key="edit_file")
        try:
            text = kefu.read_kb_file(rel).decode("utf-8-sig")
        except KefuError as e:
            st.error(ui.md(str(e)))
            return None
        except UnicodeDecodeError:
            st.error("这个文件不是 UTF-8 编码，无法在此编辑：请转换为 UTF-8 后通过“上传文件”替换。")
            return None
        data = st.text_area("内容", value=text, height=420, key=f"edit_text::{rel}").encode("utf-8")
        if st.button("校验修改", key="validate_edit"):
            _stage(kefu, rel, data)
        return rel, data
    upload = st.file_uploader("上传 Markdown 政策文档（放入 docs/）或 CSV / XLSX FAQ 表格（放入 faqs/）",
                              type=["md", "csv", "xlsx"], key="upload")
    if upload is None:
        return None
    try:
        rel = kefu.upload_target(upload.name)
    except ValidationError as e:
        st.error(f"{ui.md(e.source)}：{ui.md(e.detail)}")
        return None
    replaces = (kefu.settings.kb_dir / rel).exists()
    st.caption(f"将保存为 {ui.md(rel)}" + ("（替换现有文件）" if replaces else "（新文件）"))
    if st.button("校验文件", key="validate_upload"):
        _stage(kefu, rel, upload.getvalue())
    return rel, upload.getvalue()


def staged_result(kefu: Kefu, current: tuple[str, bytes] | None) -> None:
    staged_for = st.session_state.get("staged_for")
    if staged_for is None:
        return
    if current is None or _fingerprint(*current) != staged_for:
        # What was validated is not what is on screen now: never write unvalidated text.
        st.info("内容在校验后有改动（或换了文件），请重新校验。")
        return
    error = st.session_state.get("stage_error")
    if error:
        source, line, detail = error
        where = f"{ui.md(source)} 第 {line} 行" if line else ui.md(source)
        st.error(f"**校验未通过**：{where}：{ui.md(detail)}\n\n知识库目录和线上索引均未改变。")
    change = st.session_state.get("pending")
    if change is None:
        return
    st.success(f"校验通过：{ui.md(change.rel)} 生成 {len(change.chunks)} 个分块（整个知识库 {change.total_chunks} 个）。")
    st.markdown("**分块预览**")
    st.dataframe([{"段落": c.passage, "章节": c.section, "案例": c.case or "", "内容": c.text[:120]}
                  for c in change.chunks], hide_index=True, width="stretch")
    st.markdown("**与线上索引的差异**")
    if change.diffs:
        st.dataframe([{"文件": d.source, "新增": len(d.added), "修改": len(d.changed), "删除": len(d.removed),
                       "分块": "、".join([*d.added, *d.changed, *d.removed])[:300]} for d in change.diffs],
                     hide_index=True, width="stretch")
    else:
        st.info("与线上索引相比没有变化。")
    if st.button("写入知识库并入库", type="primary", key="apply"):
        bar = st.progress(0.0, text="正在入库…")
        log = st.empty()
        hooks = Hooks(message=lambda m: log.caption(ui.md(m)),
                      progress=lambda done, total: bar.progress(min(done / max(total, 1), 1.0),
                                                                text=f"正在嵌入：{done}/{total}"))
        try:
            report = kefu.apply(change, hooks=hooks)
        except KefuError as e:
            st.error(f"入库失败，知识库目录和线上索引均未改变：{ui.md(str(e))}")
            return
        bar.progress(1.0, text="入库完成")
        for key in ("pending", "staged_for"):
            st.session_state.pop(key, None)
        st.session_state.ingest_report = report
        st.rerun()  # everything on the page (document status, versions) now reflects the new version


def report_panel() -> None:
    report = st.session_state.get("ingest_report")
    if report is None:
        return
    if not report.swapped:
        st.info(f"知识库未变化，线上版本仍为 {ui.md(report.version)}。")
        return
    st.success(f"已上线 {ui.md(report.version)}（上一版本 {ui.md(report.previous or '无')}），无需重启即生效。")
    cols = st.columns(6)
    for col, (label, value) in zip(cols, [("分块", report.chunks), ("新嵌入", report.embedded), ("复用", report.reused),
                                          ("新增", report.added), ("修改", report.changed), ("删除", report.removed)]):
        col.metric(label, value)
    if report.documents:
        st.dataframe([{"文件": d.source, "新增": "、".join(d.added), "修改": "、".join(d.changed),
                       "删除": "、".join(d.removed)} for d in report.documents], hide_index=True, width="stretch")


def versions(kefu: Kefu) -> None:
    flash = st.session_state.pop("rollback_msg", None)
    if flash:
        st.success(ui.md(flash))
    live = kefu.live_version()
    st.markdown(f"线上版本：**{ui.md(live or '无')}**")
    names = kefu.versions()
    st.dataframe([{"版本": n, "状态": "线上" if n == live else ""} for n in reversed(names)],
                 hide_index=True, width="stretch")
    if st.button("回滚到上一版本", key="rollback", disabled=len(names) < 2,
                 help="索引回到当前版本之前上线的版本，知识库文件也恢复为该版本的内容"):
        try:
            r = kefu.rollback(restore_kb=True)
        except KefuError as e:
            st.error(f"回滚失败：{ui.md(str(e))}")
            return
        st.session_state.rollback_msg = f"已回滚：{r.previous or '无'} → {r.version}，知识库文件已恢复为该版本的内容"
        st.session_state.pop("ingest_report", None)  # it describes a version that is no longer live
        st.rerun()


def hit_test(kefu: Kefu) -> None:
    with st.form("hit_form", border=False):
        q = st.text_input("测试问题", key="hit_q", placeholder="输入一个问题，查看检索到的分块和分数")
        go = st.form_submit_button("检索", key="hit_go")
    if go and q.strip():
        result = kefu.search(q)
        st.caption("分词：" + " / ".join(ui.md(t) for t in result.tokens))
        st.dataframe([{"排名": h.rank, "段落": h.chunk.passage, "章节": h.chunk.section, "案例": h.chunk.case or "",
                       "融合分": round(h.score, 4), "向量分": round(h.dense, 4), "词法分": round(h.lexical, 4),
                       "内容": h.chunk.text[:100]} for h in result.hits[:10]], hide_index=True, width="stretch")


def negative_feedback(kefu: Kefu) -> None:
    rows = kefu.negative_feedback()
    if not rows:
        st.caption("暂无负面反馈。")
        return
    st.dataframe([{"时间 (UTC)": f.created_at, "角色": "客服" if f.role == "agent" else "用户", "问题": f.question,
                   "案例": f.case or "（未覆盖）", "知识库版本": f.kb_version, "说明": f.comment} for f in rows],
                 hide_index=True, width="stretch")


def main() -> None:
    settings = ui.settings_or_stop()
    st.title("知识库管理")
    expected = ui.editor_password(settings)
    if not expected:
        st.info(HOW_TO_ENABLE)
        return
    if not st.session_state.get("editor_ok"):
        ui.login_form(ui.get_kefu(settings), "editor", {"editor": expected}, "编辑密码")
        return
    kefu = ui.ready_kefu(settings)
    ui.warn_if_stale(kefu)
    docs, edit, hits, fb, vers = st.tabs(["文档状态", "修改与入库", "命中测试", "负面反馈", "版本与回滚"])
    with docs:
        documents(kefu)
    with edit:
        current = choose_change(kefu)
        staged_result(kefu, current)
        report_panel()
    with hits:
        hit_test(kefu)
    with fb:
        negative_feedback(kefu)
    with vers:
        versions(kefu)


if __name__ == "__main__":
    main()
