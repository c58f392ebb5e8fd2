"""Quality with the real model on the shipped KB: the examples of the brief, and a
regression floor on the dev set. Floors come from measured runs (README, "Evaluation")."""

import pytest

from eval.devset import load_devset
from eval.run import evaluate

pytestmark = pytest.mark.model

# Measured 2026-11-25 on the shipped KB: hit@3 0.982, false refusal 0.004, OOS refusal 0.946 (README).
HIT3_FLOOR = 0.97
FALSE_REFUSAL_CEILING = 0.03
OOS_REFUSAL_FLOOR = 0.85


@pytest.mark.parametrize("query, case", [
    ("物流显示签收了但我没收到", "包裹丢失或损毁"),
    ("买的冻肉到了都化了", "冷链商品温控异常"),
    ("发票抬头开错了", "发票问题"),
    ("账号被盗了怎么办", "账户被盗或异常交易"),
    ("白条这个月能晚几天还吗", "白条还款与额度问题"),
])
def test_typical_questions_find_their_case(real_service, query, case):
    a = real_service.ask(query)
    assert a.case is not None and a.case.title == case
    assert a.citations and a.handling_path


@pytest.mark.parametrize("query", ["今天北京天气怎么样", "帮我写一首诗", "iPhone 多少钱"])
def test_out_of_scope_questions_get_no_case(real_service, query):
    a = real_service.ask(query)
    assert a.case is None and a.escalate and "知识库暂未收录" in a.answer


def test_account_theft_always_goes_to_a_human(real_service):
    a = real_service.ask("我的账号被人盗了，还下了好几单")
    assert a.case.title == "账户被盗或异常交易" and a.escalate and a.escalate_reason


def test_dev_set_regression_floor_and_baselines(real_service):
    report = evaluate(real_service, load_devset(), real_service.settings.kb_dir)
    kefu = report["systems"]["kefu"]
    assert kefu["hit@3"] >= HIT3_FLOOR
    assert kefu["false_refusal"] <= FALSE_REFUSAL_CEILING and kefu["oos_refusal"] >= OOS_REFUSAL_FLOOR
    for name, m in report["systems"].items():
        if name != "kefu":
            assert kefu["hit@1"] > m["hit@1"] and kefu["mrr"] > m["mrr"], name
