"""Clients generated from the live service's /openapi.json, as front-end developers make them,
used against it: openapi-python-client's Python package uploads a photo and reads typed boxes;
openapi-typescript's types compile under ``tsc --strict`` (with unchecked index access off) for
code that reads /detect, /classify, /similar and its 404 and /geometry/iou, which then runs in
Node against the service."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.frontend.test_browser import BEE, PHOTO, needs_photos

pytestmark = pytest.mark.integration  # a live server and generated clients

CLIENTS = Path(__file__).resolve().parent / "clients"
BIN = Path(sys.executable).parent
# image/png answers (POST /detect/render) read as bytes, the way that generator reads files.
PYTHON_CLIENT_CONFIG = (
    "content_type_overrides:\n  image/png: application/octet-stream\npost_hooks: []\n"
)


def required(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (node and npm: apt-get install nodejs npm)"
        if os.environ.get("D2L_REQUIRE_FRONTEND") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def schema_file(live_server: str, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "openapi.json"
    path.write_text(httpx.get(f"{live_server}/openapi.json").text)
    return path


@pytest.fixture(scope="module")
def node_tools() -> Path:
    """openapi-typescript and tsc at the versions package-lock.json pins (npm's registry)."""
    npm = required("npm")
    required("node")
    if not (CLIENTS / "node_modules" / ".bin" / "tsc").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=CLIENTS, check=True)
    return CLIENTS / "node_modules" / ".bin"


@needs_photos
def test_the_generated_python_client_uploads_a_photo_and_reads_typed_boxes(
    live_server: str, schema_file: Path, tmp_path: Path
):
    config = tmp_path / "config.yaml"
    config.write_text(PYTHON_CLIENT_CONFIG)
    generated = subprocess.run(
        [BIN / "openapi-python-client", "generate", "--path", schema_file, "--meta", "none"]
        + ["--output-path", tmp_path / "d2l_client", "--config", config],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        client_module = importlib.import_module("d2l_client")
        detect = importlib.import_module("d2l_client.api.detection.detect")
        similar = importlib.import_module("d2l_client.api.words.similar")
        models = importlib.import_module("d2l_client.models")
        types = importlib.import_module("d2l_client.types")
        client = client_module.Client(base_url=live_server, raise_on_unexpected_status=True)
        with PHOTO.open("rb") as photo:
            upload = types.File(payload=photo, file_name=PHOTO.name, mime_type="image/jpeg")
            answer = detect.sync(client=client, body=models.BodyDetect(file=upload))
        assert isinstance(answer, models.DetectionResult)
        expected = httpx.post(f"{live_server}/detect", files={"file": PHOTO.read_bytes()}).json()
        assert [d.to_dict() for d in answer.detections] == expected["detections"]
        assert all(len(d.box) == 4 and isinstance(d.box[0], float) for d in answer.detections)
        # Errors are typed too: one model, a sentence in `detail`.
        text = types.File(payload=b"not a photo", file_name="notes.jpg", mime_type="image/jpeg")
        refused = detect.sync_detailed(client=client, body=models.BodyDetect(file=text))
        assert refused.status_code in (415, 422)
        assert isinstance(refused.parsed, models.ErrorMessage) and refused.parsed.detail
        unknown = similar.sync(client=client, word="chipz")
        assert isinstance(unknown, models.ErrorMessage)
        assert "chip" in unknown.suggestions
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "d2l_client"]:
            del sys.modules[name]


@needs_photos
def test_typescript_types_compile_strictly_and_read_the_live_answers(
    live_server: str, schema_file: Path, node_tools: Path
):
    node = required("node")
    subprocess.run(
        [node_tools / "openapi-typescript", schema_file, "-o", CLIENTS / "api.d.ts"],
        check=True,
        capture_output=True,
    )
    compiled = subprocess.run(
        [node_tools / "tsc", "-p", CLIENTS / "tsconfig.json"], capture_output=True, text=True
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    ran = subprocess.run(
        [node, CLIENTS / "build" / "read_answers.js", live_server, PHOTO, BEE],
        capture_output=True,
        text=True,
        check=True,
    )
    read = json.loads(ran.stdout)
    detected = httpx.post(f"{live_server}/detect", files={"file": PHOTO.read_bytes()}).json()
    assert [b["box"] for b in read["detect"]["boxes"]] == [d["box"] for d in detected["detections"]]
    assert read["classify"]["label"] == "bees"
    assert read["similar"] == ["microprocessor", "intel", "bugs"]
    assert read["unknown"]["status"] == 404 and "chip" in read["unknown"]["suggestions"]
    assert read["iou"] == pytest.approx(1 / 7)
