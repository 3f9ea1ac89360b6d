from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings

from app.main import create_app
from app.settings import Settings

# Torch's first calls are slow, so no per-example deadline; enough examples to find edge cases.
settings.register_profile("default", deadline=None, max_examples=60)
settings.load_profile("default")


@pytest.fixture
def make_client(tmp_path: Path):
    """Build the real app with chosen settings and run its lifespan until models are loaded."""
    clients: list[TestClient] = []

    def make(**overrides) -> TestClient:
        app = create_app(Settings(**overrides))
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        assert app.state.registry.loaded.wait(timeout=60), "models did not finish loading"
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    """The app as `make run` starts it, on the committed manifest."""
    return make_client()


@pytest.fixture
def write_manifest(tmp_path: Path):
    def write(models: list[dict]) -> Path:
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps({"models": models}))
        return path

    return write
