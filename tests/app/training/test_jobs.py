"""Training jobs over HTTP, with the real trainer process: queued -> running -> succeeded, the
new version served at once; cancel while queued and while running; a job left running by a
stopped trainer resumes or fails with the reason. Jobs are held at their start by a gate
(D2L_TRAIN_GATE) where a test needs to see them running, whatever the machine's speed."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.app.training.conftest import (
    ADMIN,
    served,
    upload,
    wait_for,
    wait_until_served,
    zip_folder,
)
from tests.conftest import write_colour_folder


@pytest.fixture
def colour_set(trainer_client, tmp_path) -> str:
    root = write_colour_folder(tmp_path / "colours", {"train": 8, "val": 3})
    answer = upload(trainer_client, zip_folder(root), "classify", "colours")
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


RECIPE = {"base_model": None, "epochs": 2, "batch_size": 8, "input_size": 16, "lr": 0.01}


def test_a_job_trains_evaluates_and_its_model_is_served_at_once(trainer_client, colour_set):
    client = trainer_client
    answer = client.post(
        "/training-jobs",
        json={"dataset": colour_set, "model_name": "colours", **RECIPE},
        headers=ADMIN,
    )
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["state"] == "queued" and job["model"] is None
    running = wait_for(client, job["id"], {"running"})
    assert running["started"] is not None
    (client.gate / job["id"]).touch()
    done = wait_for(client, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done["error"]
    assert done["model"] == {"name": "colours", "version": 1}
    assert [point["epoch"] for point in done["history"]] == [1, 2]
    assert done["progress"]["fraction"] == 1.0
    evaluation = done["evaluation"]
    assert evaluation["classes"] == ["blue", "green", "red"] and evaluation["images"] == 9
    assert sum(map(sum, evaluation["confusion_matrix"])) == 9
    assert set(evaluation["per_class"]["red"]) == {"precision", "recall", "f1", "support"}
    # served as colours@1 and, the newest, as colours
    wait_until_served(client, "colours@1")
    image = io.BytesIO()
    Image.new("RGB", (40, 40), (220, 40, 40)).save(image, "PNG")
    for name in ("colours", "colours@1"):
        answer = client.post(
            "/classify", params={"model": name}, files={"file": ("red.png", image.getvalue())}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"] == "colours@1"
    versions = client.get("/models/colours/versions", headers=ADMIN).json()["versions"]
    assert [(v["version"], v["state"]) for v in versions] == [(1, "ready")]
    # a second job on the same name makes version 2; deleting it stops serving it
    listed = client.get("/training-jobs", headers=ADMIN).json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert client.post(f"/training-jobs/{job['id']}/cancel", headers=ADMIN).status_code == 409
    assert client.delete("/models/colours/versions/1", headers=ADMIN).status_code == 204
    assert served(client, "colours@1") is None
    answer = client.post(
        "/classify", params={"model": "colours"}, files={"file": ("r.png", image.getvalue())}
    )
    assert answer.status_code == 404


def test_cancel_a_queued_job_and_a_running_one(trainer_client, colour_set):
    client = trainer_client
    first = client.post(
        "/training-jobs", json={"dataset": colour_set, "model_name": "a", **RECIPE}, headers=ADMIN
    ).json()
    second = client.post(
        "/training-jobs", json={"dataset": colour_set, "model_name": "b", **RECIPE}, headers=ADMIN
    ).json()
    wait_for(client, first["id"], {"running"})  # held at its gate: the second waits its turn
    answer = client.post(f"/training-jobs/{second['id']}/cancel", headers=ADMIN)
    assert answer.status_code == 202 and answer.json()["state"] == "cancelled"
    answer = client.post(f"/training-jobs/{first['id']}/cancel", headers=ADMIN)
    assert answer.status_code == 202 and answer.json()["state"] == "cancelling"
    stopped = wait_for(client, first["id"], {"cancelled", "failed", "succeeded"})
    assert stopped["state"] == "cancelled" and stopped["model"] is None
    assert client.get("/models/a/versions", headers=ADMIN).json() == {"versions": []}
    assert served(client, "a@1") is None and served(client, "b@1") is None


def test_jobs_that_cannot_start_say_why(trainer_client, colour_set):
    client = trainer_client
    cases = [
        ({"dataset": "ds_missing", "model_name": "x"}, 404, "no data set"),
        (
            {"dataset": colour_set, "model_name": "x", "base_model": "nowhere"},
            422,
            "no model 'nowhere'",
        ),
        ({"dataset": colour_set, "model_name": "bad name"}, 422, "model_name"),
        ({"dataset": colour_set, "model_name": "x", "epochs": 0}, 422, "epochs"),
        ({"dataset": colour_set, "model_name": "x", "surprise": 1}, 422, "surprise"),
    ]
    for body, status, words in cases:
        answer = client.post("/training-jobs", json=body, headers=ADMIN)
        assert answer.status_code == status, (body, answer.text)
        assert words in answer.text, (body, answer.text)
    assert client.get("/training-jobs", headers=ADMIN).json() == {"jobs": []}
    assert client.get("/training-jobs/job_nothing", headers=ADMIN).status_code == 404
    assert client.post("/training-jobs/job_nothing/cancel", headers=ADMIN).status_code == 404


def test_a_restart_resumes_a_job_from_its_last_epoch_or_fails_it_with_the_reason(
    make_client, trainer_settings, tmp_path
):
    gate, settings = tmp_path / "gate", trainer_settings
    client = make_client(**settings)
    root = write_colour_folder(tmp_path / "colours", {"train": 8, "val": 3})
    dataset = upload(client, zip_folder(root), "classify").json()["id"]
    body = {"dataset": dataset, **RECIPE, "epochs": 3}
    resumed = client.post("/training-jobs", json={**body, "model_name": "r"}, headers=ADMIN).json()
    (gate / resumed["id"]).write_text("1")  # one epoch, then hold
    wait_for(client, resumed["id"], {"running"}, until=lambda job: len(job["history"]) >= 1)
    lost = client.post("/training-jobs", json={**body, "model_name": "l"}, headers=ADMIN).json()
    client.__exit__(None, None, None)  # the service stops, and its trainer with it
    # Restarted: the first job is queued again behind the second, which the queue kept and
    # now runs, held at its start, until this service stops too.
    again = make_client(**settings)
    assert wait_for(again, lost["id"], {"running"})["state"] == "running"
    assert again.get(f"/training-jobs/{resumed['id']}", headers=ADMIN).json()["state"] == "queued"
    again.__exit__(None, None, None)
    # Restarted again: the second job had no checkpoint and fails with the reason; the first
    # goes on from its checkpoint.
    third = make_client(**settings)
    failed = wait_for(third, lost["id"], {"failed"})
    assert "before the job's first epoch ended" in failed["error"]
    (gate / resumed["id"]).write_text("")
    done = wait_for(third, resumed["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done["error"]
    assert [point["epoch"] for point in done["history"]] == [1, 2, 3]
    log = (tmp_path / "state" / "jobs" / resumed["id"] / "log.txt").read_text()
    assert "resumed from" in log and "after epoch 1" in log


def test_events_stream_the_job_until_it_ends(trainer_client, colour_set):
    client = trainer_client
    job = client.post(
        "/training-jobs", json={"dataset": colour_set, "model_name": "e", **RECIPE}, headers=ADMIN
    ).json()
    (client.gate / job["id"]).touch()
    states = []
    with client.stream("GET", f"/training-jobs/{job['id']}/events", headers=ADMIN) as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        for line in events.iter_lines():
            if line.startswith("data: "):
                states.append(json.loads(line[6:]))
    assert states[-1]["state"] == "succeeded" and states[-1]["model"]["version"] == 1
    assert [s["state"] for s in states][0] in {"queued", "running"}
    fractions = [s["progress"]["fraction"] for s in states if s["progress"]["fraction"] is not None]
    assert fractions == sorted(fractions)
