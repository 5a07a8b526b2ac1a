"""Payment providers' settings from the environment, for an installation that keeps its
merchant keys out of the database (a secrets manager, files mounted into the container).

The names are ``DISTWEB_WECHATPAY_<FIELD>`` and ``DISTWEB_ALIPAY_<FIELD>`` (``ENV_NAMES``);
every secret may instead be read from a file named by the same name with ``_FILE``. A
provider counts as supplied by the environment when every required field is set; it is
then enabled for every brand that has not saved settings for that provider on its
settings page (the page's settings win), or, when ``DISTWEB_PAYMENT_ENV_BRAND`` names
brand ids (comma separated), for those brands only.

Read once when the app is configured; nothing here logs a value (a missing or unreadable
file is reported by its variable's name)."""

from __future__ import annotations

import os
from pathlib import Path

# provider -> {field: the variable's suffix}
ENV_NAMES = {
    "wechat": {"mchid": "MCHID", "appid": "APPID", "cert_serial_no": "CERT_SERIAL_NO",
               "public_key_id": "PUBLIC_KEY_ID", "proxy": "PROXY", "transfer_scene_id": "TRANSFER_SCENE_ID",
               "private_key": "PRIVATE_KEY", "apiv3_key": "APIV3_KEY", "public_key": "PUBLIC_KEY",
               "app_secret": "APP_SECRET"},
    "alipay": {"app_id": "APP_ID", "gateway": "GATEWAY", "app_private_key": "APP_PRIVATE_KEY",
               "alipay_public_key": "PUBLIC_KEY", "app_public_cert": "APP_PUBLIC_CERT",
               "alipay_root_cert": "ROOT_CERT"},
}
PREFIX = {"wechat": "DISTWEB_WECHATPAY_", "alipay": "DISTWEB_ALIPAY_"}


class PaymentEnvError(ValueError):
    """A variable names a file that cannot be read (the message names the variable only)."""


def variable(provider: str, name: str) -> str:
    return PREFIX[provider] + ENV_NAMES[provider][name]


def from_environment(environ=None) -> dict:
    """``{"PAYMENT_ENV": {provider: {"settings": {...}, "secret": {...}}}, "PAYMENT_ENV_BRANDS":
    frozenset of ids or None}``: only complete providers are kept."""
    from distweb.services.payment_providers import FIELDS

    environ = os.environ if environ is None else environ
    supplied = {}
    for provider, (shown, hidden, required) in FIELDS.items():
        settings, secret = {}, {}
        for name in shown + hidden:
            key = variable(provider, name)
            value = (environ.get(key) or "").strip()
            if not value and environ.get(key + "_FILE"):
                try:
                    value = Path(environ[key + "_FILE"]).read_text(encoding="utf-8").strip()
                except (OSError, UnicodeDecodeError):
                    raise PaymentEnvError(f"{key}_FILE cannot be read") from None
            if value:
                (settings if name in shown else secret)[name] = value
        if all(settings.get(name) or secret.get(name) for name in required):
            supplied[provider] = {"settings": settings, "secret": secret}
    named = (environ.get("DISTWEB_PAYMENT_ENV_BRAND") or "").strip()
    brands = None
    if named:
        try:
            brands = frozenset(int(part) for part in named.split(",") if part.strip())
        except ValueError:
            raise PaymentEnvError("DISTWEB_PAYMENT_ENV_BRAND must be brand ids, comma separated") from None
    return {"PAYMENT_ENV": supplied, "PAYMENT_ENV_BRANDS": brands}
