"""Keys, checked before any work.

With ``D2L_API_KEY`` set, every endpoint but health, metrics and the documentation needs the
header ``X-API-Key`` with that value. ``POST /models/{name}/reload`` is an operator's action: it
needs ``X-Admin-Key`` with ``D2L_ADMIN_KEY``, and is off (403) while no admin key is set.

:class:`AccessMiddleware` enforces both before the request body is read (a client without the key
cannot make the service parse a large body). The dependencies below check the same again and
declare the schemes in the OpenAPI schema, so generated clients know to send the headers.
Keys are compared in constant time.
"""

from __future__ import annotations

import hmac
import re
from typing import Annotated

from fastapi import Depends, HTTPException, Security
from fastapi.security import APIKeyHeader

from app.core.deps import SettingsDep

OPEN_PATHS = frozenset(
    {"/health/live", "/health/ready", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc"}
    | {"/openapi.json", "/"}
)
# The web UI's and the documentation's static files: the page asks for the key itself.
OPEN_PREFIXES = ("/ui/", "/docs-assets/")


def is_open(path: str) -> bool:
    """Whether ``path`` answers without an API key (probes, documentation, the UI's files)."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


# The operator's endpoints: reloading models, data sets, training jobs, trained versions.
ADMIN_PATH = re.compile(
    r"/models/[^/]+/(reload|versions(/[^/]+)?)|/datasets(/[^/]+)?|/training-jobs(/[^/]+){0,2}"
)

API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Needed on every endpoint but /health/*, /metrics and the docs when the service "
    "has D2L_API_KEY set.",
)
ADMIN_KEY_HEADER = APIKeyHeader(
    name="X-Admin-Key",
    auto_error=False,
    description="Needed by the operator's endpoints (reloading models, data sets, training "
    "jobs, model versions); they are off unless D2L_ADMIN_KEY is set.",
)

MISSING_KEY = "This service needs an API key: send it in the X-API-Key header"
WRONG_KEY = "The X-API-Key header is not a valid key"
ADMIN_OFF = (
    "The operator's endpoints (reloading models, data sets, training jobs) are off on this "
    "service: an operator enables them by setting D2L_ADMIN_KEY, then sends that key in the "
    "X-Admin-Key header"
)
MISSING_ADMIN_KEY = "This endpoint needs the admin key: send it in the X-Admin-Key header"
WRONG_ADMIN_KEY = "The X-Admin-Key header is not a valid admin key"
CHALLENGE = {"WWW-Authenticate": "ApiKey"}


def key_problem(sent: str | None, expected: str | None, missing: str, wrong: str) -> str | None:
    """Why ``sent`` does not open what ``expected`` guards, or None when it does (or when
    nothing is guarded)."""
    if expected is None:
        return None
    if sent is None:
        return missing
    if not hmac.compare_digest(sent.encode("latin-1", "replace"), expected.encode()):
        return wrong
    return None


async def require_api_key(
    settings: SettingsDep, sent: Annotated[str | None, Security(API_KEY_HEADER)] = None
) -> None:
    problem = key_problem(sent, settings.api_key, MISSING_KEY, WRONG_KEY)
    if problem is not None:
        raise HTTPException(401, problem, headers=CHALLENGE)


async def require_admin_key(
    settings: SettingsDep, sent: Annotated[str | None, Security(ADMIN_KEY_HEADER)] = None
) -> None:
    if settings.admin_key is None:
        raise HTTPException(403, ADMIN_OFF)
    problem = key_problem(sent, settings.admin_key, MISSING_ADMIN_KEY, WRONG_ADMIN_KEY)
    if problem is not None:
        raise HTTPException(401, problem, headers=CHALLENGE)


APIKeyDep = Depends(require_api_key)
AdminKeyDep = Depends(require_admin_key)
