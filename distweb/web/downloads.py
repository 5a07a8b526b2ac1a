"""Files a signed-in user downloads (exports, reports): named, and never kept by a cache."""

from __future__ import annotations


def attachment_headers(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename={filename}", "Cache-Control": "no-store"}
