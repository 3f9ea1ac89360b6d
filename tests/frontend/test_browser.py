"""The web UI in a real browser, through its test hooks (``data-testid``): what it shows must be
what the API answers, drawn where the API says, with no console errors and no request leaving
the service's origin."""

from __future__ import annotations

import math
import os
from pathlib import Path

import httpx
import pytest

from tests.data import DATA, needs_data
from tests.frontend.conftest import WatchedPage

pytestmark = pytest.mark.integration  # a live server and Chromium

PHOTO = DATA / "sysu-logo" / "unlabelled" / "1.jpg"
BEE = DATA / "hymenoptera" / "val" / "bees" / "1032546534_06907fe3b3.jpg"
needs_photos = needs_data(str(PHOTO.relative_to(DATA)), str(BEE.relative_to(DATA)))
SHOTS = os.environ.get("D2L_SCREENSHOTS")  # a folder: each tab's screenshot is saved there


def hook(name: str) -> str:
    return f'[data-testid="{name}"]'


def open_tab(watched: WatchedPage, tab: str):
    page = watched.page
    page.goto(watched.origin + "/")
    page.wait_for_selector(f'{hook("status-ready")}:text("ready")')
    page.click(hook(f"tab-{tab}"))
    return page


def shoot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def assert_clean(watched: WatchedPage) -> None:
    assert watched.errors == [], "console errors"
    assert watched.foreign_requests() == [], "requests beyond the service's origin"


@needs_photos
def test_detect_draws_the_api_boxes_on_the_photo(watched: WatchedPage):
    page = open_tab(watched, "detect")
    page.wait_for_selector(f'{hook("detect-model")} option[value="tinyssd-logo"]', state="attached")
    page.set_input_files(hook("detect-file"), str(PHOTO))
    page.wait_for_selector(hook("detection"))
    expected = httpx.post(
        f"{watched.origin}/detect",
        files={"file": PHOTO.read_bytes()},
        params={"score_threshold": 0.5},
    ).json()
    shown = page.eval_on_selector_all(
        hook("detection"),
        "els => els.map(e => ({label: e.dataset.label, score: +e.dataset.score, "
        "box: e.dataset.box.split(',').map(Number)}))",
    )
    assert shown == [
        {"label": d["label"], "score": d["score"], "box": d["box"]} for d in expected["detections"]
    ]
    # Drawn where the box is: the element's place over the image, scaled as the page shows it.
    image = page.locator(hook("detect-image")).bounding_box()
    drawn = page.locator(hook("detection")).first.bounding_box()
    scale = image["width"] / expected["image"]["width"]
    x1, y1, x2, y2 = expected["detections"][0]["box"]
    assert drawn["x"] - image["x"] == pytest.approx(x1 * scale, abs=2)
    assert drawn["y"] - image["y"] == pytest.approx(y1 * scale, abs=2)
    assert drawn["width"] == pytest.approx((x2 - x1) * scale, abs=2)
    assert drawn["height"] == pytest.approx((y2 - y1) * scale, abs=2)
    shoot(page, "detect")
    # The score slider asks again: above every score, no box is left.
    page.fill(hook("detect-score"), "1")
    page.wait_for_selector(f'{hook("detect-summary")}:text("0 boxes")')
    assert page.locator(hook("detection")).count() == 0
    assert_clean(watched)


@needs_photos
def test_detect_fills_a_mask_rcnns_masks_over_the_photo(watched: WatchedPage):
    page = open_tab(watched, "detect")
    option = f'{hook("detect-model")} option[value="maskrcnn-logo"]'
    page.wait_for_selector(option, state="attached")
    page.select_option(hook("detect-model"), "maskrcnn-logo")
    page.set_input_files(hook("detect-file"), str(PHOTO))
    page.wait_for_selector(hook("mask"))
    expected = httpx.post(
        f"{watched.origin}/detect",
        files={"file": PHOTO.read_bytes()},
        params={"model": "maskrcnn-logo"},
    ).json()
    masked = [d for d in expected["detections"] if "mask" in d]
    assert masked and page.locator(hook("mask")).count() == len(masked)
    page.wait_for_selector(f'{hook("detect-summary")}:text("1 mask")')
    # The filled outline lies on the photo where the API's polygons are, inside its box.
    image = page.locator(hook("detect-image")).bounding_box()
    drawn = page.locator(hook("mask")).first.bounding_box()
    scale = image["width"] / expected["image"]["width"]
    points = masked[0]["mask"]["polygons"][0]
    xs, ys = points[0::2], points[1::2]
    assert drawn["x"] - image["x"] == pytest.approx(min(xs) * scale, abs=3)
    assert drawn["y"] - image["y"] == pytest.approx(min(ys) * scale, abs=3)
    assert drawn["width"] == pytest.approx((max(xs) - min(xs)) * scale, abs=3)
    assert drawn["height"] == pytest.approx((max(ys) - min(ys)) * scale, abs=3)
    x1, y1, x2, y2 = masked[0]["box"]
    assert x1 - 1 <= min(xs) and max(xs) <= x2 + 1 and y1 - 1 <= min(ys) and max(ys) <= y2 + 1
    shoot(page, "detect-masks")
    assert_clean(watched)


