"""The promoter network: sign-up by invite, approvals, moves, ranks, settings.

The tree is ``upline_id``; ``upline2_id`` and ``upline3_id`` repeat the next two ancestors
so chains and team levels are single indexed lookups. Every function that changes the tree
keeps them right with set-based updates, in one transaction with an audit entry.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import aliased

from distweb.extensions import db
from distweb.models import AuditEntry, Brand, Order, ProgrammeSettings, Promoter, User
from distweb.models.base import utcnow
from distweb.models.network import RANK_ORDER, AttributionModel, BindingMode, PromoterStatus, Rank
from distweb.models.user import Role
from distweb.services import accounts
from distweb.services.errors import Conflict, NotFound, ServiceError
from distweb.services.reports import SALE_STATUSES
from distweb.services.tx import transaction

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by hand
CODE_LENGTH = 8  # 32^8 ≈ 10^12: not guessable by walking the space


def new_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if not db.session.scalar(select(func.count()).where(Promoter.code == code)):
            return code


# ---------------------------------------------------------------- settings


def get_settings(brand_id: int) -> ProgrammeSettings:
    """The brand's programme settings (defaults written on first use)."""
    row = db.session.get(ProgrammeSettings, brand_id)
    if row is None:
        with transaction():
            row = ProgrammeSettings(brand_id=brand_id, rank_rules={})
            db.session.add(row)
    return row


@dataclass
class SettingsInput:
    commission_depth: int
    signup_requires_approval: bool
    binding_mode: str
    binding_days: int
    attribution: str
    attribution_window_days: int
    rank_name_promoter: str
    rank_name_mentor: str
    rank_name_partner: str
    rank_rules: dict
    terms_text: str | None = None


def update_settings(actor: User, data: SettingsInput) -> ProgrammeSettings:
    if data.commission_depth not in (1, 2, 3):
        raise ServiceError("invalid_depth", _l("分佣层级只能是 1、2 或 3 级。"), "commission_depth")
    try:
        binding_mode = BindingMode(data.binding_mode)
    except ValueError:
        raise ServiceError("invalid_binding_mode", _l("请选择绑定模式。"), "binding_mode") from None
    try:
        attribution = AttributionModel(data.attribution)
    except ValueError:
        raise ServiceError("invalid_attribution", _l("请选择归因方式。"), "attribution") from None
    if not 1 <= data.binding_days <= 3650:
        raise ServiceError("invalid_binding_days", _l("绑定天数需在 1–3650 之间。"), "binding_days")
    if not 1 <= data.attribution_window_days <= 365:
        raise ServiceError("invalid_window", _l("归因窗口需在 1–365 天之间。"), "attribution_window_days")
    names = [data.rank_name_promoter.strip(), data.rank_name_mentor.strip(), data.rank_name_partner.strip()]
    if any(not n or len(n) > 20 for n in names) or len(set(names)) != 3:
        raise ServiceError("invalid_rank_names", _l("三个等级名称需各不相同，且为 1–20 个字符。"), "rank_name_promoter")
    rules = validate_rank_rules(data.rank_rules)
    settings = get_settings(actor.brand_id)
    from distweb.services import commission

    depth_before = commission.plan_depth(actor.brand_id)
    commission.set_depth(actor.brand_id, data.commission_depth, actor)  # the plan's depth is the one setting
    with transaction():
        before = {"depth": depth_before, "binding": settings.binding_mode.value}
        settings.signup_requires_approval = data.signup_requires_approval
        settings.binding_mode = binding_mode
        settings.binding_days = data.binding_days
        settings.attribution = attribution
        settings.attribution_window_days = data.attribution_window_days
        settings.rank_name_promoter, settings.rank_name_mentor, settings.rank_name_partner = names
        settings.rank_rules = rules
        settings.terms_text = (data.terms_text or "").strip()[:4000] or None
        _audit(actor, "settings.update", "brand", actor.brand_id,
               {"before": before, "after": {"depth": data.commission_depth, "binding": binding_mode.value}})
    return settings


