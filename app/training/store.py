"""Where data sets, training jobs and trained model versions are recorded: one SQLite file in
``D2L_STATE_DIR`` (WAL mode, so the service's replicas and the trainer read and write it at
once), beside the folders that hold the sets' files and the versions' weights.

A connection per call: SQLite connections are cheap, and none is shared between threads or
processes. Rows hold JSON for what has no fixed shape (summaries, options, progress).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, task TEXT NOT NULL, state TEXT NOT NULL,
    summary TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, dataset TEXT NOT NULL, task TEXT NOT NULL, base_model TEXT,
    model_name TEXT NOT NULL, options TEXT NOT NULL, state TEXT NOT NULL,
    progress TEXT NOT NULL, history TEXT NOT NULL, evaluation TEXT, error TEXT,
    model_version INTEGER, queue_id TEXT, created REAL NOT NULL, started REAL, finished REAL
);
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL, version INTEGER NOT NULL, task TEXT NOT NULL, file TEXT NOT NULL,
    sha256 TEXT NOT NULL, entry TEXT NOT NULL, dataset TEXT NOT NULL, job TEXT NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (name, version)
);
"""
JSON_COLUMNS = {"summary", "options", "progress", "history", "evaluation", "entry"}
ENDED = ("succeeded", "failed", "cancelled")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class Store:
    """The state folder: ``state.sqlite3``, ``datasets/<id>/`` and ``models/<name>/<n>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.datasets_dir = root / "datasets"
        self.models_dir = root / "models"
        self.jobs_dir = root / "jobs"
        for folder in (self.datasets_dir, self.models_dir, self.jobs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.path = root / "state.sqlite3"
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA busy_timeout=30000")
            yield db
        finally:
            db.close()

    # -- data sets
    def add_dataset(self, dataset_id: str, name: str, task: str, summary: dict) -> dict:
        with self.connect() as db:
            db.execute(
                "INSERT INTO datasets VALUES (?, ?, ?, 'ready', ?, ?)",
                (dataset_id, name, task, json.dumps(summary), time.time()),
            )
        return self.dataset(dataset_id) or {}

    def dataset(self, dataset_id: str) -> dict | None:
        return self._one("SELECT * FROM datasets WHERE id = ?", dataset_id)

    def datasets(self) -> list[dict]:
        return self._all("SELECT * FROM datasets ORDER BY created")

    def delete_dataset(self, dataset_id: str) -> None:
        with self.connect() as db:
            db.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))

    # -- jobs
    def add_job(self, job: dict[str, Any]) -> dict:
        with self.connect() as db:
            db.execute(
                "INSERT INTO jobs (id, dataset, task, base_model, model_name, options, state, "
                "progress, history, created) VALUES (?, ?, ?, ?, ?, ?, 'queued', '{}', '[]', ?)",
                (
                    job["id"],
                    job["dataset"],
                    job["task"],
                    job["base_model"],
                    job["model_name"],
                    json.dumps(job["options"]),
                    time.time(),
                ),
            )
        return self.job(job["id"]) or {}

    def job(self, job_id: str) -> dict | None:
        return self._one("SELECT * FROM jobs WHERE id = ?", job_id)

    def jobs(self, state: str | None = None) -> list[dict]:
        if state is None:
            return self._all("SELECT * FROM jobs ORDER BY created")
        return self._all("SELECT * FROM jobs WHERE state = ? ORDER BY created", state)

    def update_job(self, job_id: str, *, expect: tuple[str, ...] = (), **fields: Any) -> bool:
        """Set ``fields`` of a job (JSON columns serialised); with ``expect``, only while its
        state is one of those. Whether it changed a row."""
        if not fields:
            return False
        values = [json.dumps(v) if k in JSON_COLUMNS else v for k, v in fields.items()]
        sql = "UPDATE jobs SET " + ", ".join(f"{k} = ?" for k in fields) + " WHERE id = ?"
        values.append(job_id)
        if expect:
            sql += " AND state IN (" + ", ".join("?" * len(expect)) + ")"
            values += list(expect)
        with self.connect() as db:
            return db.execute(sql, values).rowcount > 0

    def jobs_using(self, dataset_id: str) -> list[dict]:
        return self._all(
            "SELECT * FROM jobs WHERE dataset = ? AND state NOT IN (?, ?, ?)", dataset_id, *ENDED
        )

    # -- model versions
    def add_version(self, version: dict[str, Any]) -> None:
        with self.connect() as db:
            db.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    version["name"],
                    version["version"],
                    version["task"],
                    version["file"],
                    version["sha256"],
                    json.dumps(version["entry"]),
                    version["dataset"],
                    version["job"],
                    time.time(),
                ),
            )

    def next_version(self, name: str) -> int:
        row = self._one("SELECT MAX(version) AS v FROM versions WHERE name = ?", name)
        return int(row["v"] or 0) + 1 if row else 1

    def versions(self, name: str | None = None) -> list[dict]:
        if name is None:
            return self._all("SELECT * FROM versions ORDER BY name, version")
        return self._all("SELECT * FROM versions WHERE name = ? ORDER BY version", name)

    def delete_version(self, name: str, version: int) -> bool:
        with self.connect() as db:
            cursor = db.execute(
                "DELETE FROM versions WHERE name = ? AND version = ?", (name, version)
            )
            return cursor.rowcount > 0

    # -- helpers
    def _one(self, sql: str, *args: Any) -> dict | None:
        rows = self._all(sql, *args)
        return rows[0] if rows else None

    def _all(self, sql: str, *args: Any) -> list[dict]:
        with self.connect() as db:
            rows = db.execute(sql, args).fetchall()
        return [
            {
                k: json.loads(r[k]) if k in JSON_COLUMNS and r[k] is not None else r[k]
                for k in r.keys()  # noqa: SIM118 - a Row iterates over its values
            }
            for r in rows
        ]
