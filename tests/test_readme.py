"""The README's curl examples, replayed through the real app: each answers as the README says."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


@pytest.fixture
def client(module_client):
    """One app for the whole module: these requests change no state."""
    return module_client


KEY_SETTINGS = {"x-api-key": "api_key", "x-admin-key": "admin_key"}


def curl_examples() -> list[tuple[str, str, dict | None, object, bool, dict]]:
    """(method, path, body, expected JSON or None, is an error example, headers) for each curl
    line; a key header means the example's server runs with that key set."""
    examples = []
    section = ""
    lines = README.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("### "):
            section = line
        if line.startswith("curl "):
            command = line
            while command.endswith("\\"):
                index += 1
                command = command[:-1] + lines[index]
            words = shlex.split(command.split("  #")[0])
            uploads = [words[i + 1] for i, word in enumerate(words) if word == "-F"]
            method = words[words.index("-X") + 1] if "-X" in words else "POST" if uploads else "GET"
            url = next(word for word in words if word.startswith("localhost:8000"))
            body = json.loads(words[words.index("-d") + 1]) if "-d" in words else None
            headers = dict(
                words[i + 1].split(": ", 1)
                for i, word in enumerate(words)
                if word == "-H" and not words[i + 1].startswith("Content-Type")
            )
            expected = None
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if following.startswith("# {"):
                try:
                    expected = json.loads(following[2:])
                except json.JSONDecodeError:
                    expected = None  # an abridged answer ("...")
            is_error = "Errors" in section or (isinstance(expected, dict) and "detail" in expected)
            path = url.removeprefix("localhost:8000")
            examples.append((method, path, body or uploads or None, expected, is_error, headers))
        index += 1
    return examples


EXAMPLES = curl_examples()


def test_the_readme_shows_every_endpoint(client):
    shown = {path.split("?")[0] for _, path, *_ in EXAMPLES}
    served = {
        path
        for path in client.get("/openapi.json").json()["paths"]
        if path not in {"/docs", "/redoc"}
    }
    # A template such as /models/{name}/reload is shown by any path that fills it in.
    missing = {
        template
        for template in served
        if not any(re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), p) for p in shown)
    }
    assert not missing, f"endpoints without a curl example: {missing}"


@pytest.mark.parametrize(("method", "path", "body", "expected", "is_error", "headers"), EXAMPLES)
def test_readme_example_answers_as_documented(
    request, method, path, body, expected, is_error, headers
):
    keys = {
        KEY_SETTINGS[name.lower()]: v for name, v in headers.items() if name.lower() in KEY_SETTINGS
    }
    client = (
        request.getfixturevalue("make_client")(**keys)
        if keys
        else request.getfixturevalue("client")
    )
    if isinstance(body, list):  # curl -F name=@file uploads, paths relative to the checkout
        files = [(spec.split("=@")[0], ROOT / spec.split("=@")[1]) for spec in body]
        if not all(file.is_file() for _, file in files):
            pytest.skip("an example file is not on this machine")
        parts = [(name, (file.name, file.read_bytes(), "image/jpeg")) for name, file in files]
        response = client.request(method, path, files=parts, headers=headers)
    else:
        response = client.request(method, path, json=body, headers=headers)
    if "render=true" in path:
        assert response.headers["content-type"] == "image/png"
        return
    if is_error:
        assert 400 <= response.status_code < 500
        assert "detail" in response.json()
    else:
        assert response.status_code == 200, response.text
    if expected is not None:
        assert response.json() == expected
