"""The manager's data dashboard (数据可视化看板): period picker, cards compared with the
previous period, trend charts (ECharts, fed by JSON) and the tables behind them."""

from __future__ import annotations

from calendar import monthrange
from datetime import date, timedelta

from flask import jsonify, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from distweb.services import daily_report, dashboard, launch_templates, network, reports
from distweb.services.errors import ServiceError
from distweb.web.downloads import attachment_headers
from distweb.web.htmx import render
from distweb.web.manage.routes import bp

PRESETS = (
    ("today", _l("今天")),
    ("7d", _l("近 7 天")),
    ("month", _l("本月")),
    ("last_month", _l("上月")),
    ("30d", _l("近 30 天")),
    ("90d", _l("近 90 天")),
    ("365d", _l("近 365 天")),
)
DEFAULT_PRESET = "7d"
ECHARTS = "js/vendor/echarts-6.1.0.common.min.js"


def preset_period(key: str, today: date, tz: str) -> dashboard.Period:
    if key == "today":
        return dashboard.Period(today, today, tz)
    if key == "month":
        return dashboard.Period(today.replace(day=1), today, tz)
    if key == "last_month":
        last_day = today.replace(day=1) - timedelta(days=1)
        return dashboard.Period(last_day.replace(day=1), last_day.replace(day=monthrange(last_day.year,
                                                                                          last_day.month)[1]), tz)
    days = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}[key]
    return dashboard.Period(today - timedelta(days=days - 1), today, tz)


class Choice:
    """The period the request asks for: a preset (?range=30d) or custom days (?from=&to=)."""

    def __init__(self, tz: str):
        self.tz = tz
        self.error = None
        self.field = None
        today = dashboard.local_today(tz)
        key = request.args.get("range") or ""
        start, end = request.args.get("from"), request.args.get("to")
        if key == "custom" or (not key and (start or end)):
            try:
                self.period = dashboard.parse_period(start, end, tz)
                self.key = "custom"
                self.args = {"range": "custom", "from": self.period.start.isoformat(), "to": self.period.end.isoformat()}
                return
            except ServiceError as err:
                self.error, self.field = str(err.message), err.field
                key = DEFAULT_PRESET
        if key not in dict(PRESETS):
            key = DEFAULT_PRESET
        self.key = key
        self.period = preset_period(key, today, tz)
        self.args = {"range": key}

    @property
    def previous(self) -> dashboard.Period:
        return self.period.previous()

    @property
    def form_from(self) -> str:
        return request.args.get("from") if self.error else self.period.start.isoformat()

    @property
    def form_to(self) -> str:
        return request.args.get("to") if self.error else self.period.end.isoformat()


bp_text = dashboard.bp_text


# Every card: key, label, the figure's path in dashboard.cards(), its kind, whether a rise is
# bad news, and the one line that says exactly what it counts (docs/API.md "Dashboard").
CARDS = (
    ("gmv", _l("GMV"), ("gmv_fen",), "money", False,
     _l("本期付款订单的实付总额（之后取消的也计入），按付款时间落在品牌时区的日期。")),
    ("orders", _l("订单数"), ("orders",), "count", False, _l("本期付款的订单数（之后取消的也计入）。")),
    ("net", _l("净销售额"), ("net_fen",), "money", False, _l("GMV 减去本期发生的退款和取消。")),
    ("refunds", _l("退款"), ("refunded_fen",), "money", True,
     _l("本期发生的退款和取消金额，包括之前付款的订单。")),
    ("commission", _l("应计佣金"), ("commission_accrued_fen",), "money", False,
     _l("本期订单产生的各级佣金和差价，减去至今已冲回的部分。")),
    ("frozen", _l("冻结中"), ("frozen_fen",), "money", False, _l("期末时推客冻结中（退货期内、未结算）的余额合计。")),
    ("available", _l("可提现"), ("available_fen",), "money", False, _l("期末时推客可提现余额合计。")),
    ("paid_out", _l("已打款"), ("paid_out_fen",), "money", False, _l("本期打款完成的提现金额（扣除手续费后）。")),
    ("promoters_total", _l("推客总数"), ("promoters", "total"), "count", False,
     _l("截至期末已加入的推客（正常和已停用的，不含待审核和已拒绝的）。")),
    ("promoters_new", _l("新增推客"), ("promoters", "new"), "count", False, _l("本期加入的推客数。")),
    ("promoters_active", _l("出单推客"), ("promoters", "active"), "count", False,
     _l("本期至少有一笔付款订单的推客（订单的一级推客）。")),
    ("sell_through", _l("动销率"), ("sell_through",), "rate", False,
     _l("本期有销量的商品 ÷（期末在售的商品 + 本期售出的商品）。")),
    ("survival", _l("新人存活率"), ("new_promoter_survival",), "rate", False,
     _l("本期加入的推客中，加入后 30 天内出单的比例。")),
    ("churn", _l("骨干流失率"), ("core_churn",), "rate", True,
     _l("上一周期佣金前 20％（向上取整，并列的都算）的推客中，本期没有出单的比例。")),
)
RATE_PARTS = {"sell_through": ("sold", "listed"), "new_promoter_survival": ("survived", "cohort"),
              "core_churn": ("churned", "core")}


