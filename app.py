"""Kefu 客服知识助手: the Streamlit app. Thin: each page calls the library and renders.

    kefu serve                  (builds the model and index first; or: streamlit run app.py)

Each page has its own URL (/agent, /customer, /editor, /eval); the root opens the agent
desk, or self-service for visitors who are not staff. Pages live in kefu/web/; shared
pieces (the cached `Kefu`, first start, safe Markdown) in kefu/web/common.py.
"""

import streamlit as st

from kefu.web.common import settings_or_stop, staff_allowed

# Agents and customers have no use for Streamlit's Deploy, Rerun or Stop.
st.set_option("client.toolbarMode", "minimal")
st.set_page_config(page_title="客服知识助手", page_icon="💬", layout="wide")

# Customers reach only self-service; the staff pages (internal notes, editing, evaluation)
# need the agent password, or, when none is set, a browser on this machine.
staff = staff_allowed(settings_or_stop())
agent = st.Page("kefu/web/agent.py", title="客服工作台", icon=":material/support_agent:", url_path="agent")
customer = st.Page("kefu/web/customer.py", title="自助服务", icon=":material/chat:", url_path="customer")
if staff:
    pages = [agent, customer,
             st.Page("kefu/web/editor.py", title="知识库管理", icon=":material/edit_note:", url_path="editor"),
             st.Page("kefu/web/evaluation.py", title="评测", icon=":material/monitoring:", url_path="eval")]
else:
    pages = [customer, st.Page("kefu/web/login.py", title="客服登录", icon=":material/login:", url_path="login")]


def home() -> None:
    """The root URL. Streamlit always serves the default page at "/", so the default page
    only forwards: the agent desk and self-service keep /agent and /customer as their own."""
    st.switch_page(agent if staff else customer)


st.navigation([st.Page(home, title="客服知识助手", url_path="home", default=True, visibility="hidden"), *pages]).run()
