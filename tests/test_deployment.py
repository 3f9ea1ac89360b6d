"""The Dockerfile and docker-compose.yml cannot be built here (no Docker engine): check they
stay consistent with `make install`, `make run` and the app they serve."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_installs_like_make_install_and_runs_like_make_run():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert "FROM python:3.11-slim" in lines
    assert any(line.startswith("RUN ") and "make install" in line for line in lines)
    user = next(line for line in lines if line.startswith("USER "))
    assert user.split()[1] not in {"root", "0"}
    assert "EXPOSE 8000" in lines
    cmd = next(line for line in lines if line.startswith("CMD "))
    assert '"-m", "app.server", "--host", "0.0.0.0", "--port", "8000"' in cmd
    makefile = (ROOT / "Makefile").read_text()
    assert "python -m app.server --host $(HOST) --port $(PORT)" in makefile
    copied = {line.split()[1] for line in lines if line.startswith("COPY ")}
    assert {"app", "models", "weights"} <= copied


def test_compose_serves_port_8000_with_weights_gpu_and_readiness(client):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    (service,) = compose["services"].values()
    assert "8000:8000" in service["ports"]
    assert any(volume.startswith("./weights:") for volume in service["volumes"])
    check = " ".join(service["healthcheck"]["test"])
    assert "/health/ready" in check
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    workdir = next(
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("WORKDIR ")
    )
    assert service["environment"]["D2L_MANIFEST_PATH"] == f"{workdir}/weights/manifest.json"
    assert client.get("/health/ready").status_code == 200  # the route the healthcheck probes
