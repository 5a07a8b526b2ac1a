from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from distweb.labels import WITHDRAW_METHOD
from distweb.money import fen_to_yuan_text, parse_yuan
from distweb.services.network import SettingsInput


class BrandForm(FlaskForm):
    name = StringField(_l("品牌名称"), validators=[DataRequired(_l("请输入品牌名称。")), Length(max=80)])
    short_name = StringField(
        _l("简称（桌面图标下显示）"), validators=[DataRequired(_l("请输入简称。")), Length(max=24)]
    )
    theme_color = StringField(
        _l("主题色"),
        validators=[DataRequired(_l("请输入主题色。")), Regexp(r"^#[0-9a-fA-F]{6}$", message=_l("主题色需为 #RRGGBB 格式。"))],
    )
    logo = FileField(_l("Logo（PNG / JPEG / WebP，≤ 2 MB）"))


class YuanField(StringField):
    """An amount typed in yuan, held as integer fen (``.fen``)."""

    fen: int | None = None

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.fen = None
        if self.data:
            try:
                self.fen = parse_yuan(self.data)
            except ValueError:
                raise ValidationError(_l("请输入金额，最多两位小数，例如 5000 或 5000.50。")) from None

    def set_fen(self, fen: int | None):
        self.fen = fen
        self.data = fen_to_yuan_text(fen) if fen else ""


class PercentField(StringField):
    """A rate typed in percent ("0.6" or "0.6%"), held as integer basis points (``.bp``),
    exactly: at most two decimals, 0–100."""

    bp: int | None = None

    def process_formdata(self, valuelist):
        from decimal import Decimal, InvalidOperation

        super().process_formdata(valuelist)
        self.bp = None
        text = (self.data or "").strip().removesuffix("%").strip()
        if not text:
            return
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or value < 0 or value > 100:
            raise ValidationError(_l("请输入 0 到 100 之间的百分比，最多两位小数，例如 0.6。"))
        bp = value.scaleb(2)
        if bp != bp.to_integral_value():
            raise ValidationError(_l("请输入 0 到 100 之间的百分比，最多两位小数，例如 0.6。"))
        self.bp = int(bp)

    def set_bp(self, bp: int | None):
        from decimal import Decimal

        self.bp = bp
        self.data = format((Decimal(bp) / 100).normalize(), "f") if bp else "0"


class MultiCheckboxField(SelectMultipleField):
    """A set of checkboxes (the template lays them out)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _yuan_or_blank(fen: int | None) -> str:
    """A form value for an amount that may be absent (blank), where 0 is a value of its own."""
    return "" if fen is None else fen_to_yuan_text(fen)


class WithdrawalRulesForm(FlaskForm):
    """docs/API.md's withdrawal rules, typed as people think of them (yuan, percent)."""

    min_amount = YuanField(_l("单笔最低提现金额（元）"), validators=[DataRequired(_l("请输入最低提现金额。"))])
    fee_rate = PercentField(_l("手续费率（%）"))
    fee_min = YuanField(_l("每笔最低手续费（元）"))
    daily_limit = YuanField(_l("每人每日提现额度（元，留空不限）"))
    methods = MultiCheckboxField(
        _l("提现方式"), choices=[SelectChoice(m, WITHDRAW_METHOD[m]) for m in ("alipay", "wechat", "bank")])
    auto_approve_below = YuanField(_l("低于此金额自动通过（元，留空则全部人工审核）"))

    # A refusal from the service names the API's key; it is shown on the field that edits it.
    RULE_FIELDS = {"min_fen": "min_amount", "fee_bp": "fee_rate", "fee_min_fen": "fee_min",
                   "daily_limit_fen": "daily_limit", "methods": "methods",
                   "auto_approve_below_fen": "auto_approve_below"}

    @classmethod
    def from_rules(cls, rules: dict) -> "WithdrawalRulesForm":
        form = cls(formdata=None, methods=list(rules["methods"]))
        form.min_amount.data = _yuan_or_blank(rules["min_fen"])
        form.fee_rate.set_bp(rules["fee_bp"])
        form.fee_min.data = _yuan_or_blank(rules["fee_min_fen"])
        form.daily_limit.data = _yuan_or_blank(rules["daily_limit_fen"])
        form.auto_approve_below.data = _yuan_or_blank(rules["auto_approve_below_fen"])
        return form

    def to_rules(self) -> dict:
        """The API's shape: blank fee fields are 0, a blank limit or threshold is null."""
        return {
            "min_fen": self.min_amount.fen,
            "fee_bp": self.fee_rate.bp or 0,
            "fee_min_fen": self.fee_min.fen or 0,
            "daily_limit_fen": self.daily_limit.fen,
            "methods": list(self.methods.data or []),
            "auto_approve_below_fen": self.auto_approve_below.fen,
        }


