"""The Dockerfile and docker-compose.yml cannot be built here (no Docker engine): check they
stay consistent with `make install`, `make run` and the app they serve."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_is_lean_non_root_healthchecked_and_runs_like_make_run():
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines()]
    assert "ARG BASE_IMAGE=python:3.11-slim" in lines, "the base is a build argument"
    assert [line for line in lines if line.startswith("FROM ")] == [
        "FROM ${BASE_IMAGE} AS build",
        "FROM ${BASE_IMAGE}",
    ], "multi-stage: the install is built once and copied, not duplicated in a layer"
    assert "['project']['dependencies']" in text, "runtime dependencies only, no extras"
    assert "[dev" not in text and "make install" not in text
    assert "COPY --from=build /opt/venv /opt/venv" in lines
    runs = [line for line in lines if line.startswith("RUN ")]
    assert not any("chown" in line or "chmod" in line for line in runs), "would copy a layer"
    assert not any(line.startswith("COPY --chown") for line in lines), "code stays root's"
    user = next(line for line in lines if line.startswith("USER "))
    assert user.split()[1] not in {"root", "0"}
    health = text[text.index("HEALTHCHECK") :].split("\n\n")[0]
    assert "/health/ready" in health
    assert "EXPOSE 8000" in lines
    cmd = [line for line in lines if line.startswith("CMD ")][-1]
    assert '"-m", "app.server", "--host", "0.0.0.0", "--port", "8000"' in cmd
    makefile = (ROOT / "Makefile").read_text()
    assert "python -m app.server --host $(HOST) --port $(PORT)" in makefile
    copied = {line.split()[1] for line in lines if line.startswith("COPY ")}
    assert {"app", "models", "weights"} <= copied


def test_compose_is_local_by_default_needs_the_gpu_and_serves_the_weights(client):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["d2l-serve"]
    assert service["ports"] == ["${D2L_PUBLISH:-127.0.0.1}:8000:8000"], "localhost unless told"
    assert service["environment"]["D2L_DEVICE"] == "cuda", "no silent CPU fallback on a GPU host"
    assert any(volume.startswith("./weights:") for volume in service["volumes"])
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    workdir = next(
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("WORKDIR ")
    )
    assert service["environment"]["D2L_MANIFEST_PATH"] == f"{workdir}/weights/manifest.json"
    assert client.get("/health/ready").status_code == 200  # the route the healthcheck probes


def test_the_replicas_profile_balances_like_the_tested_haproxy_settings():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    replica, balancer = compose["services"]["d2l-replica"], compose["services"]["balancer"]
    assert replica["profiles"] == balancer["profiles"] == ["replicas"]
    assert replica["deploy"]["replicas"] == "${D2L_REPLICAS:-2}"
    assert balancer["ports"] == ["${D2L_PUBLISH:-127.0.0.1}:8080:8000"]
    config = (ROOT / "deploy/haproxy.cfg").read_text()
    tested = (ROOT / "bench/failover.py").read_text()
    for line in ("retry-on conn-failure empty-response", "option httpchk GET /health/ready"):
        assert line in config and line in tested, "the profile uses what bench/failover tests"
    assert "d2l-replica:8000" in config
