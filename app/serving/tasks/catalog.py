"""Every served task, by the manifest's ``task``: the app serves the routes of each."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from app.serving.tasks.base import ServedTask
from app.serving.tasks.classify import ClassifyTask
from app.serving.tasks.detect import DetectTask
from app.serving.tasks.words import WordVectorsTask

TASKS: Mapping[str, type[ServedTask]] = MappingProxyType(
    {task.kind: task for task in (ClassifyTask, DetectTask, WordVectorsTask)}
)