def _figure(data: dict, path: tuple):
    for key in path:
        data = data[key]
    return data


def _delta(now: int, before: int, kind: str, bad_when_up: bool) -> dict:
    diff = now - before
    if diff == 0:
        return {"arrow": "", "text": _("持平"), "tone": "flat"}
    arrow = "↑" if diff > 0 else "↓"
    tone = "bad" if (diff > 0) == bad_when_up else "good"
    if kind == "rate":
        text = _("%(num)s 个百分点", num=bp_text(abs(diff)).rstrip("%"))
    elif before > 0:
        text = bp_text(dashboard.rate_bp(abs(diff), before))
    else:
        text = _("新增")
    return {"arrow": arrow, "text": text, "tone": tone}


def _money(fen: int) -> str:
    from distweb.i18n import money

    return money(fen)


def card_views(now: dict, before: dict) -> list[dict]:
    views = []
    for key, label, path, kind, bad_when_up, help_text in CARDS:
        current, previous = _figure(now, path), _figure(before, path)
        if kind == "rate":
            top, bottom = RATE_PARTS[path[0]]
            value, detail = bp_text(current["rate_bp"]), f"{current[top]} / {current[bottom]}"
            shown_before = bp_text(previous["rate_bp"])
            delta = _delta(current["rate_bp"], previous["rate_bp"], kind, bad_when_up)
        else:
            value = _money(current) if kind == "money" else str(current)
            shown_before = _money(previous) if kind == "money" else str(previous)
            detail = None
            delta = _delta(current, previous, kind, bad_when_up)
        views.append({"key": key, "label": label, "value": value, "detail": detail, "help": help_text,
                      "before": shown_before, "delta": delta})
    return views


def _common(choice: Choice, tab: str) -> dict:
    return {"choice": choice, "presets": PRESETS, "tab": tab, "nav": "index",
            "echarts_url": url_for("static", filename=ECHARTS),
            "dashboard_js_url": url_for("static", filename="js/dashboard.js"),
            "dashboard_css_url": url_for("static", filename="css/dashboard.css")}


@bp.get("/")
def index():
    brand = current_user.brand
    choice = Choice(brand.timezone)
    totals = dashboard.wallet_totals(brand.id)
    dashboard.read_periods(brand.id, choice.period, choice.previous)  # both periods' promoters in one statement
    now = dashboard.cards(brand.id, choice.period, totals)
    before = dashboard.cards(brand.id, choice.previous, totals)
    chart_labels = {
        "gmv": _("GMV（元）"), "orders": _("订单数"), "commission": _("应计佣金（元）"),
        "new": _("新增推客"), "active": _("出单推客"),
        "sales_title": _("GMV 与订单"), "commission_title": _("佣金"), "promoters_title": _("推客"),
        "week_of": _("%(day)s 起一周", day="{day}"),
    }
    response = render(
        "manage/dashboard.html",
        cards=card_views(now, before),
        top_promoters=dashboard.top_promoters(brand.id, choice.period),
        top_products=dashboard.top_products(brand.id, choice.period),
        recent_orders=reports.brand_orders(brand.id, limit=10),
        pending=network.pending_count(brand.id),
        first_run=launch_templates.is_first_run(brand.id),
        daily_reports=daily_report.recent(brand.id),
        chart_labels=chart_labels,
        trend_url=url_for("manage.dashboard_trend", **choice.args),
        **_common(choice, "overview"),
    )
    if choice.error:
        response.status_code = 422
    return response


@bp.get("/dashboard/trend.json")
def dashboard_trend():
    """The charts' data for the chosen period: figures in fen and counts, with the amounts
    also formatted for the tooltips."""
    brand = current_user.brand
    choice = Choice(brand.timezone)
    if choice.error:
        return jsonify({"error": {"code": "invalid_range", "message": choice.error, "field": choice.field}}), 422
    data = dashboard.trend(brand.id, choice.period)
    for bucket in data["buckets"]:
        bucket["gmv_text"] = _money(bucket["gmv_fen"])
        bucket["commission_text"] = _money(bucket["commission_fen"])
    response = jsonify(data)
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------- tables: sort, page, export

