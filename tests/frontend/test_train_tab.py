"""The web UI's Train tab in Chromium, on a server with the admin key: a set uploaded through
the page, a job started and watched live (its curve drawn from the job's history), the
confusion matrix the API reports, and the new model offered in the Classify tab."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.server import running_server
from tests.app.training.conftest import zip_folder
from tests.conftest import write_colour_folder
from tests.frontend.conftest import WatchedPage, watched_page
from tests.frontend.test_browser import SHOTS, assert_clean, hook

pytestmark = pytest.mark.integration  # a live server and Chromium
ADMIN_KEY = "operator-key"


@pytest.fixture(scope="module")
def training_server(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("train-ui")
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"version": 2, "models": []}))
    env = {
        "D2L_ADMIN_KEY": ADMIN_KEY,
        "D2L_STATE_DIR": str(folder / "state"),
        "D2L_MANIFEST_PATH": str(manifest),
        "D2L_TRAIN_THREADS": "1",
    }
    with running_server(timeout=600, env=env) as base_url:
        yield base_url


@pytest.fixture
def train_page(browser, training_server: str) -> Iterator[WatchedPage]:
    with watched_page(browser, training_server, height=1400, timeout_ms=300_000) as seen:
        yield seen


def test_a_set_goes_from_upload_to_a_served_model_through_the_page(train_page, tmp_path: Path):
    page = train_page.page
    archive = tmp_path / "colours.zip"
    archive.write_bytes(zip_folder(write_colour_folder(tmp_path / "set", {"train": 8, "val": 3})))
    page.goto(train_page.origin + "/")
    page.wait_for_selector(f'{hook("status-ready")}:text("ready")')
    page.click(hook("tab-train"))
    page.fill(hook("admin-key"), ADMIN_KEY)
    page.dispatch_event(hook("admin-key"), "change")
    page.fill(hook("upload-name"), "colours")
    page.set_input_files(hook("upload-file"), str(archive))
    page.click(hook("upload-submit"))
    summary = page.wait_for_selector(f"{hook('dataset-summary')}:visible")
    assert '"blue": 8' in summary.text_content()
    page.wait_for_selector(f"{hook('job-dataset')} option", state="attached")
    page.fill(hook("job-name"), "colours")
    page.fill(hook("job-epochs"), "2")
    page.click(hook("job-submit"))
    page.wait_for_selector(f'{hook("job-status")}[data-state="succeeded"]')
    assert page.locator(hook("curve-loss")).get_attribute("points").count(",") == 2
    headers = {"X-Admin-Key": ADMIN_KEY}
    (job,) = httpx.get(f"{train_page.origin}/training-jobs", headers=headers).json()["jobs"]
    cells = page.eval_on_selector_all(
        f'{hook("confusion-matrix")} tr', "rows => rows.slice(1).map(r => "
        "[...r.querySelectorAll('td')].map(c => +c.textContent))",
    )  # fmt: skip
    assert cells == job["evaluation"]["confusion_matrix"]
    assert "served as colours@1" in page.text_content(hook("job-status"))
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "train.png"), full_page=True)
    page.click(hook("tab-classify"))
    page.wait_for_selector(f'{hook("classify-model")} option[value="colours@1"]', state="attached")
    assert_clean(train_page)
