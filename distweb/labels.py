"""Display names for enum values, translated (the one place they are spelled)."""


from flask_babel import lazy_gettext as _l

from distweb.models.job import JobStatus
from distweb.models.network import PromoterStatus, Rank
from distweb.models.order import OrderMode, OrderStatus
from distweb.money import bp_text

ORDER_STATUS = {
    OrderStatus.CREATED: _l("待付款"),
    OrderStatus.PAID: _l("已付款"),
    OrderStatus.SHIPPED: _l("已发货"),
    OrderStatus.COMPLETED: _l("已完成"),
    OrderStatus.CANCELLED: _l("已取消"),
    OrderStatus.REFUNDED: _l("已退款"),
}
ORDER_MODE = {
    OrderMode.PROMOTION: _l("推广"),
    OrderMode.CONSIGNMENT: _l("代销"),
    OrderMode.WHOLESALE: _l("经销"),
}
RANK = {Rank.PROMOTER: _l("推客"), Rank.MENTOR: _l("导师"), Rank.PARTNER: _l("合伙人")}
PROMOTER_STATUS = {
    PromoterStatus.PENDING: _l("待审核"),
    PromoterStatus.ACTIVE: _l("正常"),
    PromoterStatus.SUSPENDED: _l("已停用"),
    PromoterStatus.REJECTED: _l("已拒绝"),
}
JOB_STATUS = {
    JobStatus.QUEUED: _l("排队中"),
    JobStatus.RUNNING: _l("运行中"),
    JobStatus.SUCCEEDED: _l("已完成"),
    JobStatus.FAILED: _l("失败"),
}
JOB_KIND = {"diagnostics": _l("系统自检"), "evaluate_ranks": _l("等级评定"), "settlement": _l("结算"),
            "statement": _l("对账单"), "daily_report": _l("品牌日报"), "import": _l("数据导入"),
            "payout_batch": _l("批量打款")}
# Job progress steps and result fields are stored as keys and translated when shown.
JOB_TEXT = {
    "database": _l("数据库"),
    "redis": _l("Redis"),
    "fonts": _l("PDF 字体"),
    "evaluate": _l("评定等级"),
    "orders": _l("订单数"),
    "promoters": _l("推客数"),
    "cjk_font": _l("中文字体"),
    "harfbuzz_subset": _l("字体子集库 (harfbuzz-subset)"),
    "queue_prefix": _l("队列前缀"),
    "promoted": _l("晋升人数"),
    "counting": _l("统计行数"),
    "importing": _l("导入中"),
    "created": _l("新建"),
    "updated": _l("更新"),
    "refunded": _l("退款"),
    "unchanged": _l("无变化"),
    "skipped": _l("跳过"),
    "yes": _l("有"),
    "missing": _l("缺失"),
    "payouts": _l("打款中"),
    "succeeded": _l("成功"),
    "pending": _l("处理中"),
    "failed": _l("失败"),
}
ORDER_EVENT = {
    "placed": _l("下单"),
    "paid": _l("已付款"),
    "purchase_order": _l("已向供货商下采购单"),
    "supplier_shipped": _l("供货商已发货"),
    "shipped": _l("已发货"),
    "completed": _l("已确认收货"),
    "cancelled": _l("已取消"),
    "refunded": _l("退款"),
}
ATTRIBUTION_SOURCE = {
    "link": _l("推广链接"),
    "shop": _l("推客小店"),
    "binding": _l("买家绑定"),
    "api": _l("接口指定"),
    "self": _l("自购转上级"),
    "stock": _l("分销商进货"),
    "retail": _l("分销商零售"),
}
PO_STATUS = {"open": _l("待发货"), "shipped": _l("已发货"), "cancelled": _l("已取消")}
PAYMENT_STATUS = {"pending": _l("待支付"), "paid": _l("已支付"), "failed": _l("支付失败"), "closed": _l("已关闭")}
REFUND_STATUS = {"pending": _l("退款中"), "succeeded": _l("已退款"), "failed": _l("退款失败")}
RECONCILIATION_DIFFERENCE = {"missing_in_distweb": _l("系统无记录"), "missing_at_provider": _l("平台无记录"),
                             "amount_differs": _l("金额不一致"), "needs_refund": _l("重复或关闭后付款，需退款")}
SPLIT_STATUS = {"pending": _l("分账中"), "succeeded": _l("已分账"), "failed": _l("分账失败"),
                "manual": _l("线下结算"), "waiting": _l("随退款回退"), "returned": _l("已回退"),
                "awaiting": _l("等待分账结果"), "void": _l("无需回退")}
