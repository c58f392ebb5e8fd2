"""知识库管理: the content editors' console, behind a password. Document status, edit or
upload a file, validate it on a staged copy, preview, ingest, roll back, hit-test, and the
negative feedback to act on."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pandas as pd
import streamlit as st

from core.errors import KefuError, ValidationError
from core.kb import FAQEntry, PlaybookItem, Situation
from core.types import Hooks
from kefu import Kefu
from kefu.web import common as ui

HOW_TO_ENABLE = (
    "知识库管理未启用。要启用，请在启动应用前设置环境变量 `KEFU_EDITOR_PASSWORD`"
    "（例如 `export KEFU_EDITOR_PASSWORD=一个足够长的密码`），"
    "或在 `.streamlit/secrets.toml` 中设置 `editor_password`，然后重启应用。"
)


KIND_LABEL = {"scope": "服务范围", "faq": "FAQ", "playbook": "处理手册", "doc": "政策文档", "dict": "词表"}
SCOPE_FILE = "service_scope.md"
MODES = ["FAQ 表单", "处理手册表单", "上传文件", "删除文档", "编辑原文（高级）"]
NO_CASE = "（无具体案例，只填类别）"
NEW_FAQ = "＋ 新建 FAQ"


def documents(kefu: Kefu) -> None:
    try:
        status = kefu.documents()
    except KefuError as e:
        st.error(ui.md(str(e)))
        return
    st.session_state.docs_this_run = status  # parsing every file takes a while: once per run
    pending = sum(d.status != "live" for d in status)
    if st.button("重新发布", key="republish", icon=":material/publish:",
                 help="按知识库目录的当前内容校验并入库；内容未变化时线上版本保持不变"):
        republish(kefu)
    st.caption(f"共 {len(status)} 个文档" + (f"，其中 {pending} 个与线上索引不一致，重新发布后生效。" if pending else "，全部已上线。"))
    st.dataframe([{"标题": d.title, "类型": KIND_LABEL.get(d.kind, d.kind), "条目数": d.entries,
                   "状态": ui.STATUS_LABEL.get(d.status, d.status), "最后修改 (UTC)": d.changed, "文件": d.path}
                  for d in status], hide_index=True, width="stretch", height="content",
                 column_config={"条目数": st.column_config.NumberColumn(
                     "条目数", help="服务范围：案例数；FAQ：条数；处理手册：情形数；政策文档：段落数；词表：行数")})
    broken = [d for d in status if d.problem]
    for d in broken:
        st.error(f"{ui.md(d.title)}：{ui.md(d.problem)}")
    sample_content(kefu)


def republish(kefu: Kefu) -> None:
    """Re-ingest the KB folder as it is (what was changed outside the console, or after a fix)."""
    for key in ("pending", "staged_for", "stage_error"):
        st.session_state.pop(key, None)
    bar = st.progress(0.0, text="正在重新发布…")
    hooks = Hooks(progress=lambda done, total: bar.progress(min(done / max(total, 1), 1.0), text=f"正在嵌入：{done}/{total}"))
    try:
        st.session_state.ingest_report = kefu.ingest(hooks=hooks)
    except ValidationError as e:
        st.session_state.republish_errors = [(x.source, x.line, x.detail) for x in e.errors]
    except KefuError as e:
        st.session_state.republish_errors = [("", None, str(e))]
    st.rerun()


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


def _fingerprint(rel: str, data: bytes | None) -> tuple[str, str]:
    return rel, "delete" if data is None else hashlib.sha256(data).hexdigest()


def _stage(kefu: Kefu, rel: str, data: bytes | None) -> None:
    for key in ("pending", "stage_error", "ingest_report", "republish_errors"):
        st.session_state.pop(key, None)
    st.session_state.staged_for = _fingerprint(rel, data)
    try:
        st.session_state.pending = kefu.stage(rel, data) if data is not None else kefu.stage_delete(rel)
    except ValidationError as e:
        st.session_state.stage_error = [(x.source, x.line, x.detail) for x in e.errors]


def _title(kefu: Kefu) -> dict[str, str]:
    try:
        status = st.session_state.get("docs_this_run") or kefu.documents()
        return {d.path: f"{d.title}（{d.path}）" for d in status if d.status != "deleted"}
    except KefuError:
        return {}


def templates(kefu: Kefu) -> None:
    """The spreadsheet columns, explained, and templates to fill in."""
    with st.expander("FAQ 表格的列说明与模板下载", expanded=False):
        st.dataframe([{"列名": c.name, "必填": "是" if c.required else "否", "说明": c.meaning} for c in kefu.faq_columns()],
                     hide_index=True, width="stretch")
        st.caption("第一行为列名（顺序不限），每行一条 FAQ。模板中有一行可以直接通过校验的示例，请改成自己的内容。"
                   "以 = + - @ 开头的单元格会被当作公式而拒绝：确需以这些字符开头时，在前面加一个英文单引号 '。")
        a, b = st.columns(2)
        a.download_button("下载 CSV 模板", kefu.faq_template("csv"), file_name="FAQ模板.csv", mime="text/csv",
                          key="tpl_csv", icon=":material/download:", width="stretch")
        b.download_button("下载 Excel 模板", kefu.faq_template("xlsx"), file_name="FAQ模板.xlsx",
                          mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          key="tpl_xlsx", icon=":material/download:", width="stretch")


def faq_form(kefu: Kefu) -> tuple[str, bytes] | None:
    """One FAQ at a time: pick a file and an entry (or a new one), fill in the fields."""
    files = kefu.faq_form_files()
    if not files:
        st.info("知识库中还没有 YAML 格式的 FAQ 文件；表格文件（CSV / XLSX）请下载模板填写后上传。")
        return None
    titles = _title(kefu)
    rel = st.selectbox("FAQ 文件", files, format_func=lambda f: titles.get(f, f), key="faq_file")
    try:
        faqs = kefu.faq_entries(rel)
        categories, cases = kefu.taxonomy()
    except ValidationError as e:
        st.error(f"这个文件现在无法解析，请用“编辑原文（高级）”修正：{ui.md(str(e))}")
        return None
    by_id = {f.id: f for f in faqs}
    picked = st.selectbox("条目", [NEW_FAQ, *by_id], key=f"faq_pick::{rel}",
                          format_func=lambda i: i if i == NEW_FAQ else f"{i}　{by_id[i].question}")
    old = by_id.get(picked)
    entry = FAQEntry.from_faq(old) if old else None
    key = f"{rel}::{picked}"
    case_options = [NO_CASE, *(c.title for c in cases)]
    case_category = {c.title: c.category for c in cases}
    with st.form(f"faq_form::{key}", border=True):
        a, b = st.columns([1, 3])
        fid = a.text_input("编号", value=entry.id if entry else "", key=f"faq_id::{key}",
                           placeholder="如 LOG-101", help="全库唯一；前缀见类别（ORD、PAY、AS、ACC、LOG、MEM）")
        question = b.text_input("标准问法", value=entry.question if entry else "", key=f"faq_q::{key}")
        variants = st.text_area("其他问法（每行一个）", value="\n".join(entry.variants) if entry else "", height=120,
                                key=f"faq_v::{key}", help="用户的口语、简写、错别字说法，帮助匹配")
        answer = st.text_area("标准答复", value=entry.answer if entry else "", height=140, key=f"faq_a::{key}",
                              help="审核通过的答复，原样展示给用户")
        c, d = st.columns(2)
        case = c.selectbox("所属案例", case_options, key=f"faq_case::{key}",
                           index=case_options.index(entry.case) if entry and entry.case in case_options else 0)
        # A new entry starts in the category most of the file's entries have.
        usual = entry.category if entry else max((f.category for f in faqs), key=[f.category for f in faqs].count, default="")
        category = d.selectbox("类别（选了案例时以案例所属类别为准）", categories, key=f"faq_cat::{key}",
                               index=categories.index(usual) if usual in categories else 0)
        e, f, g = st.columns([1, 2, 1], vertical_alignment="bottom")
        date = e.date_input("生效日期", value=entry.effective_date if entry else dt.date.today(), key=f"faq_date::{key}",
                            format="YYYY-MM-DD")
        source = f.text_input("依据", value=entry.source if entry else "", key=f"faq_src::{key}",
                              placeholder="如 服务范围文档 五.1")
        sample = g.checkbox("示例内容", value=entry.sample if entry else False, key=f"faq_sample::{key}",
                            help="答复中的数字、时限是示例，上线前须按实际政策替换；页面会标注「示例内容，以实际政策为准」")
        submitted = st.form_submit_button("校验", type="primary", key="validate_form")
    new = FAQEntry(fid, question, tuple(v for v in variants.splitlines() if v.strip()), answer,
                   None if case == NO_CASE else case, case_category.get(case, category), date, source, sample)
    try:
        data = kefu.write_faq(rel, new, old.id if old else None)
    except KefuError as e:
        st.error(ui.md(str(e)))
        return None
    if submitted:
        _stage(kefu, rel, data)
    return rel, data


CITES_HELP = "依据的段落编号，多个用逗号分隔，如 scope:5.3, faq:LOG-007（见 kb/README.md）"
ITEM_COLUMNS = {"text": st.column_config.TextColumn("内容", width="large"),
                "cites": st.column_config.TextColumn("依据", width="medium", help=CITES_HELP)}
ESCALATE_COLUMNS = {"text": st.column_config.TextColumn("何时转人工", width="large"),
                    "to": st.column_config.TextColumn("转给", width="small", help="接手的团队，客服看到的步骤后会注明「（转该团队）」；可留空"),
                    "cites": ITEM_COLUMNS["cites"]}


def _items(kefu: Kefu, label: str, items: tuple[PlaybookItem, ...], key: str, escalate: bool = False) -> tuple[PlaybookItem, ...]:
    """A list of items as a table with rows to add and delete; each item cites at least one passage."""
    st.markdown(f"**{label}**")
    columns = ESCALATE_COLUMNS if escalate else ITEM_COLUMNS
    table = pd.DataFrame(kefu.playbook_item_rows(items, escalate), columns=list(columns), dtype="string")
    edited = st.data_editor(table, num_rows="dynamic", hide_index=True, width="stretch", column_config=columns, key=key)
    return kefu.playbook_items(edited.to_dict("records"))


def _slots(key: str, count: int) -> list[int]:
    """The situations on screen, as stable numbers: a situation's widgets keep their values when another is removed."""
    return st.session_state.setdefault(f"pb_slots::{key}", list(range(count)))