TABLE_PAGE = 50


class Column:
    """One column of a dashboard table: its key in the service's rows, heading, how it is
    shown (money, count, rate, text, code, date, month) and whether it sorts."""

    def __init__(self, key: str, label, kind: str = "count", sortable: bool = True):
        self.key, self.label, self.kind, self.sortable = key, label, kind, sortable

    @property
    def numeric(self) -> bool:
        return self.kind in ("money", "count", "rate")

    def export_kind(self):
        from distweb import exports

        if self.kind in ("money", "count"):
            return exports.NUMBER
        if self.kind in ("code",):
            return exports.IDENTIFIER
        return exports.TEXT


class Table:
    def __init__(self, key: str, title, fetch, columns: list[Column], sort: str, descending: bool,
                 note=None, options=None):
        self.key, self.title, self.fetch, self.columns = key, title, fetch, columns
        self.sort, self.descending, self.note, self.options = sort, descending, note, options or {}


def _tables() -> dict[str, Table]:
    tables = [
        Table("promoters", _l("推客排行榜"), dashboard.promoter_ranking, [
            Column("code", _l("邀请码"), "code"), Column("name", _l("姓名"), "text"),
            Column("gmv_fen", _l("GMV"), "money"), Column("orders", _l("订单数")),
            Column("commission_fen", _l("佣金"), "money"), Column("team_size", _l("团队人数")),
        ], "gmv_fen", True, _l("本期有订单或佣金的推客。佣金含各级，减去已冲回的部分；团队人数为三级以内、期末前已加入的下级。")),
        Table("products", _l("商品排行"), dashboard.product_ranking, [
            Column("sku", _l("SKU"), "code"), Column("name", _l("商品"), "text"),
            Column("gmv_fen", _l("GMV"), "money"), Column("quantity", _l("件数")), Column("orders", _l("订单数")),
        ], "gmv_fen", True, _l("本期付款订单中的商品（含之后取消的订单）。")),
        Table("unsold", _l("未动销商品"), dashboard.unsold_products, [
            Column("sku", _l("SKU"), "code"), Column("name", _l("商品"), "text"),
            Column("price_fen", _l("售价"), "money"), Column("last_sold_at", _l("最近售出"), "date"),
        ], "sku", False, _l("期末在售、本期没有任何订单的商品（动销率的另一面）。")),
        Table("teams", _l("团队业绩"), dashboard.team_performance, [
            Column("code", _l("邀请码"), "code"), Column("name", _l("姓名"), "text"),
            Column("members", _l("团队人数")), Column("new_members", _l("新成员")),
            Column("active_members", _l("出单成员")), Column("active_bp", _l("出单占比"), "rate"),
            Column("gmv_fen", _l("团队 GMV"), "money"),
        ], "gmv_fen", True, _l("团队为三级以内、期末前已加入的下级；团队 GMV 为成员本期作为一级推客的订单。"),
            options={"rank": (("partner", _l("按合伙人")), ("mentor", _l("按导师")))}),
        Table("cohorts", _l("新人留存"), dashboard.cohorts, [
            Column("month", _l("加入月份"), "month"), Column("joined", _l("加入人数")),
            Column("sold_7", _l("7 天内出单")), Column("sold_7_bp", _l("7 天"), "rate", False),
            Column("sold_30", _l("30 天内出单")), Column("sold_30_bp", _l("30 天"), "rate", False),
            Column("sold_90", _l("90 天内出单")), Column("sold_90_bp", _l("90 天"), "rate", False),
        ], "month", False, _l("本期加入的推客按加入月份分组：加入后 7/30/90 天内有付款订单的人数和比例。")),
        Table("churned", _l("流失骨干"), dashboard.churned_core, [
            Column("code", _l("邀请码"), "code"), Column("name", _l("姓名"), "text"),
            Column("commission_fen", _l("上期佣金"), "money"), Column("last_sold_at", _l("最近出单"), "date"),
        ], "commission_fen", True, _l("上一周期佣金前 20％ 的骨干中，本期没有出单的推客。")),
        Table("materials", _l("素材漏斗"), dashboard.materials_funnel, [
            Column("title", _l("素材"), "text"), Column("shares", _l("分享")), Column("clicks", _l("点击")),
            Column("orders", _l("订单数")), Column("sales_fen", _l("销售额"), "money"),
        ], "sales_fen", True, _l("本期的分享、链接点击，以及经素材链接下单、本期付款的订单（不含取消，销售额已扣退款）。")),
    ]
    return {table.key: table for table in tables}


def _table(key: str) -> Table:
    tables = _tables()
    if key not in tables:
        from flask import abort

        abort(404)
    return tables[key]