PAYOUT_STATUS = {"pending": _l("打款中"), "succeeded": _l("已到账"), "failed": _l("打款失败")}
STOCK_REASON = {"purchase": _l("进货到货"), "sale": _l("零售"), "cancel": _l("订单取消退回")}
LINE_STATUS = {"frozen": _l("冻结中"), "available": _l("已结算"), "paid_out": _l("已提现"), "reversed": _l("已扣回"),
               "split_paid": _l("已分账到账")}
LEVEL_LABEL = {1: _l("直推佣金"), 2: _l("二级佣金"), 3: _l("三级佣金")}
MOVEMENT_KIND = {
    "accrual": _l("佣金入账（冻结）"),
    "settlement": _l("结算解冻"),
    "reversal": _l("退款扣回"),
    "cancellation": _l("订单取消扣回"),
    "withdrawal_hold": _l("提现申请"),
    "withdrawal_return": _l("提现退回"),
    "withdrawal_paid": _l("提现到账"),
    "commission_split_hold": _l("佣金分账处理中"),
    "commission_split_return": _l("佣金分账失败退回"),
    "supplier_split": _l("佣金分账到账"),
    "split_return": _l("分账回退"),
}
WITHDRAW_METHOD = {"bank": _l("银行卡"), "alipay": _l("支付宝"), "wechat": _l("微信")}
WITHDRAWAL_STATUS = {"requested": _l("待审核"), "approved": _l("待打款"), "paid": _l("已到账"), "rejected": _l("已拒绝")}
RUN_TRIGGER = {"manual": _l("手动"), "api": _l("接口"), "schedule": _l("自动"), "demo": _l("演示数据")}
WEBHOOK_STATUS = {"applied": _l("已应用"), "held": _l("等待订单"), "failed": _l("应用失败"), "rejected": _l("已拒绝"),
                  "duplicate": _l("重复"), "queued": _l("排队中"), "dead": _l("死信"), "dropped": _l("已丢弃")}
WEBHOOK_TYPE = {"order.paid": _l("订单付款"), "order.completed": _l("确认收货"), "order.refunded": _l("退款"),
                "order.cancelled": _l("订单取消")}
RUN_STATUS = {"queued": _l("排队中"), "running": _l("进行中"), "succeeded": _l("已完成"), "failed": _l("失败")}
NOTIFICATION = {
    "commission_unfrozen": _l("佣金已解冻 %(amount)s，可以提现了。"),
    "withdrawal_approved": _l("提现 %(amount)s 已通过审核，等待打款。"),
    "withdrawal_paid": _l("提现 %(amount)s 已打款。"),
    "withdrawal_confirm": _l("提现 %(amount)s 已通过微信打款，请在 24 小时内打开并确认收款。"),
    "withdrawal_rejected": _l("提现 %(amount)s 被拒绝，金额已退回钱包。"),
    "withdrawal_requested": _l("提现 %(amount)s 已提交。"),
    "statement_ready": _l("%(period)s 对账单已生成。"),
    "order_paid": _l("新订单 %(order)s 已付款 %(amount)s。"),
    "team_first_sale": _l("你的团队成员 %(name)s 完成了首单！"),
    "material_pinned": _l("新的置顶素材：%(title)s"),
}
SHARE_CHANNEL = {"web_share": _l("系统分享"), "copy": _l("复制"), "wechat": _l("微信内"), "poster": _l("保存海报"),
                 "other": _l("其他")}
# What each kind of notification is called on the push settings page.
NOTIFICATION_KIND = {
    "order_paid": _l("新订单"),
    "team_first_sale": _l("团队成员首单"),
    "commission_unfrozen": _l("佣金解冻"),
    "withdrawal": _l("提现进度"),
    "material_pinned": _l("置顶素材"),
    "statement_ready": _l("对账单"),
}


def notification_text(notification) -> str:
    from distweb.i18n import money

    data = notification.data or {}
    template = NOTIFICATION.get(notification.kind)
    if template is None:
        return notification.kind
    return str(template) % {"amount": money(int(data.get("amount_fen", 0))), "period": data.get("period", ""),
                            "order": data.get("order_no", ""), "name": data.get("name", ""),
                            "title": data.get("title", "")}


def notification_link(notification) -> str:
    """Where tapping the notification (in the inbox or on the lock screen) leads."""
    from flask import url_for

    data = notification.data or {}
    kind = notification.kind
    if kind == "order_paid" and data.get("order_id"):
        return url_for("promoter.order_show", order_id=int(data["order_id"]))
    if kind == "team_first_sale":
        return url_for("promoter.team")
    if kind == "material_pinned" and data.get("material_id"):
        return url_for("promoter.material_show", material_id=int(data["material_id"]))
    if kind == "statement_ready":
        return url_for("promoter.statements_page")
    if kind == "withdrawal_confirm" and data.get("withdrawal"):
        return url_for("promoter.withdrawal_show", withdrawal_id=int(data["withdrawal"]))
    if kind == "commission_unfrozen" or kind.startswith("withdrawal_"):
        return url_for("promoter.wallet")
    return url_for("promoter.inbox")


