"""Display names for enum values, translated (the one place they are spelled)."""

from flask_babel import lazy_gettext as _l

from distweb.models.job import JobStatus
from distweb.models.network import PromoterStatus, Rank
from distweb.models.order import OrderMode, OrderStatus

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
JOB_KIND = {"diagnostics": _l("系统自检")}


def init_app(app) -> None:
    app.jinja_env.globals.update(
        order_status_label=lambda v: str(ORDER_STATUS[v]),
        mode_label=lambda v: str(ORDER_MODE[v]),
        rank_label=lambda v: str(RANK[v]),
        promoter_status_label=lambda v: str(PROMOTER_STATUS[v]),
        job_status_label=lambda v: str(JOB_STATUS[v]),
        job_kind_label=lambda v: str(JOB_KIND.get(v, v)),
        mode_labels={mode.value: label for mode, label in ORDER_MODE.items()},
    )
