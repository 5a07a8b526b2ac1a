from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class SignUpForm(FlaskForm):
    name = StringField(_l("姓名"), validators=[DataRequired(_l("请输入姓名。")), Length(max=60)])
    phone = StringField(_l("手机号"), validators=[DataRequired(_l("请输入手机号。")), Length(max=20)])
    password = PasswordField(
        _l("设置密码（至少 8 位，含字母和数字）"), validators=[DataRequired(_l("请设置密码。")), Length(max=200)]
    )
    agree = BooleanField(_l("我已阅读并同意推广计划条款"))
