"""Kefu 客服知识助手: the Streamlit app. Thin: each page calls the library and renders.

    streamlit run app.py        (or: kefu serve)

Pages live in kefu/web/; shared pieces (the cached `Kefu`, first start, safe Markdown)
in kefu/web/common.py.
"""

import streamlit as st

from kefu.web.common import settings_or_stop, staff_allowed

st.set_page_config(page_title="客服知识助手", page_icon="💬", layout="wide")

# Customers reach only self-service; the staff pages (internal notes, editing, evaluation)
# need the agent password, or, when none is set, a browser on this machine.
staff = staff_allowed(settings_or_stop())
pages = [
    st.Page("kefu/web/agent.py", title="客服工作台", icon=":material/support_agent:", url_path="agent", default=staff),
    st.Page("kefu/web/customer.py", title="自助服务", icon=":material/chat:", url_path="customer", default=not staff),
    st.Page("kefu/web/editor.py", title="知识库管理", icon=":material/edit_note:", url_path="editor"),
    st.Page("kefu/web/evaluation.py", title="评测", icon=":material/monitoring:", url_path="eval"),
]
if not staff:
    pages = [pages[1], st.Page("kefu/web/login.py", title="客服登录", icon=":material/login:", url_path="login")]
st.navigation(pages).run()
