"""The fixed wording of answers. Connective phrases only: none of them states a policy."""

MSG_EMPTY = "请输入您的问题，例如：“物流显示签收了但我没收到”。"
MSG_NO_TEXT = "没有识别到文字内容，请用文字描述您遇到的问题。"
MSG_TRUNCATED = "问题较长，已按前 {n} 个字处理；如有多个问题，建议分开提问。"
MSG_OOS = "知识库暂未收录这个问题，无法给出可靠答复。"
MSG_OOS_ROUTE = "可能属于「{category}」类问题，建议转人工客服（{team}）处理。"
MSG_OOS_HUMAN = "建议转人工客服（{team}）处理。"
REASON_OOS = "知识库未覆盖该问题，需人工确认"
# A topic the KB does not cover, named: a pre-sale question, or a line of dict/uncovered.txt.
PRESALE_TOPIC = "商品的库存、规格、配件和选购等售前问题"
MSG_UNCOVERED = "{topic}，知识库暂未收录，无法给出可靠答复。"
MSG_UNCOVERED_ALSO = "这一点请转人工客服解答。"  # said of another issue of the message
REASON_UNCOVERED = "{topic}不在知识库范围内，需人工解答"
MSG_HUMAN = "如需人工协助，请联系人工客服（{team}），并准备好：{ready}。"
# Shown with every answer that rests on an FAQ marked `sample: true`.
MSG_SAMPLE = "示例内容，以实际政策为准"

MSG_GREETING = "您好，请问有什么可以帮您？请描述您遇到的问题，例如：“物流显示签收了但我没收到”。"
# The same mid-conversation ("人呢", a menu click after a question): no second welcome.
MSG_GREETING_AGAIN = "我在。请问还有什么可以帮您？直接把问题发给我就行；需要人工时，也可以转人工客服。"
# "??" or "嗯?" after an answer: it did not land, or the customer is waiting.
MSG_PUZZLED = "我在。如果上面的答复没有说清楚，请换个说法再问一次；需要人工时，也可以转人工客服。"
MSG_ORDER_ONLY = "已收到您发来的订单信息。请问这个订单遇到了什么问题？例如物流、退换货、退款或发票。"
MSG_ORDER_AFTER_QUESTION = "已收到您发来的订单信息。知识助手查不到订单的具体情况，需要核实这个订单时，请转人工客服，客服会按订单号为您查询。"
MSG_NUMBER_AFTER_QUESTION = "收到。知识助手查不到订单、单号等具体信息，需要核实时，请转人工客服，客服会按您提供的号码为您查询。"
MSG_LINK_ONLY = "已收到您发来的商品链接。请问这个商品遇到了什么问题？例如发货、退换货、维修或发票。"
MSG_THANKS = "感谢您的咨询，祝您生活愉快！如果还有其他问题，随时告诉我。"
MSG_ACK = "好的。有需要时，直接把您遇到的问题发给我就行。"
MSG_CORRECTION = "抱歉，可能没有理解准确。请换个说法，具体说说您遇到的情况，例如：“订单显示已签收但我没收到”。"
MSG_VAGUE = "请问您指的是哪件事呢？请把问题说完整一些，例如：“订单显示已签收但我没收到，怎么办”。"
MSG_WANTS_HUMAN = "好的，可以为您转人工客服。为了让客服更快帮到您，也可以先简单描述一下遇到的问题。"
REASON_WANTS_HUMAN = "用户要求转人工"

# Labels of handling-path steps, in the terminal and on the pages.
KIND_LABEL = {"verify": "核实", "step": "步骤", "escalate": "升级", "self_service": "自助"}

# Notices of answers that are only a message about the input (no search was run).
NOTICE_EMPTY = "empty"
NOTICE_NO_TEXT = "no_text"
NOTICE_GREETING = "greeting"  # only a greeting or a menu click
NOTICE_ORDER_ONLY = "order_only"  # only an order card: ask what about it
NOTICE_LINK_ONLY = "link_only"  # only a product link: ask what about it
NOTICE_WANTS_HUMAN = "wants_human"  # only "转人工"
NOTICE_THANKS = "thanks"  # only thanks or a goodbye
NOTICE_CORRECTION = "correction"  # only "不是": ask again in other words
NOTICE_ACK = "ack"  # only "好的", "稍等"
NOTICE_VAGUE = "vague"  # "那怎么办" with nothing to lean on: ask what it is about
PLAIN_NOTICES = (NOTICE_EMPTY, NOTICE_NO_TEXT, NOTICE_GREETING, NOTICE_ORDER_ONLY, NOTICE_LINK_ONLY, NOTICE_WANTS_HUMAN,
                 NOTICE_THANKS, NOTICE_CORRECTION, NOTICE_ACK, NOTICE_VAGUE)
