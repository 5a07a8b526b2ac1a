from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Regexp


class BrandForm(FlaskForm):
    name = StringField(_l("品牌名称"), validators=[DataRequired(_l("请输入品牌名称。")), Length(max=80)])
    short_name = StringField(
        _l("简称（桌面图标下显示）"), validators=[DataRequired(_l("请输入简称。")), Length(max=24)]
    )
    theme_color = StringField(
        _l("主题色"),
        validators=[DataRequired(), Regexp(r"^#[0-9a-fA-F]{6}$", message=_l("主题色需为 #RRGGBB 格式。"))],
    )
    logo = FileField(_l("Logo（PNG / JPEG / WebP，≤ 2 MB）"))
