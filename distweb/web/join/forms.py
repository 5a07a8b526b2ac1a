from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from distweb.web.forms import PhoneNumber, SmsCodeFormat, StrongPassword


class SignUpForm(FlaskForm):
    """Every field is checked in one pass: the page flags every mistake at once."""

    name = StringField(_l("姓名"), validators=[DataRequired(_l("请输入姓名。")), Length(max=60)])
    phone = StringField(_l("手机号"), validators=[DataRequired(_l("请输入手机号。")), Length(max=20), PhoneNumber()])
    code = StringField(_l("短信验证码"), validators=[DataRequired(_l("请输入短信验证码。")), SmsCodeFormat()])
    password = PasswordField(
        _l("设置密码（至少 8 位，含字母和数字）"),
        validators=[DataRequired(_l("请设置密码。")), Length(max=200), StrongPassword()],
    )
    agree = BooleanField(_l("我已阅读并同意推广计划条款"),
                         validators=[DataRequired(_l("请阅读并同意推广计划条款。"))])