class ProgrammeForm(FlaskForm):
    commission_depth = SelectField(
        _l("分佣层级"), coerce=int,
        choices=[SelectChoice(1, _l("1 级（仅直接推广人）")), SelectChoice(2, _l("2 级（推荐）")),
                 SelectChoice(3, _l("3 级"))],
    )
    signup_requires_approval = BooleanField(_l("新推客注册后需审核"))
    binding_mode = RadioField(
        _l("买家绑定模式"),
        choices=[SelectChoice("permanent", _l("永久绑定：买家第一次绑定后始终归属该推客")),
                 SelectChoice("days", _l("限时绑定：绑定 N 天，到期后可被新的分享绑定")),
                 SelectChoice("overwrite", _l("覆盖绑定：每次新的分享都会改绑"))],
    )
    binding_days = IntegerField(_l("限时绑定天数"), validators=[NumberRange(1, 3650, _l("绑定天数需在 1–3650 之间。"))])
    attribution = RadioField(
        _l("归因方式"),
        choices=[SelectChoice("last_touch", _l("最后点击：归属最后一次分享的推客")),
                 SelectChoice("first_touch", _l("首次点击：归属第一次分享的推客"))],
    )
    attribution_window_days = IntegerField(
        _l("归因窗口（天）"), validators=[NumberRange(1, 365, _l("归因窗口需在 1–365 天之间。"))]
    )
    rank_name_promoter = StringField(_l("一级等级名称"), validators=[DataRequired(), Length(max=20)])
    rank_name_mentor = StringField(_l("二级等级名称"), validators=[DataRequired(), Length(max=20)])
    rank_name_partner = StringField(_l("三级等级名称"), validators=[DataRequired(), Length(max=20)])
    mentor_days = IntegerField(_l("统计周期（天）"), validators=[Optional(), NumberRange(1, 366)])
    mentor_own_sales = YuanField(_l("个人销售额 ≥（元）"))
    mentor_team_sales = YuanField(_l("团队销售额 ≥（元）"))
    partner_days = IntegerField(_l("统计周期（天）"), validators=[Optional(), NumberRange(1, 366)])
    partner_own_sales = YuanField(_l("个人销售额 ≥（元）"))
    partner_team_sales = YuanField(_l("团队销售额 ≥（元）"))
    terms_text = TextAreaField(_l("推广计划条款（注册页展示）"), validators=[Optional(), Length(max=4000)])

    RULE_FIELDS = {"rank_rules.mentor": "mentor_team_sales", "rank_rules.partner": "partner_team_sales",
                   "rank_name_promoter": "rank_name_promoter"}

    @classmethod
    def from_settings(cls, settings, depth: int) -> "ProgrammeForm":
        """``depth``: the commission plan's (the one depth setting; saving here versions the plan)."""
        form = cls(
            commission_depth=depth,
            signup_requires_approval=settings.signup_requires_approval,
            binding_mode=settings.binding_mode.value,
            binding_days=settings.binding_days,
            attribution=settings.attribution.value,
            attribution_window_days=settings.attribution_window_days,
            rank_name_promoter=settings.rank_name_promoter,
            rank_name_mentor=settings.rank_name_mentor,
            rank_name_partner=settings.rank_name_partner,
            terms_text=settings.terms_text or "",
        )
        for rank in ("mentor", "partner"):
            rule = (settings.rank_rules or {}).get(rank) or {}
            getattr(form, f"{rank}_days").data = rule.get("days")
            getattr(form, f"{rank}_own_sales").set_fen(rule.get("own_sales_fen"))
            getattr(form, f"{rank}_team_sales").set_fen(rule.get("team_sales_fen"))
        return form

    def to_input(self) -> SettingsInput:
        rules = {}
        for rank in ("mentor", "partner"):
            days = getattr(self, f"{rank}_days").data
            own = getattr(self, f"{rank}_own_sales").fen
            team = getattr(self, f"{rank}_team_sales").fen
            if days or own or team:
                rules[rank] = {"days": days or 30, "own_sales_fen": own or 0, "team_sales_fen": team or 0}
        return SettingsInput(
            commission_depth=self.commission_depth.data,
            signup_requires_approval=bool(self.signup_requires_approval.data),
            binding_mode=self.binding_mode.data or "",
            binding_days=self.binding_days.data or 0,
            attribution=self.attribution.data or "",
            attribution_window_days=self.attribution_window_days.data or 0,
            rank_name_promoter=self.rank_name_promoter.data,
            rank_name_mentor=self.rank_name_mentor.data,
            rank_name_partner=self.rank_name_partner.data,
            rank_rules=rules,
            terms_text=self.terms_text.data,
        )


