"""The job queue: huey with its SQLite storage, in the state folder.

Why huey: an embedded, maintained queue (3.x, 2026) that needs no broker (Celery and RQ need
Redis), keeps queued jobs in a file across restarts, revokes a queued job, and runs a
consumer with a bounded number of workers (one: one job at a time per device). What it does
not know — a job's progress, its cancelling while it runs, its model version — lives in the
store (:mod:`app.training.store`); the queue only says which job runs next.
"""

from __future__ import annotations

from pathlib import Path

from huey import SqliteHuey
from huey.api import TaskWrapper

QUEUE_FILE = "queue.sqlite3"
TASK_NAME = "d2l.training.run_job"


def job_queue(state_dir: Path) -> tuple[SqliteHuey, TaskWrapper]:
    """The queue of the state folder ``state_dir`` and its one task (calling it queues)."""
    queue = SqliteHuey("d2l-training", filename=str(state_dir / QUEUE_FILE), results=False)

    def run_job(state: str, job_id: str) -> None:
        from app.training.supervisor import supervise  # noqa: PLC0415 - the trainer's side only

        supervise(Path(state), job_id)

    return queue, queue.task(name=TASK_NAME)(run_job)


def enqueue(state_dir: Path, job_id: str) -> str:
    """Queue the job ``job_id``; the queue's id of it (to revoke it while queued)."""
    queue, run_job = job_queue(state_dir)
    message = run_job.s(str(state_dir), job_id)
    queue.enqueue(message)
    return message.id


def revoke(state_dir: Path, queue_id: str | None) -> None:
    if queue_id:
        queue, _ = job_queue(state_dir)
        queue.revoke_by_id(queue_id)