def _add_situation(key: str) -> None:
    slots = st.session_state[f"pb_slots::{key}"]
    slots.append(max(slots, default=-1) + 1)


def _remove_situation(key: str, slot: int) -> None:
    st.session_state[f"pb_slots::{key}"].remove(slot)


def _raise_situation(key: str, slot: int) -> None:
    slots = st.session_state[f"pb_slots::{key}"]
    i = slots.index(slot)
    slots[i - 1], slots[i] = slots[i], slots[i - 1]


def _situation(kefu: Kefu, old: Situation | None, slot: int, n: int, total: int, key: str) -> Situation:
    k = f"{slot}::{key}"
    with st.container(border=True):
        head, up, drop = st.columns([5, 1, 1], vertical_alignment="center")
        head.markdown(f"**情形 {n}**" + ("（默认情形：问题不指向任何情形时显示）" if n == 1 else ""))
        up.button("上移", key=f"pb_up::{k}", disabled=n == 1, on_click=_raise_situation, args=(key, slot),
                  icon=":material/arrow_upward:", width="stretch", help="第一个情形是默认情形")
        drop.button("删除情形", key=f"pb_drop::{k}", disabled=total == 1, on_click=_remove_situation, args=(key, slot),
                    icon=":material/delete:", width="stretch")
        when = st.text_input("情形（适用条件）", value=old.when if old else "", key=f"pb_when::{k}",
                             placeholder="如 物流显示已签收，但用户没收到")
        keywords = st.text_input("关键词（用顿号或逗号分隔）", value="、".join(old.keywords) if old else "", key=f"pb_kw::{k}",
                                 help="问题中出现这些词时选中这个情形；有多个情形时必填，不要写各情形共有的词")
        verify = _items(kefu, "核实（客服先核实什么，可留空）", old.verify if old else (), f"pb_verify::{k}")
        steps = _items(kefu, "步骤（按顺序；核实和步骤合计不超过 6 项）", old.steps if old else (), f"pb_steps::{k}")
        reply = st.text_area("回复（客服发给用户）", value=old.reply.text if old else "", height=110, key=f"pb_reply::{k}")
        reply_cites = st.text_input("回复的依据", value=", ".join(old.reply.cites) if old else "", key=f"pb_reply_cites::{k}",
                                    help=CITES_HELP)
    return Situation(when.strip(), kefu.split_keywords(keywords), verify, steps,
                     PlaybookItem(reply.strip(), kefu.split_cites(reply_cites)))


