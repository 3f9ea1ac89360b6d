"""One training job, in a process of its own: ``python -m app.training.run_job STATE_DIR JOB``.

It calls the training function the command line uses (``train(config, progress)``), writes
progress to the store as it goes (at most twice a second, and at every epoch's end), then
measures the model on the held-out split and registers it as the next version of its name.
Exits 0 whatever the job's end; only a crash leaves the supervisor to say what happened.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from app.core.config import Settings
from app.training.evaluation import evaluate
from app.training.recipes import JobPaths, build_config
from app.training.store import Store
from app.training.versions import find_base, register_version
from models.data.hub import DataError
from models.device import resolve_device
from models.train.config import TrainingError
from models.train.engine import Progress

WRITE_EVERY_S = 0.5


class Gate:
    """Tests hold a job where they need to see it (D2L_TRAIN_GATE: a folder), whatever the
    speed of the machine: the job waits at its start until a file named as the job is there,
    and at each epoch's end while the number in that file (if any) is not above the epochs
    done."""

    def __init__(self, job_id: str) -> None:
        folder = os.environ.get("D2L_TRAIN_GATE")
        self.file = Path(folder) / job_id if folder else None

    def wait(self, epochs_done: int = 0) -> None:
        while self.file is not None and not self._open(epochs_done):
            time.sleep(0.05)

    def _open(self, epochs_done: int) -> bool:
        try:
            text = self.file.read_text().strip()
        except OSError:
            return False
        return not text or int(text) > epochs_done


def main(state_dir: Path, job_id: str) -> None:
    settings = Settings()
    store = Store(state_dir)
    job = store.job(job_id)
    if job is None:
        return
    threads = settings.train_threads or max(1, (os.cpu_count() or 2) // 2)
    torch.set_num_threads(threads)
    os.nice(settings.train_nice)
    try:
        gate = Gate(job_id)
        gate.wait()
        evaluation, version = run(settings, store, job, gate)
    except (TrainingError, DataError, ValueError, FileNotFoundError) as error:
        store.update_job(job_id, state="failed", error=str(error)[:500], finished=time.time(),
                         expect=("running",))  # fmt: skip
        return
    except Exception as error:  # noqa: BLE001 - any failure is the job's, with its reason
        traceback.print_exc()
        reason = f"{type(error).__name__}: {str(error)[:400]}"
        store.update_job(job_id, state="failed", error=reason, finished=time.time(),
                         expect=("running",))  # fmt: skip
        return
    store.update_job(
        job_id,
        state="succeeded",
        evaluation=evaluation,
        model_version=version,
        finished=time.time(),
        progress={**(store.job(job_id) or {}).get("progress", {}), "fraction": 1.0, "eta_s": 0},
        expect=("running",),
    )


def run(settings: Settings, store: Store, job: dict[str, Any], gate: Gate) -> tuple[dict, int]:
    """Train, evaluate and register: the evaluation and the new version's number."""
    dataset = store.datasets_dir / job["dataset"]
    if not dataset.is_dir():
        raise TrainingError(f"the data set {job['dataset']} is gone: upload it again")
    base = find_base(settings, store, job["base_model"])
    paths = JobPaths(store.jobs_dir / job["id"])
    options = {**job["options"], "device": settings.train_device}
    config = build_config(job["task"], options, dataset, base, paths)
    reporter = Reporter(store, job["id"], job.get("history") or [], gate)
    from models.train import classify, detect, word2vec  # noqa: PLC0415 - heavy imports

    trainer = {"classify": classify, "detect": detect, "word2vec": word2vec}[job["task"]]
    result = trainer.train(config, reporter)
    evaluation = evaluate(config, result.weights, resolve_device(settings.train_device))
    version = register_version(store, job, result, evaluation)
    return evaluation, version


class Reporter:
    """The progress callback: the store's ``progress`` and per-epoch ``history`` (the live
    curve), written at most every half second."""

    def __init__(self, store: Store, job_id: str, history: list[dict], gate: Gate) -> None:
        self.store, self.job_id, self.history, self.gate = store, job_id, history, gate
        self.written = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.epoch_ended:
            point = {"epoch": progress.epoch, "loss": progress.loss, "metric": progress.metric}
            self.history = [p for p in self.history if p["epoch"] < progress.epoch] + [point]
        elif now - self.written < WRITE_EVERY_S:
            return
        self.written = now
        self.store.update_job(
            self.job_id,
            progress={
                "epoch": progress.epoch,
                "epochs": progress.epochs,
                "fraction": round(progress.fraction, 4),
                "loss": progress.loss,
                "metric": progress.metric,
                "eta_s": round(progress.eta_s, 1) if progress.eta_s is not None else None,
            },
            history=self.history,
            expect=("running",),
        )
        if progress.epoch_ended:
            self.gate.wait(progress.epoch)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
