from __future__ import annotations

import io
import json
import time
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


DEADLINE_S = 300  # a bound only a hung job reaches


def wait_for(client, job_id: str, states: set[str], until=lambda job: True) -> dict:
    """The job once it is in one of ``states`` (and ``until(job)`` holds), read from its
    Server-Sent Events: each change as it happens, no polling clock. A job that ends in
    another state fails the test."""
    with client.stream("GET", f"/training-jobs/{job_id}/events", headers=ADMIN) as events:
        for line in events.iter_lines():
            if line.startswith("data: "):
                job = json.loads(line[6:])
                if job["state"] in states and until(job):
                    return job
    raise AssertionError(f"job {job_id} ended without reaching {states}: {job}")


def served(client, name: str) -> dict | None:
    models = {m["name"]: m for m in client.get("/models").json()["models"]}
    return models.get(name)


def wait_until_served(client, name: str) -> dict:
    """``name`` once the service lists it ready (a trained version loads within seconds)."""
    ends = time.monotonic() + DEADLINE_S
    while (model := served(client, name) or {}).get("state") != "ready":
        assert time.monotonic() < ends, f"{name} was never served"
        time.sleep(0.1)
    return model


@pytest.fixture
def trainer_settings(write_manifest, tmp_path, monkeypatch) -> dict:
    """An app with no models, the admin key, a state folder of its own, one training thread,
    and jobs held at the gate ``tmp_path / "gate"`` until a test opens it."""
    gate = tmp_path / "gate"
    gate.mkdir()
    monkeypatch.setenv("D2L_TRAIN_GATE", str(gate))
    return dict(
        manifest_path=write_manifest([]), admin_key=ADMIN["X-Admin-Key"],
        state_dir=tmp_path / "state", train_threads=1,
    )  # fmt: skip


@pytest.fixture
def trainer_client(make_client, trainer_settings, tmp_path):
    client = make_client(**trainer_settings)
    client.gate = tmp_path / "gate"
    return client
