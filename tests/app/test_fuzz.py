"""Schemathesis fuzzes every endpoint from the OpenAPI schema, through the real app: no request
may answer 500, and every status code and body must be the documented ones."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.types import Receive, Scope, Send

from app.main import create_app

APP = create_app()


class StartedApp:
    """APP with its lifespan run once, by the fixture below: schemathesis opens a client per
    request, and each would otherwise start (and load the models) anew."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await APP(scope, receive, send)
            return
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})


@pytest.fixture(scope="module", autouse=True)
def started():
    with TestClient(APP):
        assert APP.state.registry.loaded.wait(timeout=600)
        assert APP.state.registry.ready
        yield


schema = schemathesis.openapi.from_asgi("/openapi.json", StartedApp())


@schema.parametrize()
@settings(max_examples=40)
def test_no_request_answers_500_or_off_schema(case):
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            negative_data_rejection,
        ]
    )
