from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app


@pytest.fixture(scope="package")
def client():
    """One app for every /geometry test: these requests change no state."""
    with TestClient(create_app(Settings())) as client:
        assert client.app.state.registry.loaded.wait(timeout=600), "models did not load"
        yield client
