"""The training side as the serving process holds it: the store, the trainer process it
starts when there is work (``D2L_TRAINER=process``), and the loop that serves each trained
version as soon as the store lists it (and stops serving deleted ones) — the same loop on
every replica that shares the state folder."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys

from app.core.config import Settings
from app.serving.registry import ModelRegistry
from app.training.store import Store
from app.training.versions import version_entry, version_name

logger = logging.getLogger("app.training")
SYNC_EVERY_S = 1.0


class TrainingService:
    def __init__(self, settings: Settings, registry: ModelRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.trainer: subprocess.Popen | None = None
        self._sync: asyncio.Task | None = None
        self.store: Store | None = None
        self.problem: str | None = None
        try:
            self.store = Store(settings.state_folder)
        except (OSError, sqlite3.Error) as error:  # serving goes on; training is off
            self.problem = f"its state folder cannot be written ({type(error).__name__})"
            logger.error("training is off: %s: %s", settings.state_folder, error)

    async def start(self) -> None:
        """Serve the versions already trained; start the trainer if jobs wait."""
        if self.store is None:
            return
        await self.sync()
        self._sync = asyncio.create_task(self._keep_in_sync())
        if self.store.jobs("queued") or self.store.jobs("running"):
            self.ensure_trainer()

    def ensure_trainer(self) -> None:
        """Start the trainer process unless it runs (or another process is the trainer)."""
        if self.settings.trainer != "process":
            return
        if self.trainer is not None and self.trainer.poll() is None:
            return
        env = {
            **os.environ,
            "D2L_STATE_DIR": str(self.store.root),
            "D2L_MANIFEST_PATH": str(self.settings.manifest_path),
            "D2L_TRAIN_DEVICE": self.settings.train_device,
            "D2L_TRAIN_NICE": str(self.settings.train_nice),
            "D2L_LOG_FORMAT": self.settings.log_format,
        }
        if self.settings.train_threads:
            env["D2L_TRAIN_THREADS"] = str(self.settings.train_threads)
        self.trainer = subprocess.Popen([sys.executable, "-m", "app.training.worker"], env=env)
        logger.info("trainer started (pid %d)", self.trainer.pid)

    async def sync(self) -> None:
        rows = await asyncio.to_thread(self.store.versions)
        wanted = {version_name(row["name"], row["version"]): row for row in rows}
        for name in self.registry.added - wanted.keys():
            await self.registry.remove(name)
        for name, row in wanted.items():
            if name not in self.registry.added:
                await self.registry.add(version_entry(self.store, row), self.store.models_dir)

    async def _keep_in_sync(self) -> None:
        while True:
            await asyncio.sleep(SYNC_EVERY_S)
            try:
                await self.sync()
            except Exception:  # noqa: BLE001 - the next round tries again
                logger.exception("could not read the trained versions")

    async def close(self) -> None:
        if self._sync is not None:
            self._sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync
        if self.trainer is not None and self.trainer.poll() is None:
            # The job it runs stops with it and resumes from its checkpoint at the next start.
            self.trainer.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.trainer.wait, 10)
            except subprocess.TimeoutExpired:
                self.trainer.kill()
