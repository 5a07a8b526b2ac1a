"""Rows a transaction needs more than once (the promoters of an order's chain, the products
of its items), loaded once per transaction.

The session's identity map already gives back a loaded object without a query, but it
holds clean objects only weakly: once the code that loaded them lets go, the next lookup
queries again. ``loaded`` keeps what it loads until the outermost transaction ends (a
commit or rollback expires them anyway), so attribution, pricing and posting of one order,
or of a batch of orders in one transaction, read each row once. They are the session's own
objects, so changes made through the ORM in the same session are seen as usual.
"""

from __future__ import annotations

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from distweb.extensions import db

_KEPT = "distweb_kept_rows"


def loaded(model, ids) -> dict:
    """{id: object} for the ids that exist: from the identity map where loaded (and not
    expired), with one query for the rest."""
    found, missing = {}, []
    identity_map, mapper = db.session.identity_map, inspect(model)
    for i in ids:
        if i is None or i in found:
            continue
        obj = identity_map.get(mapper.identity_key_from_primary_key((i,)))
        if obj is None or inspect(obj).expired:
            missing.append(i)
        else:
            found[i] = obj
    if missing:
        rows = list(db.session.scalars(select(model).where(model.id.in_(missing))))
        keep(rows)
        for obj in rows:
            found[obj.id] = obj
    return found


def keep(objects) -> None:
    """Hold these objects (so the identity map keeps them) until the transaction ends."""
    db.session.info.setdefault(_KEPT, []).extend(objects)


@event.listens_for(Session, "after_transaction_end")
def _let_go(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_KEPT, None)