def validate_rank_rules(rules: dict) -> dict:
    """Promotion rules are on sales only: {rank: {"days", "own_sales_fen", "team_sales_fen"}}."""
    clean = {}
    for rank in (Rank.MENTOR, Rank.PARTNER):
        rule = (rules or {}).get(rank.value)
        if not rule:
            continue
        try:
            days = int(rule.get("days", 30))
            own = int(rule.get("own_sales_fen", 0))
            team = int(rule.get("team_sales_fen", 0))
        except (TypeError, ValueError):
            raise ServiceError("invalid_rank_rule", _l("晋升条件需填写整数。"), f"rank_rules.{rank.value}") from None
        if not 1 <= days <= 366 or own < 0 or team < 0:
            raise ServiceError("invalid_rank_rule", _l("晋升条件超出范围。"), f"rank_rules.{rank.value}")
        if own == 0 and team == 0:
            # A rule with no sales threshold would promote on headcount alone: refused.
            raise ServiceError("rank_rule_needs_sales", _l("晋升条件必须包含销售额门槛，不能只看人数。"),
                               f"rank_rules.{rank.value}")
        clean[rank.value] = {"days": days, "own_sales_fen": own, "team_sales_fen": team}
    return clean


# ---------------------------------------------------------------- lookups


def by_code(code: str, brand_id: int | None = None) -> Promoter | None:
    code = (code or "").strip().upper()
    if not code or len(code) > 12:
        return None
    stmt = select(Promoter).where(Promoter.code == code)
    if brand_id is not None:
        stmt = stmt.where(Promoter.brand_id == brand_id)
    return db.session.scalars(stmt).first()


def by_code_with_uplines(code: str, brand_id: int) -> Promoter | None:
    """``by_code``, with the promoter's two uplines loaded in the same query and kept for
    the transaction (placing an order snapshots that chain next)."""
    return by_code_with_uplines_and(code, brand_id)[0]


def by_code_with_uplines_and(code: str, brand_id: int, also=(), params: dict | None = None):
    """``by_code_with_uplines``, and beside it the values of ``also`` (labelled scalar
    subqueries, with their ``params``): what the caller needs next, read in the same round
    trip. Returns (promoter or None, the values of ``also`` as a tuple)."""
    code = (code or "").strip().upper()
    if not code or len(code) > 12:
        return None, None
    statement = _WITH_UPLINES.add_columns(*also) if also else _WITH_UPLINES
    rows = db.session.execute(statement, {"code": code, "brand_id": brand_id, **(params or {})}).all()
    from distweb.services.rows import keep

    keep([row[0] for row in rows])
    found = next((row for row in rows if row[0].code == code and row[0].brand_id == brand_id), None)
    if found is None:
        return None, None
    return found[0], tuple(found[1:])


_OWN = select(Promoter.id, Promoter.upline_id, Promoter.upline2_id).where(
    Promoter.code == bindparam("code"), Promoter.brand_id == bindparam("brand_id")).cte("own")
_WITH_UPLINES = select(Promoter).where(or_(
    Promoter.id == select(_OWN.c.id).scalar_subquery(),
    Promoter.id == select(_OWN.c.upline_id).scalar_subquery(),
    Promoter.id == select(_OWN.c.upline2_id).scalar_subquery(),
))


def get_for_brand(brand_id: int, promoter_id: int) -> Promoter:
    promoter = db.session.get(Promoter, promoter_id)
    if promoter is None or promoter.brand_id != brand_id:
        raise NotFound("promoter_not_found", _l("推客不存在。"))
    return promoter


def upline_chain(promoter: Promoter, limit: int = 10) -> list[Promoter]:
    """Ancestors nearest first (for the manager's promoter page)."""
    chain, current, seen = [], promoter, {promoter.id}
    while current.upline_id and len(chain) < limit:
        current = db.session.get(Promoter, current.upline_id)
        if current is None or current.id in seen:
            break
        seen.add(current.id)
        chain.append(current)
    return chain


