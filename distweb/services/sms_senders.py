"""Who delivers a verification code: the console (the embedded default), Alibaba Cloud SMS or
Tencent Cloud SMS, chosen from the environment (``DISTWEB_SMS_PROVIDER``).

A sender has one method, ``send_code(phone, code, minutes) -> provider reference``; it raises
``SmsSendError`` when the provider refuses or cannot be reached (never anything else: a
provider's SDK and network errors stop here). ``shows_code`` says whether the page may show
the code (only the console sender, which delivers nothing: the demo and development).

The adapters import their SDK when first used, so an installation on the console sender
never loads one. Settings (all from the environment, read by ``distweb.config``):

- ``DISTWEB_SMS_PROVIDER``: ``console`` (default), ``aliyun`` or ``tencent``;
- ``DISTWEB_SMS_SIGN_NAME``: the approved signature (签名), both providers;
- ``DISTWEB_SMS_TEMPLATE``: the approved template: Alibaba's template code (``SMS_…``) or
  Tencent's template id;
- ``DISTWEB_SMS_TEMPLATE_PARAMS``: the template's variables in order, from ``code`` and
  ``minutes`` (default ``code``): Alibaba gets them as a JSON object by these names
  (``{"code": "123456"}``), Tencent as the ordered list (``{1}``, ``{2}``);
- Alibaba: ``ALIBABA_CLOUD_ACCESS_KEY_ID``, ``ALIBABA_CLOUD_ACCESS_KEY_SECRET``,
  ``DISTWEB_SMS_ALIYUN_ENDPOINT`` (default ``dysmsapi.aliyuncs.com``);
- Tencent: ``TENCENTCLOUD_SECRET_ID``, ``TENCENTCLOUD_SECRET_KEY``,
  ``DISTWEB_SMS_TENCENT_APP_ID`` (the SmsSdkAppId), ``DISTWEB_SMS_TENCENT_REGION`` (default
  ``ap-guangzhou``).
"""

from __future__ import annotations

import json
import logging
from typing import Protocol

log = logging.getLogger("distweb.sms")

PROVIDERS = ("console", "aliyun", "tencent")
TEMPLATE_PARAMS = ("code", "minutes")
# Seconds to wait for a provider: a sign-up page waits on it, so not the SDKs' 60 s default.
TIMEOUT_SECONDS = 8


class SmsSendError(Exception):
    """The provider did not take the message (its code and message, for the log)."""


class SmsSender(Protocol):
    name: str
    shows_code: bool

    def send_code(self, phone: str, code: str, minutes: int) -> str | None: ...


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


class ConsoleSender:
    """Delivers nothing: the code goes to the server log (and the page shows it)."""

    name = "console"
    shows_code = True

    def send_code(self, phone: str, code: str, minutes: int) -> str | None:
        log.warning("SMS verification code for %s: %s (valid %s minutes; console sender, no SMS sent)",
                    mask_phone(phone), code, minutes)
        return None


def _params(names: tuple[str, ...], code: str, minutes: int) -> list[tuple[str, str]]:
    values = {"code": code, "minutes": str(minutes)}
    return [(name, values[name]) for name in names]


class AliyunSender:
    """Alibaba Cloud SMS (Dysmsapi 2017-05-25): ``Client.send_sms(SendSmsRequest)``; the
    answer's body ``code`` is ``"OK"`` when the message was taken, ``biz_id`` its receipt."""

    name = "aliyun"
    shows_code = False

    def __init__(self, access_key_id: str, access_key_secret: str, sign_name: str, template_code: str,
                 template_params: tuple[str, ...] = ("code",), endpoint: str = "dysmsapi.aliyuncs.com"):
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign_name = sign_name
        self.template_code = template_code
        self.template_params = template_params
        self.endpoint = endpoint
        self._client = None

    def client(self):
        if self._client is None:
            from alibabacloud_dysmsapi20170525.client import Client
            from alibabacloud_tea_openapi import models as open_api_models

            self._client = Client(open_api_models.Config(
                access_key_id=self.access_key_id, access_key_secret=self.access_key_secret,
                endpoint=self.endpoint, connect_timeout=3000, read_timeout=TIMEOUT_SECONDS * 1000))
        return self._client

    def send_code(self, phone: str, code: str, minutes: int) -> str | None:
        from alibabacloud_dysmsapi20170525 import models as dysms_models

        request = dysms_models.SendSmsRequest(
            phone_numbers=phone, sign_name=self.sign_name, template_code=self.template_code,
            template_param=json.dumps(dict(_params(self.template_params, code, minutes))))
        try:
            response = self.client().send_sms(request)
        except Exception as err:  # noqa: BLE001 — the SDK's and the network's errors alike
            raise SmsSendError(f"aliyun: {type(err).__name__}: {err}") from err
        body = getattr(response, "body", None)
        if body is None or body.code != "OK":
            raise SmsSendError(f"aliyun: {getattr(body, 'code', None)}: {getattr(body, 'message', None)}")
        return body.biz_id


