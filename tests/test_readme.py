"""The curl examples of the README and of docs/, replayed through the real app: each answers as
its page says.

An answer is the ``# {...}`` line after the command, or a ``# {...}`` comment on it. Answers may
be abridged with ``...``: a number written ``0.973...`` must be the answer rounded or cut to
the decimals shown (0.9725 <= answer < 0.974), ``[a, b, ...]`` is a list that starts with
``a, b`` and ``[...]`` any list, ``{"word": "bugs", ...}`` an object with at least those keys
and ``{...}`` any object; anything else must be equal. An answer that cannot be read this way
fails the test; it is never skipped. Uploads are read from the shared data folder
(``D2L_DATA_DIR``); a rendered PNG must show the boxes ``/detect`` finds, drawn on the upload.
All run in the fast tier, on one app serving the committed manifest (and one with the keys an
example sends).
"""

from __future__ import annotations

import io
import json
import math
import re
import shlex
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.data import data_path, needs_data

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


KEY_SETTINGS = {"x-api-key": "api_key", "x-admin-key": "admin_key"}


def curl_examples(
    page: Path,
) -> list[tuple[str, str, dict | None, object, bool, dict, tuple, bool]]:
    """(method, path, body, expected JSON or None, is an error example, headers, capture,
    in a session) for each curl line of ``page``; a key header means the example's server runs
    with that key set. ``VAR=$(curl ... | jq -r .field)`` captures ``(VAR, field)`` of the
    answer for the examples after it that say ``$VAR``: from there to the end of its code
    block, the examples are one session, replayed in order on one server."""
    examples = []
    section = ""
    in_code = session = False
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("```"):
            in_code = not in_code
            session = False
        if line.startswith("#") and not in_code:
            section = line
        captured = CAPTURE.match(line)
        if line.startswith("curl ") or captured:
            command = line
            while command.endswith("\\"):
                index += 1
                command = command[:-1] + lines[index]
            capture = ()
            if captured:
                session = True
                command = CAPTURE.sub("", command)
                command, _, pick = command.rpartition(" | jq -r .")
                capture = (captured["name"], pick.removesuffix(")").strip())
            command, _, comment = command.partition("  #")
            comment = comment.strip().removeprefix("its last event: ")
            words = shlex.split(command)
            uploads = [words[i + 1] for i, word in enumerate(words) if word == "-F"]
            sends = uploads or "-d" in words
            method = words[words.index("-X") + 1] if "-X" in words else "POST" if sends else "GET"
            url = next(word for word in words if word.startswith("localhost:8000"))
            body = json.loads(words[words.index("-d") + 1]) if "-d" in words else None
            headers = dict(
                words[i + 1].split(": ", 1)
                for i, word in enumerate(words)
                if word == "-H" and not words[i + 1].startswith("Content-Type")
            )
            following = lines[index + 1] if index + 1 < len(lines) else ""
            answer = following[2:] if following.startswith("# {") else comment.strip()
            expected = abridged_json(answer) if answer.startswith("{") else None
            is_error = "Errors" in section or (isinstance(expected, dict) and "detail" in expected)
            path = url.removeprefix("localhost:8000")
            examples.append(
                (
                    method,
                    path,
                    body or uploads or None,
                    expected,
                    is_error,
                    headers,
                    capture,
                    session,
                )  # fmt: skip
            )
        index += 1
    return examples


CAPTURE = re.compile(r"^(?P<name>[A-Z_]+)=\$\(")
NUMBER_SHOWN = re.compile(r"(?<![\w.\"])(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\.\.\.")
MORE_KEYS = re.compile(r"(,\s*|\{\s*)\.\.\.\s*}")
APPROX, REST, MORE = "$approx", "$rest", "$more"


def abridged_json(text: str) -> object:
    """The README's answer as JSON with markers for its ``...`` (text after it is prose)."""
    marked = NUMBER_SHOWN.sub(lambda m: f'{{"{APPROX}": "{m.group(1)}"}}', text)
    marked = MORE_KEYS.sub(lambda m: f'{m.group(1)}"{MORE}": true}}', marked)
    marked = marked.replace("...", f'"{REST}"')
    value, _ = json.JSONDecoder().raw_decode(marked)  # an unreadable answer fails collection
    return value