def ancestors_ids(promoter_id: int) -> set[int]:
    """Every ancestor of a promoter, any depth (recursive CTE; used to refuse cycles)."""
    base = select(Promoter.upline_id.label("id")).where(Promoter.id == promoter_id).cte("ancestors", recursive=True)
    parent = aliased(Promoter)
    cte = base.union(select(parent.upline_id).join(base, parent.id == base.c.id).where(parent.upline_id.is_not(None)))
    return {row for row in db.session.scalars(select(cte.c.id)) if row is not None}


# ---------------------------------------------------------------- creating promoters


def _audit(actor: User | None, action: str, subject_type: str, subject_id: int, details: dict | None = None,
           brand_id: int | None = None) -> None:
    db.session.add(
        AuditEntry(
            brand_id=brand_id or actor.brand_id,
            actor_user_id=actor.id if actor else None,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            details=details or {},
        )
    )


def place_under(promoter: Promoter, upline: Promoter | None) -> None:
    promoter.upline_id = upline.id if upline else None
    promoter.upline2_id = upline.upline_id if upline else None
    promoter.upline3_id = upline.upline2_id if upline else None


def add_promoter(
    brand: Brand,
    name: str,
    phone: str,
    password: str | None,
    upline: Promoter | None,
    rank: Rank = Rank.PROMOTER,
    status: PromoterStatus = PromoterStatus.ACTIVE,
    check_strength: bool = True,
    distributor: bool = False,
    joined_at: datetime | None = None,
) -> Promoter:
    """Add a user and their place in the tree to the session (the caller commits).
    ``joined_at``: when it joined (an import of an existing network); default now."""
    name = _check_name(name)
    if upline is not None and upline.brand_id != brand.id:
        raise ServiceError("invalid_upline", _l("上级不存在。"), "upline_code")
    user = accounts.create_user(brand, Role.PROMOTER, name, password, phone=phone, check_strength=check_strength)
    db.session.flush()
    promoter = Promoter(brand_id=brand.id, user_id=user.id, code=new_code(), rank=rank, status=status,
                        distributor=distributor)
    if joined_at is not None:
        promoter.joined_at = joined_at
    place_under(promoter, upline)
    db.session.add(promoter)
    db.session.flush()
    return promoter


def invite_is_usable(inviter: Promoter | None) -> bool:
    return inviter is not None and inviter.status == PromoterStatus.ACTIVE


def sign_up(invite_code: str, name: str, phone: str, password: str, agreed: bool, sms_code: str) -> Promoter:
    """A new promoter from an invite link, bound under the inviter, its phone proven by the
    SMS code sent to it (``sms.send_code(SIGNUP, phone)``). Free, always: no fee, no payment
    for recruiting (see Compliance). Everything else is checked before the code is, so a
    typo elsewhere costs no attempt; the code is used with the account, in one transaction."""
    from distweb.services import sms

    inviter = by_code(invite_code)
    if not invite_is_usable(inviter):
        raise ServiceError("invite_unusable", _l("这个邀请链接已失效，请向邀请人索取新的链接。"), "invite")
    if not agreed:
        raise ServiceError("terms_required", _l("请阅读并同意推广计划条款。"), "agree")
    _check_name(name)
    phone = sms.normalise_phone(phone)
    accounts.check_password_strength(password)
    if accounts.find_user_by_login(phone) is not None:
        raise Conflict("duplicate_phone", _l("该手机号已被注册。"), "phone")
    code_id = sms.check_code(sms.SmsPurpose.SIGNUP, phone, sms_code)
    brand = db.session.get(Brand, inviter.brand_id)
    settings = get_settings(brand.id)
    status = PromoterStatus.PENDING if settings.signup_requires_approval else PromoterStatus.ACTIVE
    with transaction():
        sms.consume(code_id)
        promoter = add_promoter(brand, name, phone, password, inviter, status=status)
        _audit(None, "promoter.signup", "promoter", promoter.id, {"inviter": inviter.code}, brand_id=brand.id)
    return promoter