def playbook_form(kefu: Kefu) -> tuple[str, bytes] | None:
    """One playbook: its fields, each situation and each list of items, written back as the playbook file."""
    cases = kefu.playbook_cases()
    if not cases:
        st.info("知识库中还没有处理手册。")
        return None
    rel = st.selectbox("处理手册", list(cases), format_func=lambda f: cases[f] or f"{f}（无法解析）", key="pb_file")
    try:
        raw = kefu.read_kb_file(rel)
        old = kefu.playbook(rel)
    except ValidationError as e:
        st.error(f"这个处理手册现在无法解析，请用“编辑原文（高级）”修正：{ui.md(str(e))}")
        return None
    except KefuError as e:
        st.error(ui.md(str(e)))
        return None
    # Keyed by the file's content too: once it changes (published, rolled back) the form starts from the new file.
    key = f"{rel}::{hashlib.sha256(raw).hexdigest()[:12]}"
    a, b = st.columns(2)
    a.text_input("案例", value=old.case, disabled=True, key=f"pb_case::{key}",
                 help="案例标题是知识库的分类键，不能在这里修改")
    b.text_input("类别", value=old.category, disabled=True, key=f"pb_cat::{key}")
    summary = st.text_area("摘要（一句话说明本案例处理什么）", value=old.summary, height=80, key=f"pb_summary::{key}")
    c, d = st.columns(2)
    team = c.text_input("接手团队（转人工时）", value=old.team, key=f"pb_team::{key}")
    always = d.text_input("总是转人工的原因（可留空）", value=old.always_escalate, key=f"pb_always::{key}",
                          help="本案例总是需要人工处理时写明原因；一般留空")
    # Table cells show one line and Chinese text does not wrap there: say where the rest is.
    st.caption("下面表格的单元格只显示一行，长句显示不全时双击单元格即可查看和编辑全文；在表格最下方的空行输入即可添加一项。")
    preconditions = _items(kefu, "适用前提", old.preconditions, f"pb_pre::{key}")
    st.markdown("#### 情形")
    st.caption("客服工作台只显示与问题相符的情形：问题中出现的关键词最多的情形优先，其余情形点一下即可切换。")
    slots = _slots(key, len(old.situations))
    situations = tuple(_situation(kefu, old.situations[slot] if slot < len(old.situations) else None, slot, n, len(slots), key)
                       for n, slot in enumerate(slots, 1))
    st.button("添加情形", key=f"pb_add::{key}", on_click=_add_situation, args=(key,), icon=":material/add:")
    self_service = _items(kefu, "用户可自行操作", old.self_service, f"pb_self::{key}")
    have_ready = st.text_area("联系人工前请用户准备（每行一项）", value="\n".join(old.have_ready), height=100,
                              key=f"pb_ready::{key}")
    escalate = _items(kefu, "何时转给谁", old.escalate, f"pb_escalate::{key}", escalate=True)
    notes = st.text_area("内部备注（仅客服可见，每行一项）", value="\n".join(old.internal_notes), height=100, key=f"pb_notes::{key}")
    new = dataclasses.replace(old, summary=summary.strip(), team=team.strip(), always_escalate=always.strip(),
                              preconditions=preconditions, situations=situations, self_service=self_service,
                              have_ready=kefu.split_lines(have_ready), escalate=escalate, internal_notes=kefu.split_lines(notes))
    data = kefu.write_playbook(new)
    with st.expander("查看将写入的文件（YAML）"):
        st.code(data.decode("utf-8"), language="yaml", line_numbers=True)
    if st.button("校验", type="primary", key="validate_playbook"):
        _stage(kefu, rel, data)
        if st.session_state.get("stage_error"):
            st.session_state.stage_error = [(source, line, _in_form(kefu, data, line, detail) if source == rel else detail)
                                            for source, line, detail in st.session_state.stage_error]
    return rel, data


