"""A promoter's money as the API and the wallet page show it.

Commission lines and the ledger arrive with the commission engine; until a promoter has
ledger entries every balance is zero, which is what this returns.
"""

from __future__ import annotations


def balances(promoter_id: int) -> dict[str, int]:
    return {"frozen_fen": 0, "available_fen": 0, "pending_withdrawal_fen": 0, "withdrawn_fen": 0}