def assert_matches(expected: object, actual: object, where: str = "answer") -> None:
    if expected == REST:  # a value shown as ... (an id, a time): any value
        return
    if isinstance(expected, dict) and APPROX in expected:
        shown = expected[APPROX]
        decimals = len(shown.split(".")[1]) if "." in shown else 0
        assert isinstance(actual, int | float), f"{where}: {actual!r} is not a number"
        scaled = actual * 10**decimals
        written = {round(scaled), math.trunc(scaled)}  # the answer rounded, or cut, there
        assert round(float(shown) * 10**decimals) in written, (
            f"{where}: {actual} is not {shown}... (rounded or cut to the decimals shown)"
        )
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
        keys = set(expected) - {MORE}
        assert keys <= set(actual), f"{where}: lacks {sorted(keys - set(actual))}"
        if MORE not in expected:
            assert set(actual) == keys, f"{where}: has more keys {sorted(set(actual) - keys)}"
        for key in keys:
            assert_matches(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: {actual!r} is not a list"
        open_ended = bool(expected) and expected[-1] == REST
        shown = expected[:-1] if open_ended else expected
        if open_ended:
            assert len(actual) >= len(shown), f"{where}: fewer than {len(shown)} items"
        else:
            assert len(actual) == len(shown), f"{where}: {len(actual)} items, not {len(shown)}"
        for position, (want, got) in enumerate(zip(shown, actual, strict=False)):
            assert_matches(want, got, f"{where}[{position}]")
    else:
        assert actual == expected, f"{where}: {actual!r} is not {expected!r}"


README_EXAMPLES = curl_examples(ROOT / "README.md")


def example_marks(path: str, body: object) -> list[pytest.MarkDecorator]:
    """The data an example uploads."""
    if not isinstance(body, list):
        return []
    return [needs_data(*(spec.split("=@")[1].removeprefix("../shared/data/") for spec in body))]


def in_session(example: tuple) -> bool:
    return example[7]


EXAMPLES = [
    pytest.param(
        *example[:6],
        id=f"{page.name}:{example[0]} {example[1]}",
        marks=example_marks(*example[1:3]),
    )
    for page in PAGES
    for example in curl_examples(page)
    if not in_session(example)
]
SESSIONS = [
    pytest.param(
        session,
        id=page.name,
        marks=[mark for e in session for mark in example_marks(*e[1:3])],
    )
    for page in PAGES
    if (session := [e for e in curl_examples(page) if in_session(e)])
]


def test_abridged_answers_are_read_as_documented():
    expected = abridged_json('{"a": [0.973..., 2, ...], "b": [...], "c": {"x": 1, ...}} prose')
    assert_matches(expected, {"a": [0.9731, 2, 3], "b": [], "c": {"x": 1, "y": 2}})
    for wrong in (
        {"a": [0.9741, 2], "b": [], "c": {"x": 1}},  # a figure off in its last decimal
        {"a": [0.9724, 2], "b": [], "c": {"x": 1}},  # neither rounds nor cuts to the figure
        {"a": [0.9731], "b": [], "c": {"x": 1}},  # a list shorter than shown
        {"a": [0.9731, 2], "b": [], "c": {"x": 2}},  # a value changed
        {"a": [0.9731, 2], "b": [], "c": {"x": 1}, "d": 0},  # a key not shown
    ):
        with pytest.raises(AssertionError):
            assert_matches(expected, wrong)


def test_the_readme_shows_every_endpoint(committed_client):
    shown = {path.split("?")[0] for _, path, *_ in README_EXAMPLES}
    served = {
        path
        for path in committed_client.get("/openapi.json").json()["paths"]
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
    fixture = "keyed_client" if keys else "committed_client"
    client = request.getfixturevalue(fixture)(**keys) if keys else request.getfixturevalue(fixture)
    replay(client, method, path, body, expected, is_error, headers)


@pytest.mark.parametrize("examples", SESSIONS)
def test_readme_sessions_answer_as_documented(request, examples):
    """Examples that pass values along (``$DATASET``), in their order, on one server: the
    training tour uploads a set, trains on it, calls the new model and deletes both."""
    keys = {
        KEY_SETTINGS[name.lower()]: v
        for example in examples
        for name, v in example[5].items()
        if name.lower() in KEY_SETTINGS
    }
    client = request.getfixturevalue("keyed_client")(**keys)
    values: dict[str, str] = {}
    for method, path, body, expected, is_error, headers, capture, _ in examples:
        for name, value in values.items():
            path = path.replace(f"${name}", value)
            if isinstance(body, dict):
                body = json.loads(json.dumps(body).replace(f"${name}", value))
        if path.startswith("/similar") or path.startswith("/classify"):
            wait_until_served(client, path)
        answer = replay(client, method, path, body, expected, is_error, headers)
        if capture:
            values[capture[0]] = str(answer[capture[1]])


def wait_until_served(client, path: str) -> None:
    """A trained version is served within a second or two of its job's end (a gate on the
    model's state, not a sleep of a guessed length)."""
    model = re.search(r"model=([^&]+)", path)
    if model is None:
        return
    ends = time.monotonic() + 120
    while time.monotonic() < ends:
        listed = client.get("/models").json()["models"]
        if any(m["name"].startswith(f"{model[1]}@") and m["state"] == "ready" for m in listed):
            return
        time.sleep(0.1)
    raise AssertionError(f"{model[1]} was never served")


def replay(client, method, path, body, expected, is_error, headers) -> object:
    """Send one example and check its answer; the answer's JSON (None for none)."""
    parts = None
    if isinstance(body, list):  # curl -F name=@file uploads, from the shared data folder
        files = [(spec.split("=@")[0], data_path(spec.split("=@")[1])) for spec in body]
        parts = [(name, (file.name, file.read_bytes(), "image/jpeg")) for name, file in files]
        response = client.request(method, path, files=parts, headers=headers)
    else:
        response = client.request(method, path, json=body, headers=headers)
    if "render=true" in path or path.startswith("/detect/render"):
        assert response.status_code == 200, response.text
        assert_renders_the_detections(client, path, parts, response)
        return None
    if is_error:
        assert 400 <= response.status_code < 500
        assert "detail" in response.json()
    else:
        assert response.status_code in {200, 201, 202, 204}, response.text
    if response.status_code == 204:
        return None
    if path.endswith("/events"):  # Server-Sent Events: the last one is the answer
        events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
        answer = json.loads(events[-1])
    elif response.headers.get("content-type", "").startswith("application/json"):
        answer = response.json()
    else:
        answer = None
    if expected is not None:
        assert_matches(expected, answer)
    return answer


def assert_renders_the_detections(client, path: str, parts: list, rendered) -> None:
    """The PNG is the upload at its own size with each box ``/detect`` finds drawn in red."""
    assert rendered.headers["content-type"] == "image/png"
    drawn = Image.open(io.BytesIO(rendered.content)).convert("RGB")
    upload = Image.open(io.BytesIO(parts[0][1][1])).convert("RGB")
    assert drawn.size == upload.size
    query = path.partition("?")[2].replace("render=true", "")
    found = client.post(f"/detect?{query}", files=parts).json()["detections"]
    assert found, "the example's image has something to draw"
    for detection in found:
        x1, y1, x2, y2 = (round(v) for v in detection["box"])
        edge = [(x, min(y1, drawn.height - 1)) for x in range(x1 + 2, x2 - 2)]
        red = [p for p in edge if _is_red(drawn.getpixel(p)) and not _is_red(upload.getpixel(p))]
        assert len(red) > 0.9 * len(edge), f"box {detection['box']} is not drawn"
    untouched = [(x, drawn.height // 2) for x in range(0, drawn.width, 7)]
    changed = sum(drawn.getpixel(p) != upload.getpixel(p) for p in untouched)
    assert changed < 0.5 * len(untouched), "the rest of the image is the upload"


def _is_red(pixel: tuple[int, int, int]) -> bool:
    red, green, blue = pixel
    return red > 200 and green < 60 and blue < 60