def _in_form(kefu: Kefu, data: bytes, line: int | None, detail: str) -> str:
    """An error about a line of the written playbook, prefixed with where that is in the form."""
    where = kefu.playbook_place(data, line)
    return f"{where}：{detail}" if where else detail


def raw_editor(kefu: Kefu) -> tuple[str, bytes] | None:
    """The file as text, for experts: no document is opened until one is picked."""
    try:
        files = kefu.editable_files()
    except KefuError as e:
        st.error(ui.md(str(e)))
        return None
    titles = _title(kefu)
    rel = st.selectbox("文档", files, index=None, placeholder="选择要编辑的文档", key="edit_file",
                       format_func=lambda f: titles.get(f, f))
    if rel is None:
        st.caption("直接编辑 YAML / Markdown 原文，适合熟悉格式的编辑；修改单条 FAQ 请用“FAQ 表单”。")
        return None
    if rel == SCOPE_FILE:
        st.warning("服务范围文档定义了六大类和 23 个案例。**案例标题是整个知识库的分类键**：FAQ 和处理手册都按标题引用，"
                   "改动标题会让引用它的条目全部校验失败。只修改说明文字时请保持标题不变。", icon=":material/warning:")
    try:
        raw = kefu.read_kb_file(rel)
        text = raw.decode("utf-8-sig")
    except KefuError as e:
        st.error(ui.md(str(e)))
        return None
    except UnicodeDecodeError:
        st.error("这个文件不是 UTF-8 编码，无法在此编辑：请转换为 UTF-8 后通过“上传文件”替换。")
        return None
    data = st.text_area("内容", value=text, height=420, key=f"edit_text::{rel}").encode("utf-8")
    renamed = ()
    if rel == SCOPE_FILE:
        before, after = kefu.case_titles(raw), kefu.case_titles(data)
        renamed = tuple(t for t in before if t not in after)
        if renamed and after:
            st.warning("这次修改会改动或删除案例标题：" + "、".join(ui.md(t) for t in renamed)
                       + "。引用这些标题的 FAQ 和处理手册需要同时修改。", icon=":material/warning:")
    confirmed = not renamed or st.checkbox("我了解影响，仍要校验这次修改", key="confirm_rename")
    if st.button("校验修改", key="validate_edit", disabled=not confirmed):
        _stage(kefu, rel, data)
    return rel, data