def import_promoter(brand: Brand, name: str, phone: str | None, upline_code: str | None, rank: str | None,
                    actor: User | None = None, distributor: bool = False,
                    joined_at: datetime | None = None,
                    before_commit: Callable[[Promoter], None] | None = None) -> Promoter:
    """Import an existing network through the API: the promoter has no password and signs in
    after a reset by the brand (no password travels through the API).
    ``joined_at`` (aware, not in the future): when it joined the brand's network; default now.
    ``before_commit(promoter)`` runs last inside the promoter's transaction (a file import
    records the row and the old system's id there: both commit with the promoter, or
    neither does)."""
    upline = None
    if upline_code:
        upline = by_code(upline_code, brand.id)
        if upline is None:
            raise ServiceError("unknown_upline", _l("上级邀请码不存在。"), "upline_code")
    try:
        rank_value = Rank(rank or "promoter")
    except ValueError:
        raise ServiceError("invalid_rank", _l("等级只能是 promoter、mentor 或 partner。"), "rank") from None
    if joined_at is not None and joined_at > utcnow():
        raise ServiceError("joined_at_in_future", _l("加入时间不能晚于现在。"), "joined_at")
    with transaction():
        promoter = add_promoter(brand, name, phone, None, upline, rank=rank_value,
                                check_strength=False, distributor=distributor, joined_at=joined_at)
        details = {"upline": upline_code}
        if distributor:
            details["distributor"] = True
        _audit(actor, "promoter.import", "promoter", promoter.id, details, brand_id=brand.id)
        if before_commit is not None:
            before_commit(promoter)
    return promoter


# ---------------------------------------------------------------- manager actions
#
# Each action is a check (raises, writes nothing) and a change (writes, with its audit
# entry, inside the caller's transaction). A manager's page runs one action; the API's
# PATCH checks every change it was sent before it writes any (``update_promoter``).
#
# ``actor`` is the manager acting, or None for the brand itself acting through the API (its
# key chose the brand): the audit entry then has no actor and says ``"by": "api"``.

TRANSITIONS = {
    "approve": ({PromoterStatus.PENDING}, PromoterStatus.ACTIVE),
    "reject": ({PromoterStatus.PENDING}, PromoterStatus.REJECTED),
    "suspend": ({PromoterStatus.ACTIVE}, PromoterStatus.SUSPENDED),
    "reactivate": ({PromoterStatus.SUSPENDED, PromoterStatus.REJECTED}, PromoterStatus.ACTIVE),
}


def _check_actor(actor: User | None, promoter: Promoter) -> None:
    if actor is not None and promoter.brand_id != actor.brand_id:
        raise NotFound("promoter_not_found", _l("推客不存在。"))


def _by(actor: User | None) -> str:
    return "manager" if actor is not None else "api"


def _action_audit(actor: User | None, action: str, promoter: Promoter, details: dict) -> None:
    if actor is None:
        details = {**details, "by": "api"}
    _audit(actor, action, "promoter", promoter.id, details, brand_id=promoter.brand_id)


def require_distributor(promoter: Promoter) -> None:
    """Only a distributor (分销商) sells on consignment from its own shop or buys and sells
    wholesale stock; every other promoter (推客) promotes (docs/PRODUCT.md)."""
    if not promoter.distributor:
        raise ServiceError("not_a_distributor", _l("只有分销商可以代销或经销，该推客不是分销商。"), "promoter_code")


def _check_status(promoter: Promoter, action: str, reason: str | None,
                  reason_required: bool = True) -> tuple[PromoterStatus, str | None]:
    if action not in TRANSITIONS:
        raise ServiceError("invalid_action", _l("不支持的操作。"))
    allowed, target = TRANSITIONS[action]
    if promoter.status not in allowed:
        raise Conflict("invalid_transition", _l("该推客当前状态不能执行此操作。"), "status")
    reason = (reason or "").strip()[:200] or None
    if reason_required and action in ("reject", "suspend") and not reason:
        raise ServiceError("reason_required", _l("请填写原因。"), "reason")
    return target, reason


def _apply_status(actor: User | None, promoter: Promoter, action: str, target: PromoterStatus,
                  reason: str | None) -> None:
    before = promoter.status
    promoter.status = target
    promoter.status_reason = reason
    promoter.reviewed_at = utcnow()
    _action_audit(actor, f"promoter.{action}", promoter, {"from": before.value, "to": target.value, "reason": reason})