class TencentSender:
    """Tencent Cloud SMS (API 2021-01-11): ``SmsClient.SendSms(SendSmsRequest)``; each
    number's ``SendStatus.Code`` is ``"Ok"`` when the message was taken, ``SerialNo`` its
    receipt. Numbers are E.164 (``+86…``)."""

    name = "tencent"
    shows_code = False

    def __init__(self, secret_id: str, secret_key: str, app_id: str, sign_name: str, template_id: str,
                 template_params: tuple[str, ...] = ("code",), region: str = "ap-guangzhou"):
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.app_id = app_id
        self.sign_name = sign_name
        self.template_id = template_id
        self.template_params = template_params
        self.region = region
        self._client = None

    def client(self):
        if self._client is None:
            from tencentcloud.common import credential
            from tencentcloud.common.profile.client_profile import ClientProfile
            from tencentcloud.common.profile.http_profile import HttpProfile
            from tencentcloud.sms.v20210111 import sms_client

            profile = ClientProfile(httpProfile=HttpProfile(endpoint="sms.tencentcloudapi.com",
                                                            reqTimeout=TIMEOUT_SECONDS))
            self._client = sms_client.SmsClient(credential.Credential(self.secret_id, self.secret_key),
                                                self.region, profile)
        return self._client

    def send_code(self, phone: str, code: str, minutes: int) -> str | None:
        from tencentcloud.sms.v20210111 import models as sms_models

        request = sms_models.SendSmsRequest()
        request.PhoneNumberSet = ["+86" + phone]
        request.SmsSdkAppId = self.app_id
        request.SignName = self.sign_name
        request.TemplateId = self.template_id
        request.TemplateParamSet = [value for _name, value in _params(self.template_params, code, minutes)]
        try:
            response = self.client().SendSms(request)
        except Exception as err:  # noqa: BLE001 — TencentCloudSDKException and the network's errors
            raise SmsSendError(f"tencent: {type(err).__name__}: {err}") from err
        statuses = getattr(response, "SendStatusSet", None) or []
        if not statuses or statuses[0].Code != "Ok":
            first = statuses[0] if statuses else None
            raise SmsSendError(f"tencent: {getattr(first, 'Code', None)}: {getattr(first, 'Message', None)}")
        return statuses[0].SerialNo


REQUIRED = {
    "aliyun": ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "SMS_SIGN_NAME", "SMS_TEMPLATE"),
    "tencent": ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "SMS_TENCENT_APP_ID", "SMS_SIGN_NAME",
                "SMS_TEMPLATE"),
}


def check_config(config) -> None:
    """Refuse to start with an SMS provider that cannot work (a message at start-up, not a
    failed sign-up later). ``SMS_SENDER`` (an object) overrides everything: the tests'."""
    if config.get("SMS_SENDER") is not None:
        return
    provider = config.get("SMS_PROVIDER") or "console"
    if provider not in PROVIDERS:
        raise ValueError(f"DISTWEB_SMS_PROVIDER must be one of {', '.join(PROVIDERS)}, not {provider!r}")
    missing = [key for key in REQUIRED.get(provider, ()) if not config.get(key)]
    if missing:
        names = ", ".join(k if k.startswith(("ALIBABA", "TENCENT")) else "DISTWEB_" + k for k in missing)
        raise ValueError(f"DISTWEB_SMS_PROVIDER={provider} needs {names}")
    unknown = [p for p in template_params(config) if p not in TEMPLATE_PARAMS]
    if unknown:
        raise ValueError(f"DISTWEB_SMS_TEMPLATE_PARAMS: unknown {', '.join(unknown)} (use code, minutes)")


def template_params(config) -> tuple[str, ...]:
    raw = config.get("SMS_TEMPLATE_PARAMS") or "code"
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def sender_from_config(config) -> SmsSender:
    override = config.get("SMS_SENDER")
    if override is not None:
        return override
    check_config(config)
    provider = config.get("SMS_PROVIDER") or "console"
    if provider == "aliyun":
        return AliyunSender(config["ALIBABA_CLOUD_ACCESS_KEY_ID"], config["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
                            config["SMS_SIGN_NAME"], config["SMS_TEMPLATE"], template_params(config),
                            config.get("SMS_ALIYUN_ENDPOINT") or "dysmsapi.aliyuncs.com")
    if provider == "tencent":
        return TencentSender(config["TENCENTCLOUD_SECRET_ID"], config["TENCENTCLOUD_SECRET_KEY"],
                             config["SMS_TENCENT_APP_ID"], config["SMS_SIGN_NAME"], config["SMS_TEMPLATE"],
                             template_params(config), config.get("SMS_TENCENT_REGION") or "ap-guangzhou")
    return ConsoleSender()
