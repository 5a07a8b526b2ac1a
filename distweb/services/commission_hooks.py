"""Where order events meet the commission engine. The order services call these inside
their own transaction, so an order change and the money it moves commit together."""

from __future__ import annotations


def order_paid(order, new_order: bool = False) -> None:
    from distweb.services import commission

    commission.on_paid(order, new_order)


def order_completed(order) -> None:
    """Nothing moves: the freeze window counts from ``completed_at``; settlement releases it."""


def order_cancelled(order) -> None:
    from distweb.services import commission

    commission.on_cancelled(order)


def order_refunded(order, refund) -> None:
    from distweb.services import commission

    commission.on_refunded(order, refund)
