"""POST/GET/DELETE /datasets over HTTP: each task's layouts, the summary, and every kind of bad
archive refused with a 4xx that says what is wrong, leaving nothing behind."""

from __future__ import annotations

import io
import json
import stat
import zipfile

from PIL import Image

from tests.app.training.conftest import ADMIN, upload, zip_folder, zip_members
from tests.conftest import write_colour_folder


def jpeg(width: int = 64, height: int = 48, colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def leftovers(client) -> list[str]:
    folder = client.app.state.training.store.datasets_dir
    return sorted(p.name for p in folder.iterdir())


def test_a_classification_set_is_checked_summarised_listed_and_deleted(admin_client, tmp_path):
    root = write_colour_folder(tmp_path / "colours", {"train": 5, "val": 2})
    (root / "train" / "red" / "notes.txt").write_text("not an image")
    (root / "train" / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    answer = upload(admin_client, zip_folder(root, "colours/"), "classify", "colours")
    assert answer.status_code == 201, answer.text
    dataset = answer.json()
    assert dataset["state"] == "ready" and dataset["task"] == "classify"
    summary = dataset["summary"]
    assert summary["classes"] == ["blue", "green", "red"]
    assert summary["counts"]["train"] == {"blue": 5, "green": 5, "red": 5}
    assert summary["counts"]["val"] == {"blue": 2, "green": 2, "red": 2}
    assert summary["layout"] == "train/<class>/<image>"
    skipped = {entry["file"]: entry["reason"] for entry in summary["skipped"]["files"]}
    assert set(skipped) == {"train/red/notes.txt", "train/red/broken.jpg"}
    assert "not an image" in skipped["train/red/notes.txt"]
    assert summary["image_sizes"]["min"][0] >= 20
    stored = admin_client.app.state.training.store.datasets_dir / dataset["id"]
    assert len(list((stored / "train" / "red").iterdir())) == 5
    listed = admin_client.get("/datasets", headers=ADMIN).json()["datasets"]
    assert [d["id"] for d in listed] == [dataset["id"]]
    assert admin_client.get(f"/datasets/{dataset['id']}", headers=ADMIN).json() == dataset
    assert admin_client.delete(f"/datasets/{dataset['id']}", headers=ADMIN).status_code == 204
    assert admin_client.get(f"/datasets/{dataset['id']}", headers=ADMIN).status_code == 404
    assert not stored.exists() and leftovers(admin_client) == []


def test_class_folders_alone_are_a_training_split(admin_client, tmp_path):
    root = write_colour_folder(tmp_path / "flat", {"train": 3})
    answer = upload(admin_client, zip_folder(root / "train"), "classify")
    assert answer.status_code == 201, answer.text
    assert answer.json()["summary"]["layout"] == "<class>/<image>"
    assert "val" not in answer.json()["summary"]["counts"]


def test_sets_a_classifier_cannot_learn_are_refused_with_the_reason(admin_client, tmp_path):
    one = zip_members({"cats/a.jpg": jpeg(), "cats/b.jpg": jpeg()})
    answer = upload(admin_client, one, "classify")
    assert answer.status_code == 422 and "one class only" in answer.json()["detail"]
    none = zip_members({"cats/a.txt": b"text", "dogs/b.txt": b"text"})
    answer = upload(admin_client, none, "classify")
    assert answer.status_code == 422 and "no images" in answer.json()["detail"]
    assert leftovers(admin_client) == []


def test_detection_sets_in_d2l_csv_with_names_and_in_coco(admin_client):
    rows = "img_name,label,xmin,ymin,xmax,ymax\na.jpg,seal,4,5,30,40\nb.jpg,cup,0,0,64,48\n"
    members = {"images/a.jpg": jpeg(), "images/b.jpg": jpeg(), "images/c.jpg": jpeg()}
    answer = upload(admin_client, zip_members({**members, "label.csv": rows.encode()}), "detect")
    assert answer.status_code == 201, answer.text
    summary = answer.json()["summary"]
    assert summary["classes"] == ["cup", "seal"] and summary["counts"]["boxes"] == {
        "cup": 1,
        "seal": 1,
    }
    assert summary["images"] == 3 and summary["images_without_boxes"] == 1
    stored = admin_client.app.state.training.store.datasets_dir / answer.json()["id"]
    written = (stored / "label.csv").read_text().splitlines()
    assert written[0] == "img_name,label,xmin,ymin,xmax,ymax" and len(written) == 3
    assert json.loads((stored / "classes.json").read_text()) == ["cup", "seal"]
    coco = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": 64, "height": 48}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [4, 5, 26, 35]}],
        "categories": [{"id": 3, "name": "seal"}],
    }
    bundle = zip_members({"a.jpg": jpeg(), "annotations.json": json.dumps(coco).encode()})
    answer = upload(admin_client, bundle, "detect")
    assert answer.status_code == 201, answer.text
    assert answer.json()["summary"]["layout"] == "COCO annotations.json"


def test_detection_sets_with_wrong_labels_are_refused(admin_client):
    outside = "img_name,label,xmin,ymin,xmax,ymax\na.jpg,0,10,10,90,40\n"
    answer = upload(
        admin_client, zip_members({"a.jpg": jpeg(), "label.csv": outside.encode()}), "detect"
    )
    assert answer.status_code == 422 and "outside the 64x48 image" in answer.json()["detail"]
    flipped = "img_name,label,xmin,ymin,xmax,ymax\na.jpg,0,30,10,20,40\n"
    answer = upload(
        admin_client, zip_members({"a.jpg": jpeg(), "label.csv": flipped.encode()}), "detect"
    )
    assert answer.status_code == 422 and "xmin < xmax" in answer.json()["detail"]
    answer = upload(admin_client, zip_members({"a.jpg": jpeg()}), "detect")
    assert answer.status_code == 422 and "unknown layout" in answer.json()["detail"]
    missing = "img_name,label,xmin,ymin,xmax,ymax\nz.jpg,0,1,1,9,9\n"
    answer = upload(
        admin_client, zip_members({"a.jpg": jpeg(), "label.csv": missing.encode()}), "detect"
    )
    assert answer.status_code == 422 and "no labelled image" in answer.json()["detail"]
    assert leftovers(admin_client) == []


def test_word2vec_takes_text_or_a_zip_of_text(admin_client):
    text = ("The chip maker said the Chip was fast\n\n" * 150).encode()
    answer = admin_client.post(
        "/datasets", params={"task": "word2vec", "name": "news"},
        files={"file": ("news.txt", text, "text/plain")}, headers=ADMIN,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    summary = answer.json()["summary"]
    assert summary["sentences"] == 150 and summary["tokens"] == 1200
    assert summary["vocabulary"] == 6 and summary["most_common"][0] == "the"
    answer = upload(admin_client, zip_members({"a.txt": text, "b.bin": b"\x00"}), "word2vec")
    assert answer.status_code == 201 and answer.json()["summary"]["skipped"]["count"] == 1
    answer = upload(admin_client, zip_members({"a.txt": b"too few words"}), "word2vec")
    assert answer.status_code == 422 and "at least 1,000" in answer.json()["detail"]


def test_bad_archives_are_refused_before_anything_is_kept(make_client, write_manifest, tmp_path):
    client = make_client(
        manifest_path=write_manifest([]), admin_key=ADMIN["X-Admin-Key"], state_dir=tmp_path / "s",
        max_dataset_files=50, max_dataset_bytes=20_000_000,
    )  # fmt: skip
    cases = {
        "not a zip archive": b"just some bytes",
        "points outside the archive": zip_members({"../escape.jpg": jpeg(), "b/a.jpg": jpeg()}),
        "absolute path": zip_members({"/etc/x.jpg": jpeg()}),
        "more than the 50 allowed": zip_members({f"c/{i}.jpg": b"x" for i in range(60)}),
        "inflates to": zip_members({f"c/{i}.bin": bytes(1_000_000) for i in range(21)}),
        # one member that inflates thousands of times: stopped at the ratio's bound
        "zip bomb": zip_members({"c/bomb.bmp": bytes(15_000_000), "d/a.jpg": jpeg()}),
    }
    link = io.BytesIO()
    with zipfile.ZipFile(link, "w") as bundle:
        info = zipfile.ZipInfo("cats/link.jpg")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(info, "/etc/passwd")
    cases["symbolic link"] = link.getvalue()
    for reason, data in cases.items():
        answer = upload(client, data, "classify")
        assert answer.status_code == 400, (reason, answer.text)
        assert reason in answer.json()["detail"], (reason, answer.json())
        assert "Traceback" not in answer.text
    assert leftovers(client) == [] and client.get("/datasets", headers=ADMIN).json() == {
        "datasets": []
    }


def test_the_operator_key_guards_every_dataset_endpoint(make_client, write_manifest, admin_client):
    data = zip_members({"a/x.jpg": jpeg(), "b/y.jpg": jpeg()})
    answer = admin_client.post(
        "/datasets", params={"task": "classify", "name": "x"}, files={"file": ("s.zip", data)}
    )
    assert answer.status_code == 401 and "X-Admin-Key" in answer.json()["detail"]
    assert admin_client.get("/datasets", headers={"X-Admin-Key": "wrong"}).status_code == 401
    off = make_client(manifest_path=write_manifest([]))
    assert off.get("/datasets", headers=ADMIN).status_code == 403
    answer = upload(admin_client, data, "classify", name="../bad name")
    assert answer.status_code == 422 and answer.json()["errors"][0]["loc"] == ["query", "name"]
    answer = upload(admin_client, data, "segment")
    assert answer.status_code == 422


def test_a_state_folder_that_cannot_be_written_turns_training_off_not_serving(
    make_client, write_manifest, tmp_path
):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the state folder should be")
    client = make_client(
        manifest_path=write_manifest([]), admin_key=ADMIN["X-Admin-Key"], state_dir=blocked / "s"
    )
    assert client.get("/health/ready").status_code == 200
    answer = client.get("/datasets", headers=ADMIN)
    assert answer.status_code == 503 and "training is off" in answer.json()["detail"]
