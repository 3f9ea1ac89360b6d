from __future__ import annotations

import pytest


@pytest.fixture
def client(committed_client):
    """The run's app on the committed manifest: /geometry requests change no state."""
    return committed_client
