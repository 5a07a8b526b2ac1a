"""Flask-SQLAlchemy models, one module per aggregate. Money columns end in ``_fen``."""

from distweb.models.api_key import ApiKey, IdempotencyRecord
from distweb.models.brand import Brand
from distweb.models.catalogue import Product, Supplier
from distweb.models.dashboard import (
    DailyReport,
    DashboardBrandDay,
    DashboardDelta,
    DashboardProductDay,
    DashboardPromoterDay,
    DashboardPromoterTotal,
)
from distweb.models.fulfilment import (
    OrderEvent,
    PurchaseOrder,
    PurchaseOrderLine,
    Refund,
    RefundLine,
    StockLevel,
    StockMovement,
    WebhookEvent,
)
from distweb.models.imports import ImportBatch, ImportKey, ImportMapping, ImportRow
from distweb.models.job import Job
from distweb.models.ledger import (
    CommissionLine,
    CommissionPlan,
    LedgerAccount,
    LedgerBalanceCheck,
    LedgerEntry,
    LedgerTransaction,
)
from distweb.models.materials import (
    Material,
    MaterialEvent,
    MaterialImage,
    MaterialOrder,
    MaterialTag,
    NotificationSetting,
    PushSubscription,
)
from distweb.models.network import AuditEntry, BuyerBinding, Click, ProgrammeSettings, Promoter
from distweb.models.online_pay import (
    Payment,
    PaymentNotice,
    PaymentOptions,
    PaymentProviderConfig,
    PaymentRefund,
    PayoutBatch,
    ProfitSplit,
    ProviderPayout,
    ReconciliationReport,
    RoyaltyBinding,
    SplitReceiver,
    SplitReturn,
)
from distweb.models.order import Order, OrderItem
from distweb.models.payouts import (
    Notification,
    PayoutAccount,
    SettlementRun,
    Statement,
    Withdrawal,
)
from distweb.models.sms import SmsCode
from distweb.models.user import LoginSession, User
from distweb.models.versions import DataVersion

__all__ = [
    "Payment",
    "PaymentNotice",
    "PaymentProviderConfig",
    "PaymentRefund",
    "ProfitSplit",
    "PayoutBatch",
    "ProviderPayout",
    "SplitReceiver",
    "SplitReturn",
    "PaymentOptions",
    "RoyaltyBinding",
    "ReconciliationReport",
    "ApiKey",
    "AuditEntry",
    "BuyerBinding",
    "Click",
    "CommissionLine",
    "DataVersion",
    "CommissionPlan",
    "LedgerAccount",
    "LedgerBalanceCheck",
    "LedgerEntry",
    "LedgerTransaction",
    "IdempotencyRecord",
    "ProgrammeSettings",
    "Brand",
    "DailyReport",
    "ImportBatch",
    "ImportKey",
    "ImportMapping",
    "ImportRow",
    "DashboardBrandDay",
    "DashboardDelta",
    "DashboardProductDay",
    "DashboardPromoterDay",
    "DashboardPromoterTotal",
    "Job",
    "LoginSession",
    "Material",
    "MaterialEvent",
    "MaterialImage",
    "MaterialOrder",
    "MaterialTag",
    "NotificationSetting",
    "PushSubscription",
    "Notification",
    "PayoutAccount",
    "SettlementRun",
    "SmsCode",
    "Statement",
    "Withdrawal",
    "Order",
    "OrderEvent",
    "OrderItem",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "Refund",
    "RefundLine",
    "StockLevel",
    "StockMovement",
    "WebhookEvent",
    "Product",
    "Promoter",
    "Supplier",
    "User",
]
