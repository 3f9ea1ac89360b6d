"""The optional API key and CORS."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from tests.app.test_batching import post_image
from tests.images import RED

KEY = "s3cret-key"


@pytest.fixture
def keyed_client(make_client, colour_manifest):
    return make_client(manifest_path=colour_manifest, default_classify_model="colours", api_key=KEY)


def test_with_an_api_key_set_model_endpoints_need_it(keyed_client):
    missing = post_image(keyed_client, RED)
    assert missing.status_code == 401
    assert "X-API-Key" in missing.json()["detail"]
    assert missing.headers["WWW-Authenticate"] == "ApiKey"
    wrong = keyed_client.post("/geometry/iou", json={}, headers={"X-API-Key": KEY + "x"})
    assert wrong.status_code == 401
    assert "not a valid key" in wrong.json()["detail"]
    for path in ("/models", "/similar?word=chip"):
        assert keyed_client.get(path).status_code == 401, path
    assert keyed_client.post("/models/colours/reload").status_code == 403  # off: no admin key
    keyed_client.headers["X-API-Key"] = KEY
    assert post_image(keyed_client, RED).status_code == 200
    assert keyed_client.get("/models").status_code == 200


def test_the_key_is_checked_before_the_body_is_read(keyed_client):
    broken = keyed_client.post(
        "/geometry/iou", content=b"{broken", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 401, "no parse error for a client without the key"
    huge = keyed_client.post(
        "/geometry/iou",
        content=b"[" * (40 << 20),  # over D2L_MAX_BODY_BYTES too
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 401, "no size check either: the key comes first"
    upload = keyed_client.post(
        "/classify?model=unknown", files={"file": ("a.jpg", b"not an image", "image/jpeg")}
    )
    assert upload.status_code == 401
    unknown_path = keyed_client.get("/no-such-endpoint")
    assert unknown_path.status_code == 401, "nothing is told about paths without the key"


def test_health_metrics_and_docs_stay_open_with_an_api_key(keyed_client):
    assert keyed_client.get("/health/live").status_code == 200
    assert keyed_client.get("/health/ready").status_code == 200
    assert keyed_client.get("/metrics").status_code == 200
    assert keyed_client.get("/openapi.json").status_code == 200
    assert keyed_client.get("/docs").status_code == 200


def test_open_endpoints_show_no_hashes_or_paths(make_client, write_manifest, colour_weights):
    manifest = write_manifest(
        [
            {"name": "tampered", "task": "classify", "file": colour_weights.name, "sha256": "0"},
            {
                "name": "escaping",
                "task": "classify",
                "file": "../" * 30 + "etc/passwd",
                "sha256": "0",
            },
        ]
    )
    client = make_client(manifest_path=manifest, api_key=KEY)
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    text = ready.text
    for leak in ("sha256", "/etc", "tmp", str(colour_weights.parent)):
        assert leak not in text, leak
    digits = [word for word in text.replace('"', " ").split() if len(word) >= 32]
    assert not digits, "no digest in the answer"
    reasons = {m["name"]: m["reason"] for m in ready.json()["models"]}
    assert "does not match the manifest" in reasons["tampered"]
    assert "outside the weights folder" in reasons["escaping"]


def test_without_an_api_key_set_no_header_is_needed(colour_client):
    assert colour_client.get("/models").status_code == 200
    assert post_image(colour_client, RED).status_code == 200


def test_cors_lets_the_configured_origins_call_from_browsers(make_client, colour_manifest):
    client = make_client(
        manifest_path=colour_manifest,
        default_classify_model="colours",
        cors_origins="https://app.example.com, http://localhost:3000",
    )
    preflight = client.options(
        "/classify",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-API-Key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    answer = post_image(client, RED)  # no Origin: not a browser, no CORS headers needed
    assert answer.status_code == 200
    from_browser = client.get("/models", headers={"Origin": "http://localhost:3000"})
    assert from_browser.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "X-Request-ID" in from_browser.headers["Access-Control-Expose-Headers"]
    stranger = client.get("/models", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in stranger.headers
    refused = client.options(
        "/classify",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 400


def test_without_cors_origins_no_cors_headers_are_sent(colour_client):
    response = colour_client.get("/models", headers={"Origin": "https://app.example.com"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_allowed_origins_are_said_at_start_up_with_the_localhost_trap(
    make_client, colour_manifest, caplog
):
    with caplog.at_level(logging.INFO, logger="app"):
        client = make_client(
            manifest_path=colour_manifest,
            default_classify_model="colours",
            cors_origins="http://localhost:3000",
        )
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("CORS")]
    assert line.startswith("CORS: pages on http://localhost:3000 may call the API")
    assert "http://127.0.0.1:3000 is refused" in line
    # And so it is: the browser's Origin is matched exactly.
    twin = client.get("/models", headers={"Origin": "http://127.0.0.1:3000"})
    assert "Access-Control-Allow-Origin" not in twin.headers


def test_cors_off_is_said_too_and_a_malformed_origin_stops_the_start(
    make_client, colour_manifest, caplog
):
    with caplog.at_level(logging.INFO, logger="app"):
        make_client(manifest_path=colour_manifest, default_classify_model="colours")
    assert "CORS off: only pages served by this service (the web UI at /)" in caplog.text
    for wrong in ("http://localhost:3000/", "localhost:3000", "https://app.example.com/path"):
        with pytest.raises(ValidationError, match="is not an origin: write scheme://host"):
            Settings(cors_origins=wrong)
    assert Settings(cors_origins="*").cors_origins == ["*"]


def test_the_web_ui_and_the_docs_open_without_the_key_the_api_does_not(keyed_client):
    for path in ("/", "/ui/main.js", "/docs", "/redoc", "/docs-assets/swagger-ui.css"):
        assert keyed_client.get(path).status_code == 200, path
    assert keyed_client.get("/models").status_code == 401
    assert keyed_client.get("/models", headers={"X-API-Key": KEY}).status_code == 200
