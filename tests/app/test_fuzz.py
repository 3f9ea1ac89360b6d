"""Schemathesis fuzzes every endpoint from the OpenAPI schema, against the real server as
`make run` starts it: no request may answer 500, and every status code and body must be the
documented ones. (Over HTTP: uploads are generated as real image files, which reach the models'
batchers; those run on the server's own event loop.)"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app.core.config import Settings
from app.main import create_app

pytestmark = pytest.mark.integration  # a live server, fuzzed

# The schema the server serves (built without starting the app: no models load for it).
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@schema.parametrize()
@settings(max_examples=40, derandomize=True)  # the same requests on every run
def test_no_request_answers_500_or_off_schema(case, live_server):
    case.call_and_validate(
        base_url=live_server,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            negative_data_rejection,
        ],
        timeout=600,  # a busy machine: the checks judge the answer, not its speed
    )
