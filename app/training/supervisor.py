"""The trainer's side of a job: each job runs in a child process of its own
(``python -m app.training.run_job``), at low CPU priority with a bounded thread count, watched
from here. Cancelling ends that process within a second or two whatever it is doing; a
process that dies (out of memory, killed) fails its job with the reason, never silently."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.training.store import Store

logger = logging.getLogger(__name__)
POLL_S = 0.25
STOP_GRACE_S = 5.0
LOG_FILE = "log.txt"


def supervise(state_dir: Path, job_id: str) -> None:
    """Run the queued job ``job_id`` to its end (succeeded, failed or cancelled)."""
    store = Store(state_dir)
    if not store.update_job(job_id, state="running", started=time.time(), expect=("queued",)):
        return  # cancelled (or gone) while it waited
    folder = store.jobs_dir / job_id
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOG_FILE).open("ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "app.training.run_job", str(state_dir), job_id],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - Linux's prctl only, no locks taken
        )
        cancelled = False
        while child.poll() is None:
            time.sleep(POLL_S)
            job = store.job(job_id)
            if job is not None and job["state"] == "cancelling" and not cancelled:
                cancelled = True
                child.terminate()
                try:
                    child.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    child.kill()
    finish(store, job_id, child.returncode, folder / LOG_FILE)


def finish(store: Store, job_id: str, returncode: int, log: Path) -> None:
    """The job's end state once its process has exited."""
    now = time.time()
    if store.update_job(job_id, state="cancelled", finished=now, expect=("cancelling",)):
        logger.info("job %s cancelled", job_id)
        return
    job = store.job(job_id)
    if job is None or job["state"] in ("succeeded", "failed", "cancelled"):
        return
    reason = f"the training process ended with exit code {returncode}"
    if returncode < 0:
        reason = f"the training process was killed ({signal.Signals(-returncode).name})"
    tail = _last_line(log)
    store.update_job(
        job_id,
        state="failed",
        error=f"{reason}; its last words: {tail}" if tail else reason,
        finished=now,
        expect=("running",),
    )


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _die_with_parent() -> None:
    """In the child, before it runs: end it when the trainer ends (Linux), so a job never
    outlives the process that watches it."""
    if sys.platform.startswith("linux"):
        import ctypes  # noqa: PLC0415

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def recover(store: Store) -> list[str]:
    """After a restart of the trainer: a job left running resumes from its last epoch
    checkpoint (queued again), or fails with the reason when it had none. Returns the jobs
    to queue again."""
    again = []
    for job in store.jobs("running") + store.jobs("cancelling"):
        if job["state"] == "cancelling":
            store.update_job(job["id"], state="cancelled", finished=time.time())
        elif (store.jobs_dir / job["id"] / "checkpoint.pt").is_file():
            store.update_job(job["id"], state="queued", expect=("running",))
            again.append(job["id"])
        else:
            store.update_job(
                job["id"],
                state="failed",
                error="the trainer stopped (a restart) before the job's first epoch ended: "
                "start the job again",
                finished=time.time(),
                expect=("running",),
            )
    return again
