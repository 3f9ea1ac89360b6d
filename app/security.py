"""The optional API key: when ``D2L_API_KEY`` is set, every endpoint but health and metrics needs
the header ``X-API-Key`` with that value (compared in constant time)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Security
from fastapi.security import APIKeyHeader

from app.deps import SettingsDep

API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Needed on every endpoint but /health/* and /metrics when the service has "
    "D2L_API_KEY set.",
)


async def require_api_key(
    settings: SettingsDep, sent: Annotated[str | None, Security(API_KEY_HEADER)] = None
) -> None:
    expected = settings.api_key
    if expected is None:
        return
    if sent is None:
        raise HTTPException(
            401,
            "This service needs an API key: send it in the X-API-Key header",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(
            401, "The X-API-Key header is not a valid key", headers={"WWW-Authenticate": "ApiKey"}
        )


APIKeyDep = Depends(require_api_key)
