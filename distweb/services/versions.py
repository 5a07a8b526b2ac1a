"""Data versions: the keys under which pages cache what they read.

A cached figure is only ever looked up under the version its data has *now*, and every write
that changes the data raises that version in the same database transaction, so a figure kept
from before a write can never be found after the write commits: staleness is impossible, not
unlikely. Readers read the version first and the data after it, so what they keep under a
version is that version's data or newer, never older.

Two scopes:
- ``promoter``: a promoter's home (own sales, direct team, commission earned, wallet, unread
  notices, latest orders). Raised by an order of the promoter or its chain (every order change
  writes an order event, and ORM changes are watched: ``touch_order``), any ledger posting to one of its wallet accounts
  (``services.ledger`` calls ``touch_promoters``), a notice to its user or reading them, a
  change to itself or its direct team (joining, leaving, status, name: ``_watch_rows``).
- ``brand``: what every promoter of a brand sees the same way (the materials worth sharing:
  any material or picture change, ``_watch_rows``; brand-wide notices; any edit of the brand
  row). Part of every promoter's key too.

Writers call ``touch_*`` inside their transaction; the raises are collected on the session and
written just before it commits, in one statement in a fixed order (owner ids ascending), so
two transactions raising the same counters never wait on each other in opposite orders.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, event, inspect, or_, select, text
from sqlalchemy.orm import Session

from distweb.extensions import db
from distweb.models import Brand, DataVersion, Material, MaterialImage, Order, Promoter, User

PROMOTER = "promoter"
BRAND = "brand"

_PENDING = "distweb_pending_versions"

# One statement with one meaning on PostgreSQL and SQLite (3.24+): the counter's first raise
# creates it.
_RAISE = text(
    "INSERT INTO data_versions (scope, owner_id, version) VALUES (:scope, :owner_id, 1) "
    "ON CONFLICT (scope, owner_id) DO UPDATE SET version = data_versions.version + 1"
)


def _pending(session) -> set:
    # Inside the session's transaction (begun now if need be), so its rollback forgets them.
    session.connection()
    return session.info.setdefault(_PENDING, set())


def touch_promoters(ids: Iterable[int | None], session=None) -> None:
    """The promoters' home figures change in this transaction."""
    _pending(session or db.session()).update((PROMOTER, i) for i in ids if i)


def touch_brand(brand_id: int | None, session=None) -> None:
    """Something every promoter of the brand sees changes in this transaction."""
    if brand_id:
        _pending(session or db.session()).add((BRAND, brand_id))


def touch_order(order) -> None:
    """An order changed: its seller's own sales and latest orders, and the chain's earnings."""
    touch_promoters((order.promoter_id, order.chain_l2_id, order.chain_l3_id))


def touch_users(user_ids: Iterable[int]) -> None:
    """Notices to these users (or read by them) changed: their promoters' bells."""
    ids = {i for i in user_ids if i}
    if ids:
        touch_promoters(db.session.scalars(select(Promoter.id).where(Promoter.user_id.in_(ids))).all())


@event.listens_for(Session, "before_flush")
def _watch_rows(session, flush_context, instances) -> None:
    """Rows changed through the ORM: an order (as ``touch_order``); the brand (its look, time
    zone or settings); a promoter (its name,
    status) and the direct teams it leaves or joins (their size is on the upline's home); a
    material or its pictures (the brand's picks)."""
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Order):
            touch_order(obj)
        elif isinstance(obj, Brand):
            touch_brand(obj.id, session)
        elif isinstance(obj, Material):
            touch_brand(obj.brand_id, session)
        elif isinstance(obj, MaterialImage):
            touch_brand(session.scalar(select(Material.brand_id).where(Material.id == obj.material_id))
                        if obj.material_id else None, session)
        elif isinstance(obj, Promoter):
            state = inspect(obj)
            uplines = set(state.attrs.upline_id.history.deleted or ()) | {obj.upline_id}
            touch_promoters({obj.id, *uplines}, session)
        elif isinstance(obj, User) and obj in session.dirty and inspect(obj).attrs.name.history.has_changes():
            promoter_id = session.scalar(select(Promoter.id).where(Promoter.user_id == obj.id))
            touch_promoters((promoter_id,), session)


@event.listens_for(Session, "before_commit")
def _write_pending(session) -> None:
    # The ORM flushes after this hook: flush now, so what the flush touches is written too.
    session.flush()
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.execute(_RAISE, [{"scope": scope, "owner_id": owner} for scope, owner in sorted(pending)])


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session, transaction) -> None:
    """A rolled-back transaction raises nothing (its writes are gone too)."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


_CURRENT = select(DataVersion.scope, DataVersion.version).where(or_(
    (DataVersion.scope == PROMOTER) & (DataVersion.owner_id == bindparam("promoter_id")),
    (DataVersion.scope == BRAND) & (DataVersion.owner_id == bindparam("brand_id"))))
_BRAND = select(DataVersion.version).where(DataVersion.scope == BRAND, DataVersion.owner_id == bindparam("brand_id"))


def current(promoter_id: int, brand_id: int) -> tuple[int, int]:
    """(the promoter's version, the brand's version), read now (plain rows: on the session's
    connection, without the ORM's per-statement work)."""
    found = dict(db.session.connection().execute(_CURRENT, {"promoter_id": promoter_id, "brand_id": brand_id}).all())
    return found.get(PROMOTER, 0), found.get(BRAND, 0)


def brand_version(brand_id: int) -> int:
    return db.session.connection().execute(_BRAND, {"brand_id": brand_id}).scalar() or 0
