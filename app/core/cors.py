"""Which web pages may call the API from a browser (``D2L_CORS_ORIGINS``), checked and said
aloud at start-up: a misconfigured origin otherwise fails silently, in the browser only."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

ORIGIN = re.compile(r"https?://[^/?#\s]+")
TWINS = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}


def check_origin(origin: str) -> str:
    """``origin`` if it is ``*`` or ``scheme://host[:port]``; else a ValueError saying why."""
    if origin == "*" or ORIGIN.fullmatch(origin):
        return origin
    raise ValueError(
        f"D2L_CORS_ORIGINS: {origin[:80]!r} is not an origin: write scheme://host[:port] with "
        "no path and no trailing slash, as a browser sends it (e.g. http://localhost:3000), "
        "or * for any"
    )


def cors_summary(origins: list[str]) -> str:
    """One log line: who may call, and the trap a browser's exact-match origin sets."""
    if not origins:
        return (
            "CORS off: only pages served by this service (the web UI at /) may call the API "
            "from a browser; set D2L_CORS_ORIGINS to allow pages on other origins"
        )
    if "*" in origins:
        return "CORS: pages on any origin may call the API (D2L_CORS_ORIGINS=*)"
    line = f"CORS: pages on {', '.join(origins)} may call the API"
    missing = []
    for origin in origins:
        parts = urlsplit(origin)
        twin = TWINS.get(parts.hostname or "")
        if twin:
            other = origin.replace(f"//{parts.hostname}", f"//{twin}", 1)
            if other not in origins:
                missing.append(other)
    if missing:
        line += (
            f"; a browser matches origins exactly, so a page opened as {', '.join(missing)} "
            "is refused (list it too if it is used)"
        )
    return line