AUDIT_ACTION = {
    "promoter.signup": _l("注册"),
    "promoter.import": _l("API 导入"),
    "promoter.approve": _l("审核通过"),
    "promoter.reject": _l("审核拒绝"),
    "promoter.suspend": _l("停用"),
    "promoter.reactivate": _l("恢复"),
    "promoter.move": _l("调整上级"),
    "promoter.rank": _l("等级变更"),
    "promoter.distributor.set": _l("设为分销商"),
    "promoter.distributor.unset": _l("取消分销商"),
    "promoter.rename": _l("修改姓名"),
    "settings.update": _l("修改设置"),
}


DEFAULT_RANK_NAMES = {Rank.PROMOTER: "推客", Rank.MENTOR: "导师", Rank.PARTNER: "合伙人"}


def rank_name(rank: Rank | str) -> str:
    """The brand's name for a rank; the default names follow the UI language."""
    rank = Rank(rank)
    from flask import g
    from flask_login import current_user

    from distweb.services.network import get_settings

    if "programme_settings" not in g:
        brand_id = getattr(current_user, "brand_id", None) if current_user else None
        if brand_id is None:
            from distweb.services.accounts import current_brand

            brand = current_brand()
            brand_id = brand.id if brand else None
        g.programme_settings = get_settings(brand_id) if brand_id else None
    settings = g.programme_settings
    custom = settings.rank_name(rank) if settings else DEFAULT_RANK_NAMES[rank]
    return str(RANK[rank]) if custom == DEFAULT_RANK_NAMES[rank] else custom


def _text(label) -> str:
    return str(label)


def init_app(app) -> None:
    app.jinja_env.globals.update(
        order_status_label=lambda v: _text(ORDER_STATUS[v]),
        mode_label=lambda v: _text(ORDER_MODE[v]),
        rank_name=rank_name,
        promoter_status_label=lambda v: _text(PROMOTER_STATUS[v]),
        job_status_label=lambda v: _text(JOB_STATUS[v]),
        job_kind_label=lambda v: _text(JOB_KIND.get(v, v)),
        job_text=lambda v: _text(JOB_TEXT.get(v, v)),
        event_label=lambda v: _text(ORDER_EVENT.get(v, v)),
        attribution_label=lambda v: _text(ATTRIBUTION_SOURCE.get(v, v)),
        po_status_label=lambda v: _text(PO_STATUS.get(getattr(v, "value", v), v)),
        payment_status_label=lambda v: _text(PAYMENT_STATUS.get(v, v)),
        refund_status_label=lambda v: _text(REFUND_STATUS.get(v, v)),
        payout_status_label=lambda v: _text(PAYOUT_STATUS.get(v, v)),
        split_status_label=lambda v: _text(SPLIT_STATUS.get(v, v)),
        reconciliation_label=lambda v: _text(RECONCILIATION_DIFFERENCE.get(v, v)),
        stock_reason_label=lambda v: _text(STOCK_REASON.get(v, v)),
        line_status_label=lambda v: _text(LINE_STATUS.get(getattr(v, "value", v), v)),
        level_label=lambda level, kind="commission": str(_l("代销利润")) if kind == "margin" else _text(LEVEL_LABEL[level]),
        withdraw_method_label=lambda v: _text(WITHDRAW_METHOD.get(v, v)),
        withdrawal_status_label=lambda v: _text(WITHDRAWAL_STATUS.get(getattr(v, "value", v), v)),
        run_trigger_label=lambda v: _text(RUN_TRIGGER.get(v, v)),
        run_status_label=lambda v: _text(RUN_STATUS.get(getattr(v, "value", v), v)),
        webhook_status_label=lambda v: _text(WEBHOOK_STATUS.get(getattr(v, "value", v), v)),
        webhook_type_label=lambda v: _text(WEBHOOK_TYPE.get(v, v)),
        notification_text=notification_text,
        notification_link=notification_link,
        share_channel_label=lambda v: _text(SHARE_CHANNEL.get(v, v)),
        notification_kind_label=lambda v: _text(NOTIFICATION_KIND.get(v, v)),
        audit_label=lambda v: _text(AUDIT_ACTION.get(v, v)),
        mode_labels={mode.value: label for mode, label in ORDER_MODE.items()},
        percent=lambda bp: bp_text(int(bp)) + "%",
    )
