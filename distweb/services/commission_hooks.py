"""Where order events meet the commission engine.

The order services call these inside their own transaction, so an order change and the
money it moves are written together or not at all. The commission engine fills them in.
"""

from __future__ import annotations


def order_paid(order) -> None:
    """Price the commission lines of a paid order (frozen)."""


def order_completed(order) -> None:
    """Start the freeze window."""


def order_cancelled(order) -> None:
    """Reverse everything the order earned."""


def order_refunded(order, refund) -> None:
    """Reverse in proportion (or claw back after settlement)."""