def change_status(actor: User | None, promoter: Promoter, action: str, reason: str | None = None) -> Promoter:
    _check_actor(actor, promoter)
    target, reason = _check_status(promoter, action, reason)
    with transaction():
        _apply_status(actor, promoter, action, target, reason)
    return promoter


def _check_move(promoter: Promoter, new_upline_code: str | None) -> Promoter | None:
    """The new upline (None: the top of the tree), or a refusal."""
    if not new_upline_code:
        return None
    new_upline = by_code(new_upline_code, promoter.brand_id)
    if new_upline is None:
        raise ServiceError("unknown_upline", _l("上级邀请码不存在。"), "upline_code")
    if new_upline.id == promoter.id:
        raise ServiceError("self_upline", _l("不能把推客设为自己的上级。"), "upline_code")
    if promoter.id in ancestors_ids(new_upline.id):
        raise ServiceError("cycle", _l("不能移到自己的下级名下：这会形成循环。"), "upline_code")
    return new_upline


def _apply_move(actor: User | None, promoter: Promoter, new_upline: Promoter | None) -> None:
    old = promoter.upline.code if promoter.upline else None
    place_under(promoter, new_upline)
    db.session.flush()
    # Children and grandchildren carry this promoter's ancestors in their repeated columns.
    db.session.execute(
        update(Promoter)
        .where(Promoter.upline_id == promoter.id)
        .values(upline2_id=promoter.upline_id, upline3_id=promoter.upline2_id)
    )
    db.session.execute(
        update(Promoter).where(Promoter.upline2_id == promoter.id).values(upline3_id=promoter.upline_id)
    )
    _action_audit(actor, "promoter.move", promoter, {"from": old, "to": new_upline.code if new_upline else None})


def move(actor: User | None, promoter: Promoter, new_upline_code: str | None) -> Promoter:
    """Put a promoter (and its whole downline) under another upline, or at the top.
    Past orders keep the chain they were snapshotted with."""
    _check_actor(actor, promoter)
    new_upline = _check_move(promoter, new_upline_code)
    with transaction():
        _apply_move(actor, promoter, new_upline)
    return promoter


def _check_rank(rank) -> Rank:
    try:
        return Rank(rank)
    except ValueError:
        raise ServiceError("invalid_rank", _l("请选择等级。"), "rank") from None


def _apply_rank(actor: User | None, promoter: Promoter, new_rank: Rank, note: str | None = None) -> None:
    before = promoter.rank
    promoter.rank = new_rank
    _audit(actor, "promoter.rank", "promoter", promoter.id,
           {"from": before.value, "to": new_rank.value, "note": (note or "").strip()[:200] or None,
            "by": _by(actor)}, brand_id=promoter.brand_id)


def set_rank(actor: User | None, promoter: Promoter, rank: str, note: str | None = None) -> Promoter:
    _check_actor(actor, promoter)
    new_rank = _check_rank(rank)
    if new_rank == promoter.rank:
        return promoter
    with transaction():
        _apply_rank(actor, promoter, new_rank, note)
    return promoter


def _apply_distributor(actor: User | None, promoter: Promoter, distributor: bool) -> None:
    promoter.distributor = distributor
    _action_audit(actor, "promoter.distributor.set" if distributor else "promoter.distributor.unset", promoter, {})


def set_distributor(actor: User | None, promoter: Promoter, distributor: bool) -> Promoter:
    """Make a promoter a distributor (分销商: may sell on consignment and buy wholesale stock),
    or take that away (it promotes only; orders already placed keep their mode)."""
    _check_actor(actor, promoter)
    if bool(distributor) == promoter.distributor:
        return promoter
    with transaction():
        _apply_distributor(actor, promoter, bool(distributor))
    return promoter


def _check_name(name) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 60:
        raise ServiceError("invalid_name", _l("请输入 1–60 个字符的姓名。"), "name")
    return name


def _apply_name(actor: User | None, promoter: Promoter, name: str) -> None:
    before = promoter.user.name
    promoter.user.name = name
    _action_audit(actor, "promoter.rename", promoter, {"from": before, "to": name})


