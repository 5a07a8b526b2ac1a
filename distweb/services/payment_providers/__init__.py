"""Payment providers behind one interface (``base.PaymentProvider``): WeChat Pay and Alipay
adapters, and the manual flow for a brand with neither. ``services.online_pay`` builds them
from the brand's settings (``provider_for``)."""

from distweb.services.payment_providers.base import (
    BillRow,
    ManualProvider,
    Notice,
    NotificationRejected,
    PayAction,
    PaymentProvider,
    PayRequest,
    ProviderError,
    RefundRequest,
    SplitRequest,
    SplitReturnRequest,
    TransferRequest,
)

__all__ = ["BillRow", "ManualProvider", "NotificationRejected", "Notice", "PayAction", "PaymentProvider", "PayRequest",
           "ProviderError", "RefundRequest", "SplitRequest", "SplitReturnRequest", "TransferRequest", "FIELDS"]

# provider -> (settings shown again, secrets never shown, required)
FIELDS = {
    "wechat": (("mchid", "appid", "cert_serial_no", "public_key_id", "proxy", "transfer_scene_id"),
               ("private_key", "apiv3_key", "public_key", "app_secret"),
               ("mchid", "appid", "cert_serial_no", "private_key", "apiv3_key")),
    "alipay": (("app_id", "gateway"), ("app_private_key", "alipay_public_key", "app_public_cert", "alipay_root_cert"),
               ("app_id", "app_private_key", "alipay_public_key")),
}


def build(provider: str, settings: dict, secret: dict, timeout: float, cache_key: tuple) -> PaymentProvider:
    if provider == "wechat":
        from distweb.services.payment_providers.wechat import WeChatPayProvider

        return WeChatPayProvider(settings, secret, timeout, cache_key)
    if provider == "alipay":
        from distweb.services.payment_providers.alipay import AlipayProvider

        return AlipayProvider(settings, secret, timeout, cache_key)
    return ManualProvider()