class ApiKeyForm(FlaskForm):
    name = StringField(_l("密钥名称（例如：有赞商城）"), validators=[DataRequired(_l("请输入名称。")), Length(max=80)])


class ProductForm(FlaskForm):
    sku = StringField(_l("SKU"), validators=[DataRequired(_l("请输入 SKU。")), Length(max=64)])
    name = StringField(_l("名称"), validators=[DataRequired(_l("请输入名称。")), Length(max=120)])
    category = StringField(_l("类目"), validators=[Optional(), Length(max=40)])
    price = YuanField(_l("售价（元）"), validators=[DataRequired(_l("请输入售价。"))])
    supply_cost = YuanField(_l("供货价（元）"))
    wholesale_price = YuanField(_l("经销进货价（元）"))
    supplier_code = SelectField(_l("供货商"), choices=[])
    sells_promotion = BooleanField(_l("推广"))
    sells_consignment = BooleanField(_l("代销"))
    sells_wholesale = BooleanField(_l("经销"))
    active = BooleanField(_l("在售"), default=True)
    image_url = StringField(_l("图片地址"), validators=[Optional(), Length(max=300)])
    description = TextAreaField(_l("描述"), validators=[Optional(), Length(max=2000)])


class SupplierForm(FlaskForm):
    code = StringField(_l("代码（小写字母、数字）"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("名称"), validators=[DataRequired(), Length(max=80)])
    contact_name = StringField(_l("联系人"), validators=[Optional(), Length(max=60)])
    contact_phone = StringField(_l("联系电话"), validators=[Optional(), Length(max=20)])
    settlement_account = StringField(_l("结算账户"), validators=[Optional(), Length(max=120)])
    login_email = StringField(_l("供货商登录邮箱（可选，创建后台账号）"), validators=[Optional(), Length(max=254)])
    login_password = StringField(_l("初始密码"), validators=[Optional(), Length(max=200)])


class LocalDateTimeField(StringField):
    """A <input type="datetime-local"> value, read in the brand's time zone (``.value`` is
    an aware datetime or None)."""

    value = None

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("render_kw", {"type": "datetime-local"})
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.value = None

    def pre_validate(self, form):
        from datetime import datetime
        from zoneinfo import ZoneInfo

        from flask_login import current_user

        self.value = None
        text = (self.data or "").strip()
        if not text:
            return
        try:
            naive = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(_l("请输入有效的日期和时间。")) from None
        self.value = naive.replace(tzinfo=ZoneInfo(current_user.timezone))

    def set_value(self, value, tz: str) -> None:
        from zoneinfo import ZoneInfo

        self.data = value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M") if value else ""


class MaterialForm(FlaskForm):
    title = StringField(_l("标题"), validators=[DataRequired(_l("请输入标题。")), Length(max=120)])
    body = TextAreaField(_l("文案"), validators=[Length(max=2000)], render_kw={"rows": 6})
    product_sku = SelectField(_l("关联商品"), choices=[], validate_choice=False)
    video_url = StringField(_l("视频地址（可选）"), validators=[Optional(), Length(max=300)],
                            render_kw={"placeholder": "https://"})
    tags = StringField(_l("标签（用逗号分隔）"), validators=[Length(max=300)])
    active_from = LocalDateTimeField(_l("上线时间（可选）"))
    active_to = LocalDateTimeField(_l("下线时间（可选）"))
    pinned = BooleanField(_l("置顶（并通知所有推客）"))


class _PaymentForm(FlaskForm):
    """A payment provider's settings. Secret fields are never filled from what is stored:
    left empty they keep it, typed in they replace it."""

    enabled = BooleanField(_l("启用"))

    def secrets(self) -> dict:
        return {name: getattr(self, name).data or "" for name in self.SECRET_FIELDS}

    def settings(self) -> dict:
        return {name: getattr(self, name).data or "" for name in self.SETTING_FIELDS}


class WeChatPayForm(_PaymentForm):
    SETTING_FIELDS = ("mchid", "appid", "cert_serial_no", "public_key_id", "proxy", "transfer_scene_id")
    SECRET_FIELDS = ("private_key", "apiv3_key", "public_key", "app_secret")
    mchid = StringField(_l("商户号 mchid"), validators=[Optional(), Length(max=32)])
    appid = StringField(_l("公众号 AppID"), validators=[Optional(), Length(max=32)])
    cert_serial_no = StringField(_l("商户 API 证书序列号"), validators=[Optional(), Length(max=64)])
    public_key_id = StringField(_l("微信支付公钥 ID（选填，不填则使用平台证书）"), validators=[Optional(), Length(max=64)])
    proxy = StringField(_l("出口代理（选填）"), validators=[Optional(), Length(max=300)])
    transfer_scene_id = StringField(_l("商家转账场景 ID（留空为 1005 佣金报酬）"), validators=[Optional(), Length(max=8)])
    private_key = TextAreaField(_l("商户 API 证书私钥（apiclient_key.pem）"), validators=[Optional(), Length(max=8000)])
    apiv3_key = PasswordField(_l("APIv3 密钥"), validators=[Optional(), Length(max=64)])
    public_key = TextAreaField(_l("微信支付公钥（选填）"), validators=[Optional(), Length(max=8000)])
    app_secret = PasswordField(_l("公众号 AppSecret（微信内支付需要）"), validators=[Optional(), Length(max=64)])


class AlipayForm(_PaymentForm):
    SETTING_FIELDS = ("app_id", "gateway")
    SECRET_FIELDS = ("app_private_key", "alipay_public_key", "app_public_cert", "alipay_root_cert")
    app_id = StringField(_l("支付宝应用 APPID"), validators=[Optional(), Length(max=32)])
    gateway = StringField(_l("网关地址（留空为正式环境）"), validators=[Optional(), Length(max=300)])
    app_private_key = TextAreaField(_l("应用私钥（RSA2）"), validators=[Optional(), Length(max=8000)])
    alipay_public_key = TextAreaField(_l("支付宝公钥（或支付宝公钥证书）"), validators=[Optional(), Length(max=8000)])
    app_public_cert = TextAreaField(_l("应用公钥证书（单笔转账需要）"), validators=[Optional(), Length(max=8000)])
    alipay_root_cert = TextAreaField(_l("支付宝根证书（单笔转账需要）"), validators=[Optional(), Length(max=8000)])


class PaymentOptionsForm(FlaskForm):
    """The brand's close time for unpaid online orders (empty: the installation's default)
    and commission 分账. The number is read by the view, so a wrong one gets the service's
    message."""

    close_minutes = StringField(_l("未付款订单关闭时间（分钟，留空用系统默认）"), validators=[Optional(), Length(max=12)])
    commission_split = BooleanField(_l("推广佣金通过支付平台分账给推客（需推客设置微信或支付宝收款账户）"))
