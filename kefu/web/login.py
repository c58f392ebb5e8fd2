"""客服登录: with an agent password set, the agent desk (with its internal notes), the editor
console and the evaluation are behind this page; customers reach only self-service."""

from __future__ import annotations

import streamlit as st

from kefu.web import common as ui

REMOTE_WITHOUT_PASSWORD = (
    "本应用没有设置客服密码（`KEFU_AGENT_PASSWORD`），客服工作台、知识库管理和评测只对本机开放。"
    "要从其他电脑使用，请在启动应用前设置 `KEFU_AGENT_PASSWORD`（例如 `export KEFU_AGENT_PASSWORD=一个足够长的密码`），"
    "或在 `.streamlit/secrets.toml` 中设置 `agent_password`。顾客请使用“自助服务”。"
)


def main() -> None:
    settings = ui.settings_or_stop()
    st.title("客服登录")
    agent = ui.agent_password(settings)
    if not agent:
        st.info(REMOTE_WITHOUT_PASSWORD)
        return
    st.caption("客服工作台（含内部备注）、知识库管理和评测需要登录。顾客请使用“自助服务”。")
    ui.login_form(ui.get_kefu(settings), "agent", {"agent": agent, "editor": ui.editor_password(settings)}, "客服密码")


if __name__ == "__main__":
    main()