def test_a_bad_upload_shows_the_reason_in_plain_words(watched: WatchedPage, tmp_path: Path):
    page = open_tab(watched, "detect")
    fake = tmp_path / "notes.jpg"
    fake.write_text("these are notes, not a photo")
    page.set_input_files(hook("detect-file"), str(fake))
    error = page.wait_for_selector(f"{hook('error')}:visible")
    assert "image" in error.inner_text().lower()
    assert page.locator(hook("detection")).count() == 0
    # The browser reports the refused request itself; nothing else went wrong.
    assert all("status of 4" in message for message in watched.errors), watched.errors
    assert watched.foreign_requests() == []


@needs_photos
def test_classify_shows_the_top_classes_in_order(watched: WatchedPage):
    page = open_tab(watched, "classify")
    page.wait_for_selector(f"{hook('classify-model')} option", state="attached")
    page.set_input_files(hook("classify-file"), str(BEE))
    page.wait_for_selector(hook("prediction"))
    expected = httpx.post(
        f"{watched.origin}/classify", files={"file": BEE.read_bytes()}, params={"top_k": 5}
    ).json()["predictions"]
    shown = page.eval_on_selector_all(
        hook("prediction"), "els => els.map(e => [e.dataset.label, +e.dataset.score])"
    )
    assert shown == [[p["label"], p["score"]] for p in expected]
    assert shown[0][0] == "bees"
    shoot(page, "classify")
    assert_clean(watched)


def test_words_completes_finds_neighbours_and_suggests_spellings(watched: WatchedPage):
    page = open_tab(watched, "words")
    page.wait_for_selector(f"{hook('words-model')} option", state="attached")
    word = page.locator(hook("word-input"))
    word.fill("chi")
    page.wait_for_selector(f'{hook("vocabulary")} option[value="china"]', state="attached")
    word.fill("chip")
    word.press("Enter")
    page.wait_for_selector(hook("neighbor"))
    expected = httpx.get(f"{watched.origin}/similar", params={"word": "chip", "k": 10}).json()
    shown = page.eval_on_selector_all(
        hook("neighbor"), "els => els.map(e => [e.dataset.word, +e.dataset.similarity])"
    )
    assert shown == [[n["word"], n["similarity"]] for n in expected["neighbors"]]
    page.click('[data-testid="analogy-form"] button')
    page.wait_for_selector(hook("analogy-result"))
    shoot(page, "words")
    word.fill("chipz")
    word.press("Enter")
    error = page.wait_for_selector(f"{hook('error')}:visible")
    assert "not in the vocabulary" in error.inner_text()
    page.click(f'{hook("suggestion")}:text("chip")')  # a suggestion searches for itself
    page.wait_for_selector(f"{hook('error')}", state="hidden")
    page.wait_for_selector(hook("neighbor"))
    assert all("status of 404" in message for message in watched.errors), watched.errors


def test_geometry_computes_iou_anchors_and_nms_step_by_step(watched: WatchedPage):
    page = open_tab(watched, "geometry")
    page.fill(hook("iou-box1"), "0,0,2,2")
    page.fill(hook("iou-box2"), "1,1,3,3")
    page.press(hook("iou-box2"), "Enter")
    value = page.wait_for_selector(f"{hook('iou-value')}[data-value]")
    assert math.isclose(float(value.get_attribute("data-value")), 1 / 7, rel_tol=1e-12)
    page.fill(hook("iou-box1"), "0,0,2")
    page.press(hook("iou-box1"), "Enter")
    assert "4 numbers" in page.wait_for_selector(f"{hook('error')}:visible").inner_text()
    # Anchors centred on a clicked pixel: sizes + ratios - 1 of them.
    page.click(hook("anchor-image"), position={"x": 200, "y": 150})
    page.wait_for_selector(hook("anchor"))
    assert page.locator(hook("anchor")).count() == 3 + 3 - 1
    # NMS: every box is decided in score order, and the kept ones are what the API keeps.
    page.click('[data-testid="nms-form"] button[type="submit"]')
    step = page.locator(hook("nms-step"))
    page.wait_for_selector(f"{hook('nms-step')}:enabled")
    while step.is_enabled():
        step.click()
    states = page.eval_on_selector_all(
        hook("nms-box"),
        "els => Object.fromEntries(els.map(e => [e.dataset.index, e.dataset.state]))",
    )
    assert states == {"0": "kept", "1": "suppressed", "2": "kept", "3": "suppressed"}
    assert "keeps 0, 2" in page.inner_text(hook("nms-explain"))
    page.fill(hook("iou-box1"), "10,10,110,110")
    page.fill(hook("iou-box2"), "60,60,160,160")
    page.press(hook("iou-box1"), "Enter")
    page.wait_for_selector(f'{hook("iou-value")}:text("0.1429")')
    shoot(page, "geometry")
    assert_clean(watched)


def test_swagger_ui_and_redoc_work_without_the_internet(watched: WatchedPage):
    page = watched.page
    page.goto(watched.origin + "/docs")
    page.wait_for_selector(".swagger-ui .info .title:has-text('d2l-serve')")
    page.wait_for_selector("text=/detect")
    shoot(page, "docs")
    page.goto(watched.origin + "/redoc")
    page.wait_for_selector("h2:has-text('Detect objects in an image')")
    assert_clean(watched)
