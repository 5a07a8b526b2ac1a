from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from distweb.web.forms import PhoneNumber, SmsCodeFormat, StrongPassword


class LoginForm(FlaskForm):
    login = StringField(_l("手机号或邮箱"), validators=[DataRequired(_l("请输入手机号或邮箱。")), Length(max=254)])
    password = PasswordField(_l("密码"), validators=[DataRequired(_l("请输入密码。")), Length(max=200)])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("当前密码"), validators=[DataRequired(_l("请输入当前密码。"))])
    new_password = PasswordField(
        _l("新密码"), validators=[DataRequired(_l("请输入新密码。")), Length(max=200)]
    )
    confirm = PasswordField(
        _l("确认新密码"),
        validators=[DataRequired(_l("请再次输入新密码。")), EqualTo("new_password", _l("两次输入的密码不一致。"))],
    )


class PasswordResetForm(FlaskForm):
    """忘记密码: the account's phone, the code sent to it, and the new password (checked in
    one pass: every mistake is flagged at once)."""

    phone = StringField(_l("手机号"), validators=[DataRequired(_l("请输入手机号。")), Length(max=20), PhoneNumber()])
    code = StringField(_l("短信验证码"), validators=[DataRequired(_l("请输入短信验证码。")), SmsCodeFormat()])
    new_password = PasswordField(
        _l("新密码（至少 8 位，含字母和数字）"),
        validators=[DataRequired(_l("请输入新密码。")), Length(max=200), StrongPassword()],
    )
    confirm = PasswordField(
        _l("确认新密码"),
        validators=[DataRequired(_l("请再次输入新密码。")), EqualTo("new_password", _l("两次输入的密码不一致。"))],
    )
