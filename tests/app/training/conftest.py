from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

ADMIN = {"X-Admin-Key": "operator-key"}


@pytest.fixture
def admin_client(make_client, write_manifest, tmp_path) -> TestClient:
    """The real app with no models to load, the admin endpoints on, a state folder of its own."""
    return make_client(
        manifest_path=write_manifest([]),
        admin_key=ADMIN["X-Admin-Key"],
        state_dir=tmp_path / "state",
    )


def zip_folder(root: Path, prefix: str = "") -> bytes:
    """``root``'s files in a zip, under ``prefix``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                bundle.write(path, prefix + path.relative_to(root).as_posix())
    return buffer.getvalue()


def zip_members(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def upload(client: TestClient, data: bytes, task: str, name: str = "set", **extra):
    return client.post(
        "/datasets",
        params={"task": task, "name": name},
        files={"file": ("set.zip", data, "application/zip")},
        headers={**ADMIN, **extra},
    )