def _table_request(table: Table) -> dict:
    """sort, direction, page and the table's own options from the query string; anything
    unknown falls back to the table's default (never an error, never raw SQL)."""
    sortable = [c.key for c in table.columns if c.sortable]
    sort = request.args.get("sort") if request.args.get("sort") in sortable else table.sort
    direction = request.args.get("dir")
    descending = table.descending if direction not in ("asc", "desc") else direction == "desc"
    try:
        page = max(1, min(int(request.args.get("page", "1")), 100000))
    except ValueError:
        page = 1
    options = {}
    for name, choices in table.options.items():
        value = request.args.get(name)
        options[name] = value if value in dict(choices) else choices[0][0]
    return {"sort": sort, "descending": descending, "page": page, "options": options}


def _cell_text(column: Column, value, tz: str) -> str:
    if value is None:
        return "—" if column.kind == "date" else ""
    if column.kind == "money":
        return _money(value)
    if column.kind == "rate":
        return bp_text(value)
    if column.kind == "date":
        from zoneinfo import ZoneInfo

        return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d")
    return str(value)


@bp.get("/dashboard/<table>")
def dashboard_table(table: str):
    spec = _table(table)
    brand = current_user.brand
    choice = Choice(brand.timezone)
    asked = _table_request(spec)
    result = spec.fetch(brand.id, choice.period, sort=asked["sort"], descending=asked["descending"],
                        limit=TABLE_PAGE, offset=(asked["page"] - 1) * TABLE_PAGE, **asked["options"])
    pages = max(1, -(-result.total // TABLE_PAGE))
    rows = [[_cell_text(c, row.get(c.key), brand.timezone) for c in spec.columns] for row in result.rows]
    base_args = {**choice.args, **asked["options"]}
    state = {**base_args, "sort": asked["sort"], "dir": "desc" if asked["descending"] else "asc"}
    response = render(
        "manage/dashboard_table.html",
        spec=spec, rows=rows, total=result.total, page_no=asked["page"], pages=pages, asked=asked,
        base_args=base_args, state=state, table_args={"table": table, **asked["options"]},
        **_common(choice, table),
    )
    if choice.error:
        response.status_code = 422
    return response


def _export_rows(spec: Table, tz: str):
    brand_id = current_user.brand_id
    choice = Choice(tz)
    asked = _table_request(spec)
    result = spec.fetch(brand_id, choice.period, sort=asked["sort"], descending=asked["descending"], limit=None,
                        **asked["options"])
    from distweb.money import fen_to_decimal

    for row in result.rows:
        cells = []
        for column in spec.columns:
            value = row.get(column.key)
            if column.kind == "money":
                cells.append(fen_to_decimal(value or 0))
            elif column.kind == "count":
                cells.append(int(value or 0))
            else:
                cells.append(_cell_text(column, value, tz))
        yield cells


def _export_header(spec: Table) -> list[str]:
    return [str(c.label) + (_("（元）") if c.kind == "money" else "") for c in spec.columns]


def _export_name(spec: Table, extension: str) -> str:
    choice = Choice(current_user.brand.timezone)
    return f"dashboard-{spec.key}-{choice.period.start.isoformat()}-{choice.period.end.isoformat()}.{extension}"


@bp.get("/dashboard/<table>.csv")
def dashboard_table_csv(table: str):
    from flask import Response

    from distweb import exports

    spec = _table(table)
    body = exports.csv_text(_export_header(spec), _export_rows(spec, current_user.brand.timezone),
                            [c.export_kind() for c in spec.columns])
    return Response(body, mimetype="text/csv", headers=attachment_headers(_export_name(spec, "csv")))


@bp.get("/dashboard/<table>.xlsx")
def dashboard_table_xlsx(table: str):
    from flask import Response

    from distweb import exports

    spec = _table(table)
    body = exports.xlsx_bytes(spec.key, _export_header(spec), _export_rows(spec, current_user.brand.timezone),
                              [c.export_kind() for c in spec.columns])
    return Response(body, mimetype=exports.XLSX_MIMETYPE, headers=attachment_headers(_export_name(spec, "xlsx")))


# ---------------------------------------------------------------- the daily brand report


@bp.get("/reports/<int:report_id>.pdf")
def daily_report_pdf(report_id: int):
    from flask import Response, abort

    from distweb.services import daily_report
    from distweb.services.errors import NotFound

    try:
        report = daily_report.get_for_brand(current_user.brand_id, report_id)
    except NotFound:
        abort(404)
    path = daily_report.file_path(report)
    if not path.exists():
        abort(404)
    return Response(path.read_bytes(), mimetype="application/pdf", headers=attachment_headers(f"daily-report-{report.day}.pdf"))
