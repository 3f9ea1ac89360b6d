"""The OpenAPI schema as client generators read it.

FastAPI's schema is refined in three ways: every error status refers to the one error model,
``ErrorMessage`` (FastAPI's own 422 model is replaced, since this service answers 422s in that
shape too); an operation behind the API key documents its 401; and file uploads are marked
``format: binary``, which openapi-python-client and others need to send them as files
(OpenAPI 3.1's ``contentMediaType`` alone reads to them as a text field).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.schemas.common import ErrorMessage

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorMessage"}}}
INVALID = "The request is not valid: `detail` says why, `errors` lists each invalid part."
UNAUTHORIZED = "X-API-Key is missing or wrong (the server runs with D2L_API_KEY)."


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            refine(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def refine(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    definitions = ErrorMessage.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(definitions.pop("$defs", {}))
    # Optional, and absent when they do not apply: no default, so generators type them `?:`.
    for field in ("errors", "suggestions"):
        definitions["properties"][field].pop("default", None)
    components["ErrorMessage"] = definitions
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {"description": INVALID, "content": ERROR}
            if operation.get("security"):
                responses.setdefault("401", {"description": UNAUTHORIZED, "content": ERROR})
            for status, response in responses.items():
                if status.startswith(("4", "5")) and "content" not in response:
                    response["content"] = ERROR
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for component in components.values():
        _mark_binary(component)


def _mark_binary(node: Any) -> None:
    """``format: binary`` beside every ``contentMediaType: application/octet-stream``."""
    if isinstance(node, dict):
        if node.get("contentMediaType") == "application/octet-stream":
            node.setdefault("format", "binary")
        for value in node.values():
            _mark_binary(value)
    elif isinstance(node, list):
        for value in node:
            _mark_binary(value)
