"""How an order's commission lines look to the API and pages."""

from __future__ import annotations

# A line the provider's 分账 paid is paid out to an API client, as one a withdrawal paid
# (docs/API.md's statuses); pages tell the two apart.
_API_STATUS = {"split_paid": "paid_out"}


def lines_json(order, api: bool = False) -> list[dict]:
    """One entry per line; ``amount_fen`` is what the promoter keeps (a reduced line after
    partial refunds), so the sum over lines not ``reversed`` is what each level keeps.
    ``api``: statuses as docs/API.md lists them."""
    names = _API_STATUS if api else {}
    from distweb.services.commission import lines_for_order

    return [
        {"promoter_code": code, "level": line.level, "kind": line.kind,
         "amount_fen": line.amount_fen if line.status.value == "reversed" else line.kept_fen,
         "original_fen": line.amount_fen, "reversed_fen": line.reversed_fen, "clawback_fen": line.clawback_fen,
         "status": names.get(line.status.value, line.status.value), "rule_version": line.plan_version}
        for line, code in lines_for_order(order.id)
    ]