def uploader(kefu: Kefu) -> tuple[str, bytes] | None:
    templates(kefu)
    limit_mb = max(1, kefu.settings.max_file_bytes // 1_000_000)
    ui.uploader_in_chinese(limit_mb)
    upload = st.file_uploader(f"选择文件：Markdown 政策文档（放入 docs/），或 CSV / XLSX FAQ 表格（放入 faqs/）；"
                              f"单个文件不超过 {limit_mb} MB", type=["md", "csv", "xlsx"], key="upload",
                              max_upload_size=limit_mb)
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


def deleter(kefu: Kefu) -> tuple[str, None] | None:
    titles = _title(kefu)
    rel = st.selectbox("要删除的文档", [f for f in titles if f != SCOPE_FILE], index=None, placeholder="选择文档",
                       format_func=lambda f: titles.get(f, f), key="delete_file")
    if rel is None:
        return None
    st.caption("删除和修改一样先校验（例如处理手册引用了其中的 FAQ 时不能删除），确认后入库；需要时可在“版本与回滚”中恢复。")
    if st.button("校验删除", key="validate_delete"):
        _stage(kefu, rel, None)
    return rel, None


def choose_change(kefu: Kefu) -> tuple[str, bytes | None] | None:
    """The change the editor is working on, as (path in the KB, bytes or None to delete)."""
    mode = st.radio("操作", MODES, horizontal=True, key="edit_mode")
    if mode == "FAQ 表单":
        return faq_form(kefu)
    if mode == "处理手册表单":
        return playbook_form(kefu)
    if mode == "上传文件":
        return uploader(kefu)
    if mode == "删除文档":
        return deleter(kefu)
    return raw_editor(kefu)


def _errors(rows: list[tuple[str, int | None, str]], title: str) -> str:
    lines = [f"- {ui.md(source)}{f' 第 {line} 行' if line else ''}：{ui.md(detail)}" if source else f"- {ui.md(detail)}"
             for source, line, detail in rows]
    count = f"（共 {len(rows)} 处）" if len(rows) > 1 else ""
    return f"**{title}**{count}\n\n" + "\n".join(lines)


def staged_result(kefu: Kefu, current: tuple[str, bytes | None] | None) -> None:
    staged_for = st.session_state.get("staged_for")
    if staged_for is None:
        return
    if current is None or _fingerprint(*current) != staged_for:
        # What was validated is not what is on screen now: never write unvalidated text.
        st.info("内容在校验后有改动（或换了文件），请重新校验。")
        return
    error = st.session_state.get("stage_error")
    if error:
        st.error(_errors(error, "校验未通过") + "\n\n知识库目录和线上索引均未改变。")
    change = st.session_state.get("pending")
    if change is None:
        return
    if change.delete:
        st.success(f"校验通过：删除 {ui.md(change.rel)} 后知识库仍然完整（共 {change.total_chunks} 个分块）。")
    else:
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
    label = "确认删除并入库" if change.delete else "写入知识库并入库"
    if st.button(label, type="primary", key="apply"):
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
    errors = st.session_state.get("republish_errors")
    if errors:
        st.error(_errors(errors, "重新发布未通过校验") + "\n\n线上索引未改变。")
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


KIND_NAME = {"faq": "FAQ", "scope": "服务范围", "doc": "政策文档", "playbook": "处理手册"}
SWITCHABLE = ("faq", "scope", "doc")  # a playbook is one whole document: edit or delete it instead
HISTORY = 30
SCORE_COLUMNS = ("融合分", "向量相似度", "词法匹配度")


def hit_test(kefu: Kefu) -> None:
    flash = st.session_state.pop("switch_msg", None)
    if flash:
        st.success(ui.md(flash))
    with st.form("hit_form", border=False):
        q = st.text_input("测试问题", key="hit_q", placeholder="输入一个问题，查看检索到的分块、分数和最终判定")
        go = st.form_submit_button("检索", key="hit_go")
    history = st.session_state.setdefault("hit_history", [])
    if go and q.strip():
        _run_hit_test(kefu, q.strip(), history)
    result = st.session_state.get("hit_result")
    if result is not None:
        show_hit_test(kefu, result)
    disabled_list(kefu)
    if history:
        st.markdown("**测试记录**（本次登录期间，最新在前）")
        st.dataframe(history, hide_index=True, width="stretch", key="hit_history_table")


def _run_hit_test(kefu: Kefu, q: str, history: list[dict]) -> None:
    try:
        result = kefu.hit_test(q)
    except KefuError as e:
        st.error(ui.md(str(e)))
        return
    st.session_state.hit_result = result
    st.session_state.hit_last = q
    history.insert(0, {"时间 (UTC)": dt.datetime.now(dt.UTC).strftime("%H:%M:%S"), "问题": q, "判定": result.verdict,
                       "首位段落": result.rows[0].passage if result.rows else "", "知识库版本": result.kb_version})
    del history[HISTORY:]


def show_hit_test(kefu: Kefu, result) -> None:
    verdict = st.warning if result.refused else st.success
    verdict(f"**最终判定**：{ui.md(result.verdict)}", icon=":material/gavel:")
    if result.answer:
        st.caption("答复：" + ui.md(result.answer[:200]))
    st.caption("分词：" + " / ".join(ui.md(t) for t in result.tokens))
    st.caption(f"融合分 = 向量相似度 + {result.lexical_weight:g} × 词法匹配度。向量相似度是余弦（0–1），"
               "词法匹配度是 BM25 归一到 0–1（BM25 ÷ (BM25 + 6)），三列可以直接比较；排名按融合分。")
    # Every score with three decimals: 1.0004 reads 1.000 next to 0.973, not "1".
    scores = {c: st.column_config.NumberColumn(c, format="%.3f") for c in SCORE_COLUMNS}
    st.dataframe([{"排名": r.rank, "段落": r.passage, "类型": KIND_NAME.get(r.kind, r.kind), "案例": r.case or "",
                   "融合分": r.fused, "向量相似度": r.dense, "词法匹配度": r.lexical, "内容": r.text[:100]}
                  for r in result.rows], hide_index=True, width="stretch", key="hit_table", column_config=scores)
    switchable = list(dict.fromkeys(r.passage for r in result.rows if r.kind in SWITCHABLE))
    if not switchable:
        return
    a, b = st.columns([3, 1], vertical_alignment="bottom")
    passage = a.selectbox("停用一个段落（不删除内容，可随时重新启用）", switchable, key="hit_switch")
    if b.button("停用", key="hit_disable", width="stretch",
                help="写入 dict/disabled.txt 后校验并入库：该段落不再被检索和引用，文件内容保留"):
        _switch(kefu, passage, enabled=False)


def disabled_list(kefu: Kefu) -> None:
    try:
        off = kefu.disabled_passages()
    except KefuError:
        return
    if not off:
        return
    st.markdown("**已停用的段落**（不参与检索和引用）")
    for passage in off:
        a, b = st.columns([4, 1], vertical_alignment="center")
        a.markdown(ui.md(passage))
        if b.button("重新启用", key=f"enable::{passage}", width="stretch"):
            _switch(kefu, passage, enabled=True)


def _switch(kefu: Kefu, passage: str, enabled: bool) -> None:
    """A switch is a KB change like any other: validated, then ingested; the test query is re-run."""
    with st.spinner("正在校验并入库…"):
        try:
            report = kefu.apply(kefu.stage_switch(passage, enabled))
        except ValidationError as e:
            st.error(_errors([(x.source, x.line, x.detail) for x in e.errors], "未能切换") + "\n\n线上索引未改变。")
            return
        except KefuError as e:
            st.error(f"未能切换，线上索引未改变：{ui.md(str(e))}")
            return
    st.session_state.switch_msg = f"{'已重新启用' if enabled else '已停用'} {passage}：线上版本 {report.version}"
    last = st.session_state.get("hit_last")
    if last:
        st.session_state.hit_result = kefu.hit_test(last)
    st.rerun()


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
    st.session_state.pop("docs_this_run", None)
    # Above the tabs, the outcome of the last publish, whichever tab started it; filled last,
    # so that a change staged in this very run has already cleared the previous outcome.
    outcome = st.container()
    docs, edit, hits, fb, vers = st.tabs(["文档", "修改与入库", "命中测试", "负面反馈", "版本与回滚"])
    with docs:
        documents(kefu)
    with edit:
        current = choose_change(kefu)
        staged_result(kefu, current)
    with hits:
        hit_test(kefu)
    with fb:
        negative_feedback(kefu)
    with vers:
        versions(kefu)
    with outcome:
        report_panel()


if __name__ == "__main__":
    main()
