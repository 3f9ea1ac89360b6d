"""The trainer: ``python -m app.training.worker`` runs the queued training jobs one at a time
(huey's consumer, one worker), each in a child process of its own. The service starts one
itself (``D2L_TRAINER=process``, the default); beside several replicas, run exactly one of
these on the shared ``D2L_STATE_DIR`` and set ``D2L_TRAINER=off`` on the replicas.

On start it settles the jobs a previous trainer left running: each resumes from its last
epoch checkpoint, or fails with the reason when it had none.
"""

from __future__ import annotations

import logging

from app.core.config import Settings
from app.core.logging import configure_logging
from app.training.queue import enqueue, job_queue
from app.training.store import Store
from app.training.supervisor import recover

logger = logging.getLogger("app.training")


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    store = Store(settings.state_folder)
    for job_id in recover(store):
        store.update_job(job_id, queue_id=enqueue(store.root, job_id))
        logger.info("job %s resumes from its last checkpoint", job_id)
    queue, _ = job_queue(store.root)
    # One worker: one job at a time on this device. A short poll: a job starts within a
    # second of being queued.
    consumer = queue.create_consumer(workers=1, worker_type="thread", max_delay=1.0)
    logger.info("trainer ready on %s", store.root)
    consumer.run()


if __name__ == "__main__":
    main()
