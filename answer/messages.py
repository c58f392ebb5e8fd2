"""The fixed wording of answers. Connective phrases only: none of them states a policy."""

MSG_EMPTY = "请输入您的问题，例如：“物流显示签收了但我没收到”。"
MSG_NO_TEXT = "没有识别到文字内容，请用文字描述您遇到的问题。"
MSG_TRUNCATED = "问题较长，已按前 {n} 个字处理；如有多个问题，建议分开提问。"
MSG_OOS = "知识库暂未收录这个问题，无法给出可靠答复。"
MSG_OOS_ROUTE = "可能属于「{category}」类问题，建议转人工客服（{team}）处理。"
MSG_OOS_HUMAN = "建议转人工客服（{team}）处理。"
REASON_OOS = "知识库未覆盖该问题，需人工确认"
MSG_HUMAN = "如需人工协助，请联系人工客服（{team}），并准备好：{ready}。"
# Shown with every answer that rests on an FAQ marked `sample: true`.
MSG_SAMPLE = "示例内容，以实际政策为准"

# Labels of handling-path steps, in the terminal and on the pages.
KIND_LABEL = {"verify": "核实", "step": "步骤", "escalate": "升级", "self_service": "自助"}

# Notices of answers that are only a message about the input (no search was run).
NOTICE_EMPTY = "empty"
NOTICE_NO_TEXT = "no_text"
PLAIN_NOTICES = (NOTICE_EMPTY, NOTICE_NO_TEXT)
