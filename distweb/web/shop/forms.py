from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from distweb.web.forms import PhoneNumber, SmsCodeFormat


class CheckoutForm(FlaskForm):
    quantity = IntegerField(_l("数量"), default=1, validators=[NumberRange(1, 999, _l("数量需在 1–999 之间。"))])
    name = StringField(_l("收货人"), validators=[DataRequired(_l("请填写收货人。")), Length(max=60)])
    phone = StringField(_l("手机号"), validators=[DataRequired(_l("请填写手机号。")), Length(max=20), PhoneNumber()])
    # Optional: a buyer who verifies the phone is bound to this shop's promoter once it pays
    # (an unverified phone binds only after following the promoter's tracked link).
    code = StringField(_l("短信验证码（选填）"), validators=[Optional(), SmsCodeFormat()])
    address = TextAreaField(_l("收货地址"), validators=[DataRequired(_l("请填写收货地址。")), Length(max=200)])


class PayForm(FlaskForm):
    provider = StringField(validators=[DataRequired(), Length(max=12)])
