"""The fields an import fills, and column presets for the shop platforms brands sell on.

A preset is a list of header names each field may carry in that platform's export; a file's
headers are matched against it to propose a mapping, which the manager checks and saves (per
brand, kind and source). The generic mapping covers any platform.

Which presets are confirmed: a preset is ``confirmed`` only where the platform's own public
documentation lists its export columns, with the page's address in ``source_url``. When this
was written (2026-12), the documentation search (public docs, pages and code) found no such
page for any of the four platforms below — only third-party articles and scripts (for 抖店,
community scripts reading 主订单编号 / 商品数量 / 支付完成时间 / 订单完成时间 / 订单状态; a
third-party copy of 抖店's "订单报表使用说明" says the standard report has 54 fields without
listing them). So each is marked unconfirmed: check it against your file. Mark one confirmed,
with its source_url, once its columns are checked against the platform's documentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

KINDS = ("orders", "promoters", "products")


@dataclass(frozen=True)
class Field:
    key: str
    label: object  # a lazy translation
    required: bool = False
    aliases: tuple[str, ...] = ()  # header names the generic mapping recognises


ORDER_FIELDS = (
    Field("external_id", _l("订单号"), True, ("订单号", "订单编号", "主订单编号", "order_id", "external_id")),
    Field("sku", _l("商品编码（SKU）"), True, ("商品编码", "商家编码", "SKU", "sku", "规格编码", "货号")),
    Field("quantity", _l("数量"), True, ("数量", "商品数量", "购买数量", "quantity")),
    Field("unit_price", _l("单价（元）"), False, ("单价", "商品单价", "unit_price")),
    Field("paid", _l("该商品实付（元）"), False, ("实付金额", "商品实付金额", "实付款", "paid")),
    Field("paid_at", _l("付款时间"), True, ("付款时间", "支付时间", "订单付款时间", "paid_at")),
    Field("placed_at", _l("下单时间"), False, ("下单时间", "创建时间", "订单创建时间", "placed_at")),
    Field("completed_at", _l("确认收货时间"), False, ("确认收货时间", "完成时间", "交易成功时间", "completed_at")),
    Field("refund", _l("该商品已退款（元）"), False, ("退款金额", "已退款金额", "refund")),
    Field("status", _l("订单状态"), False, ("订单状态", "状态", "status")),
    Field("promoter_code", _l("推客邀请码或原编号"), False, ("推客邀请码", "邀请码", "推客编号", "promoter_code")),
    Field("promoter_phone", _l("推客手机号"), False, ("推客手机号", "分销员手机号", "promoter_phone")),
    Field("buyer_name", _l("买家姓名"), False, ("收货人", "收货人姓名", "收件人", "买家姓名", "buyer_name")),
    Field("buyer_phone", _l("买家手机号"), False, ("收货人手机号", "收件人手机号", "联系手机", "手机号", "buyer_phone")),
    Field("buyer_address", _l("收货地址"), False, ("收货地址", "详细地址", "收货人地址", "buyer_address")),
)

PROMOTER_FIELDS = (
    Field("external_id", _l("原编号"), True, ("编号", "推客编号", "原编号", "ID", "id", "external_id")),
    Field("name", _l("姓名"), True, ("姓名", "昵称", "name")),
    Field("phone", _l("手机号"), False, ("手机号", "手机", "电话", "phone")),
    Field("upline", _l("上级编号"), False, ("上级编号", "上级", "邀请人编号", "upline", "upline_id")),
    Field("rank", _l("等级"), False, ("等级", "rank")),
    Field("distributor", _l("分销商（是/否）"), False, ("分销商", "distributor")),
    Field("joined_at", _l("加入时间"), False, ("加入时间", "注册时间", "joined_at")),
)

PRODUCT_FIELDS = (
    Field("sku", _l("商品编码（SKU）"), True, ("商品编码", "商家编码", "SKU", "sku", "货号")),
    Field("name", _l("商品名称"), True, ("商品名称", "名称", "商品标题", "name")),
    Field("price", _l("售价（元）"), True, ("售价", "价格", "单价", "price")),
    Field("supply_cost", _l("供货价（元）"), False, ("供货价", "成本价", "supply_cost")),
    Field("wholesale_price", _l("经销价（元）"), False, ("经销价", "批发价", "wholesale_price")),
    Field("supplier", _l("供货商代码"), False, ("供货商", "供货商代码", "supplier")),
    Field("category", _l("类目"), False, ("类目", "分类", "category")),
    Field("modes", _l("销售模式"), False, ("销售模式", "modes")),
    Field("active", _l("上架（是/否）"), False, ("上架", "状态", "active")),
)

FIELDS = {"orders": ORDER_FIELDS, "promoters": PROMOTER_FIELDS, "products": PRODUCT_FIELDS}


@dataclass(frozen=True)
class Preset:
    key: str
    label: object
    confirmed: bool = False
    source_url: str | None = None  # the platform's documentation of its export columns
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # field -> header names


GENERIC = Preset("generic", _l("通用（任意平台）"), confirmed=True)

# Orders only: the platforms export orders; promoters and products come from the brand's own
# sheets (the generic mapping).
ORDER_PRESETS = (
    GENERIC,
    Preset("youzan", _l("有赞"), columns={
        "external_id": ("订单号",), "sku": ("商品编码", "规格编码"), "quantity": ("商品数量",),
        "unit_price": ("商品单价",), "paid": ("商品实际成交金额", "商品实付金额"),
        "paid_at": ("付款时间", "订单付款时间"), "placed_at": ("订单创建时间", "下单时间"),
        "completed_at": ("交易成功时间",), "refund": ("商品已退款金额", "退款金额"), "status": ("订单状态",),
        "promoter_phone": ("分销员手机号",), "buyer_name": ("收货人/提货人", "收货人"),
        "buyer_phone": ("收货人手机号/提货人手机号", "收货人手机号"), "buyer_address": ("详细收货地址/提货地址", "详细收货地址"),
    }),
    Preset("doudian", _l("抖店"), columns={
        "external_id": ("主订单编号",), "sku": ("商家编码", "货号"), "quantity": ("商品数量",),
        "unit_price": ("商品金额",), "paid": ("订单应付金额",), "paid_at": ("支付完成时间",),
        "placed_at": ("订单提交时间",), "completed_at": ("订单完成时间",), "status": ("订单状态",),
        "buyer_name": ("收件人",), "buyer_phone": ("收件人手机号",), "buyer_address": ("详细地址",),
    }),
    Preset("weixin", _l("微信小店"), columns={
        "external_id": ("订单号",), "sku": ("SKU编码", "商品编码"), "quantity": ("商品数量",),
        "unit_price": ("商品价格",), "paid": ("实付金额", "订单实际支付金额"), "paid_at": ("支付时间",),
        "placed_at": ("下单时间",), "completed_at": ("确认收货时间",), "status": ("订单状态",),
        "buyer_name": ("收件人姓名", "收件人"), "buyer_phone": ("收件人手机", "联系电话"), "buyer_address": ("详细地址",),
    }),
    Preset("taobao", _l("淘宝/天猫"), columns={
        "external_id": ("订单编号",), "sku": ("商家编码",), "quantity": ("购买数量", "宝贝总数量"),
        "unit_price": ("价格",), "paid": ("买家实际支付金额",), "paid_at": ("订单付款时间",),
        "placed_at": ("订单创建时间",), "completed_at": ("确认收货时间",), "refund": ("退款金额",),
        "status": ("订单状态",), "buyer_name": ("收货人姓名",), "buyer_phone": ("联系手机",),
        "buyer_address": ("收货地址",),
    }),
)
PRESETS = {"orders": ORDER_PRESETS, "promoters": (GENERIC,), "products": (GENERIC,)}
SOURCES = {p.key for presets in PRESETS.values() for p in presets}


def preset(kind: str, source: str) -> Preset | None:
    return next((p for p in PRESETS.get(kind, ()) if p.key == source), None)


def propose(kind: str, source: str, headers: list[str]) -> dict[str, str]:
    """A mapping proposed for a file: each field to the first of its preset's (else the
    generic) header names the file has, compared without spaces and case."""
    def norm(text: str) -> str:
        return "".join(text.split()).lower()

    present = {norm(h): h for h in headers}
    chosen = preset(kind, source)
    proposal: dict[str, str] = {}
    for f in FIELDS[kind]:
        names = (chosen.columns.get(f.key, ()) if chosen else ()) + f.aliases
        for name in names:
            if norm(name) in present:
                proposal[f.key] = present[norm(name)]
                break
    return proposal