UNCHANGED = object()  # an ``update_promoter`` argument not given


def update_promoter(actor: User | None, promoter: Promoter, *, name=UNCHANGED, rank=UNCHANGED,
                    distributor=UNCHANGED, status=UNCHANGED, upline_code=UNCHANGED,
                    reason: str | None = None) -> Promoter:
    """Change any of a promoter's name, rank, distributor flag, status (``active`` or
    ``suspended``) and upline (``upline_code`` None: the top of the tree), all or nothing:
    every change is checked before any is written, then all are written in one transaction,
    each with its audit entry. A value equal to the current one changes nothing."""
    _check_actor(actor, promoter)
    steps = []
    if name is not UNCHANGED:
        new_name = _check_name(name)
        if new_name != promoter.user.name:
            steps.append(functools.partial(_apply_name, actor, promoter, new_name))
    if rank is not UNCHANGED:
        new_rank = _check_rank(rank)
        if new_rank != promoter.rank:
            steps.append(functools.partial(_apply_rank, actor, promoter, new_rank))
    if distributor is not UNCHANGED:
        if not isinstance(distributor, bool):
            raise ServiceError("invalid_distributor", _l("distributor 只能是 true 或 false。"), "distributor")
        if distributor != promoter.distributor:
            steps.append(functools.partial(_apply_distributor, actor, promoter, distributor))
    if status is not UNCHANGED:
        action = _status_action(promoter, status)
        if action is not None:
            target, why = _check_status(promoter, action, reason, reason_required=False)
            steps.append(functools.partial(_apply_status, actor, promoter, action, target, why))
    if upline_code is not UNCHANGED:
        new_upline = _check_move(promoter, upline_code)
        if (new_upline.id if new_upline else None) != promoter.upline_id:
            steps.append(functools.partial(_apply_move, actor, promoter, new_upline))
    if steps:
        with transaction():
            for step in steps:
                step()
    return promoter


def _status_action(promoter: Promoter, status) -> str | None:
    """The transition that takes a promoter to ``status`` (active|suspended), None if it is there."""
    if status not in (PromoterStatus.ACTIVE.value, PromoterStatus.SUSPENDED.value):
        raise ServiceError("invalid_status", _l("status 只能是 active 或 suspended。"), "status")
    target = PromoterStatus(status)
    if promoter.status == target:
        return None
    if target == PromoterStatus.SUSPENDED:
        return "suspend"  # from active only: anything else is refused as a transition
    return "approve" if promoter.status == PromoterStatus.PENDING else "reactivate"


def sales_by_promoter(brand_id: int, since: datetime) -> dict[int, int]:
    rows = db.session.execute(
        select(Order.promoter_id, func.sum(Order.total_paid_fen))
        .where(Order.brand_id == brand_id, Order.placed_at >= since, Order.status.in_(SALE_STATUSES),
               Order.promoter_id.is_not(None))
        .group_by(Order.promoter_id)
    )
    return {pid: int(total) for pid, total in rows}


def team_sales_by_promoter(brand_id: int, since: datetime) -> dict[int, int]:
    """Sales of each promoter's downline (three levels), one grouped query per level."""
    totals: dict[int, int] = {}
    for column in (Promoter.upline_id, Promoter.upline2_id, Promoter.upline3_id):
        rows = db.session.execute(
            select(column, func.sum(Order.total_paid_fen))
            .select_from(Order)
            .join(Promoter, Promoter.id == Order.promoter_id)
            .where(Order.brand_id == brand_id, Order.placed_at >= since, Order.status.in_(SALE_STATUSES),
                   column.is_not(None))
            .group_by(column)
        )
        for pid, total in rows:
            totals[pid] = totals.get(pid, 0) + int(total)
    return totals


def evaluate_ranks(brand_id: int, now: datetime | None = None) -> list[tuple[int, str, str]]:
    """Promote everyone whose sales meet the brand's rules (never demotes; managers can).
    Returns (promoter id, from, to) for each promotion."""
    settings = get_settings(brand_id)
    now = now or utcnow()
    promotions: list[tuple[int, str, str]] = []
    for rank in (Rank.MENTOR, Rank.PARTNER):
        rule = settings.rank_rules.get(rank.value)
        if not rule:
            continue
        since = now - timedelta(days=rule["days"])
        own = sales_by_promoter(brand_id, since)
        team = team_sales_by_promoter(brand_id, since)
        lower = RANK_ORDER[: RANK_ORDER.index(rank)]
        candidates = db.session.scalars(
            select(Promoter).where(Promoter.brand_id == brand_id, Promoter.status == PromoterStatus.ACTIVE,
                                   Promoter.rank.in_(lower))
        ).all()
        with transaction():
            for promoter in candidates:
                if own.get(promoter.id, 0) >= rule["own_sales_fen"] and team.get(promoter.id, 0) >= rule["team_sales_fen"]:
                    before = promoter.rank
                    promoter.rank = rank
                    promotions.append((promoter.id, before.value, rank.value))
                    _audit(None, "promoter.rank", "promoter", promoter.id,
                           {"from": before.value, "to": rank.value, "by": "rule",
                            "own_sales_fen": own.get(promoter.id, 0), "team_sales_fen": team.get(promoter.id, 0)},
                           brand_id=brand_id)
    return promotions


# ---------------------------------------------------------------- team views


def level_column(level: int):
    return {1: Promoter.upline_id, 2: Promoter.upline2_id, 3: Promoter.upline3_id}[level]


def team_counts(promoter_id: int, depth: int) -> dict[int, int]:
    counts = {}
    for level in range(1, depth + 1):
        counts[level] = db.session.scalar(
            select(func.count(Promoter.id)).where(level_column(level) == promoter_id,
                                                  Promoter.status == PromoterStatus.ACTIVE)
        )
    return counts


@dataclass(frozen=True)
class TeamMember:
    promoter: Promoter
    orders: int
    sales_fen: int


def team_page(promoter_id: int, level: int, since: datetime, query: str | None = None,
              before_id: int | None = None, limit: int = 20) -> list[TeamMember]:
    """One page of a team level, newest first, with each member's orders and sales since
    ``since`` (aggregated for this page's members only)."""
    from sqlalchemy.orm import joinedload

    stmt = (
        select(Promoter)
        .options(joinedload(Promoter.user))
        .join(User, User.id == Promoter.user_id)
        .where(level_column(level) == promoter_id,
               Promoter.status.in_([PromoterStatus.ACTIVE, PromoterStatus.PENDING, PromoterStatus.SUSPENDED]))
        .order_by(Promoter.id.desc())
        .limit(limit)
    )
    if before_id:
        stmt = stmt.where(Promoter.id < before_id)
    if query:
        like = f"%{query.strip()[:40]}%"
        stmt = stmt.where(or_(User.name.like(like), User.phone.like(like), Promoter.code == query.strip().upper()))
    members = db.session.scalars(stmt).all()
    if not members:
        return []
    ids = [m.id for m in members]
    stats = {
        pid: (int(n), int(total))
        for pid, n, total in db.session.execute(
            select(Order.promoter_id, func.count(Order.id), func.coalesce(func.sum(Order.total_paid_fen), 0))
            .where(and_(Order.promoter_id.in_(ids), Order.placed_at >= since, Order.status.in_(SALE_STATUSES)))
            .group_by(Order.promoter_id)
        )
    }
    return [TeamMember(m, *stats.get(m.id, (0, 0))) for m in members]


# ---------------------------------------------------------------- invite statistics


def invite_stats(promoter_id: int, tz: str, days: int = 14, now: datetime | None = None) -> list[dict]:
    """Clicks, sign-ups and new buyers per local day for the last ``days`` days, newest first."""
    from zoneinfo import ZoneInfo

    from distweb.models import BuyerBinding, Click

    zone = ZoneInfo(tz)
    now = (now or utcnow()).astimezone(zone)
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    buckets = {(start + timedelta(days=i)).date(): {"clicks": 0, "signups": 0, "buyers": 0} for i in range(days)}
    sources = (
        ("clicks", select(Click.created_at).where(Click.promoter_id == promoter_id, Click.created_at >= start)),
        ("signups", select(Promoter.joined_at).where(Promoter.upline_id == promoter_id, Promoter.joined_at >= start)),
        ("buyers", select(BuyerBinding.bound_at).where(BuyerBinding.promoter_id == promoter_id,
                                                       BuyerBinding.bound_at >= start)),
    )
    for name, stmt in sources:
        for moment in db.session.scalars(stmt):
            day = moment.astimezone(zone).date()
            if day in buckets:
                buckets[day][name] += 1
    return [{"day": day, **counts} for day, counts in sorted(buckets.items(), reverse=True)]


# ---------------------------------------------------------------- manager lists


@dataclass
class PromoterFilter:
    q: str | None = None
    status: str | None = None
    rank: str | None = None
    distributor: bool | None = None  # True: distributors only; False: the others
    upline_code: str | None = None
    joined_from: datetime | None = None
    joined_to: datetime | None = None


def search_promoters(brand_id: int, f: PromoterFilter, before_id: int | None = None, limit: int | None = 50):
    """Promoters matching the manager's filters, newest first, keyset-paged by id."""
    from sqlalchemy.orm import joinedload

    upline_row = aliased(Promoter)
    stmt = (
        select(Promoter)
        .options(joinedload(Promoter.user), joinedload(Promoter.upline).joinedload(Promoter.user))
        .join(User, User.id == Promoter.user_id)
        .where(Promoter.brand_id == brand_id)
        .order_by(Promoter.id.desc())
    )
    if f.q:
        q = f.q.strip()[:40]
        like = f"%{q}%"
        stmt = stmt.where(or_(User.name.like(like), User.phone.like(like), Promoter.code == q.upper()))
    if f.status:
        try:
            stmt = stmt.where(Promoter.status == PromoterStatus(f.status))
        except ValueError:
            pass
    if f.rank:
        try:
            stmt = stmt.where(Promoter.rank == Rank(f.rank))
        except ValueError:
            pass
    if f.distributor is not None:
        stmt = stmt.where(Promoter.distributor.is_(f.distributor))
    if f.upline_code:
        stmt = stmt.join(upline_row, upline_row.id == Promoter.upline_id).where(
            upline_row.code == f.upline_code.strip().upper()
        )
    if f.joined_from:
        stmt = stmt.where(Promoter.joined_at >= f.joined_from)
    if f.joined_to:
        stmt = stmt.where(Promoter.joined_at < f.joined_to)
    if before_id:
        stmt = stmt.where(Promoter.id < before_id)
    if limit:
        stmt = stmt.limit(limit)
    return db.session.scalars(stmt)


def children_of(brand_id: int, promoter_id: int | None, limit: int = 200) -> list[tuple[Promoter, int]]:
    """Direct downline of a promoter (or the top of the tree), each with its own count of
    direct downline, for the lazily expanding tree."""
    from sqlalchemy.orm import joinedload

    child = aliased(Promoter)
    sub = (
        select(func.count(child.id)).where(child.upline_id == Promoter.id).correlate(Promoter).scalar_subquery()
    )
    stmt = (
        select(Promoter, sub)
        .options(joinedload(Promoter.user))
        .where(Promoter.brand_id == brand_id,
               Promoter.upline_id == promoter_id if promoter_id else Promoter.upline_id.is_(None))
        .order_by(Promoter.id)
        .limit(limit)
    )
    return [(p, int(n)) for p, n in db.session.execute(stmt)]


def audit_for(brand_id: int, promoter_id: int, limit: int = 50) -> list[AuditEntry]:
    from sqlalchemy.orm import joinedload

    return list(
        db.session.scalars(
            select(AuditEntry)
            .options(joinedload(AuditEntry.actor))
            .where(AuditEntry.brand_id == brand_id, AuditEntry.subject_type == "promoter",
                   AuditEntry.subject_id == promoter_id)
            .order_by(AuditEntry.id.desc())
            .limit(limit)
        )
    )


def pending_count(brand_id: int) -> int:
    return db.session.scalar(
        select(func.count(Promoter.id)).where(Promoter.brand_id == brand_id, Promoter.status == PromoterStatus.PENDING)
    )
