"""Admission control: how much work one model (or pool) has taken in, bounded.

A request is checked before its body is read (:meth:`Capacity.check`: what does not fit now is
refused at once with :class:`QueueFullError`, 503 with ``Retry-After``, so a flood costs the
service a header parse each), and takes its units (images, or one geometry request) once its body
has arrived, giving them back when it has been answered: a client that sends its body slowly, or
never, holds none of the capacity that requests ready to compute need.

Two bounds: a count (``limit``), and optionally a time (``max_wait_s``): the units in use would
take longer than that to get through at the pace they have been getting through (measured over
the last releases of a busy spell), so a slow device does not queue minutes of work. Below
``floor`` units the time bound does not apply (batches need company). ``Retry-After`` is the
time the units in use take to drain at that pace.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from app.core.errors import RETRY_AFTER_STATE, ServiceError

RETRY_AFTER_MAX_S = 60
_RATE_WINDOW = 256  # releases the drain pace is measured over (seconds of work on a CPU)
# The time bound waits for this many releases in a busy spell: the first few (a batch released
# at once, a slow first pass) say little about the pace.
_MIN_RELEASES = 32


class QueueFullError(ServiceError):
    """No room: the client should retry after ``retry_after`` seconds (503; the connection is
    not read again for that long, at most a second)."""

    status_code = 503

    def __init__(self, subject: str, capacity: str, setting: str, retry_after: int = 1) -> None:
        super().__init__(
            f"{subject} is at capacity ({capacity} in progress): retry after {retry_after} s, "
            f"or raise {setting}",
            headers={"Retry-After": str(retry_after)},
            pause_s=retry_after,
        )
        self.retry_after = retry_after

    def as_http_exception(self, scope: MutableMapping[str, Any]) -> HTTPException:
        """The same 503 where only HTTP errors pass (FastAPI's body reading), its
        ``Retry-After`` noted in the request's state (``scope``)."""
        scope.setdefault("state", {})[RETRY_AFTER_STATE] = self.retry_after
        return HTTPException(503, str(self), headers=self.headers)


class Ticket:
    """Units held by one request; :meth:`release` gives them back (once)."""

    def __init__(self, capacity: Capacity, units: int) -> None:
        self._capacity = capacity
        self.units = units

    def reserve(self, units: int) -> None:
        """Hold at least ``units`` in all (a batch request learns its size from its body);
        raises :class:`QueueFullError` when the extra units do not fit."""
        extra = units - self.units
        if extra > 0:
            self._capacity._take(extra)
            self.units = units

    def release(self) -> None:
        if self.units:
            self._capacity._give_back(self.units)
            self.units = 0

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class Capacity:
    """At most ``limit`` units in use at once.

    Used from the event loop only (no lock needed). ``clock`` is injectable for tests.

    Args:
        subject: what is full, for the error (``model 'tinyssd-logo'``).
        limit: most units in use.
        unit: what a unit is, plural (``images``).
        setting: the setting that raises ``limit``, for the error.
        max_wait_s: refuse when the units in use would take longer than this to drain.
        floor: units always admitted (within ``limit``) whatever the time bound says.
    """

    def __init__(
        self,
        subject: str,
        limit: int,
        unit: str = "images",
        setting: str = "D2L_MAX_QUEUE",
        max_wait_s: float | None = None,
        floor: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if max_wait_s is not None and max_wait_s <= 0:
            raise ValueError(f"max_wait_s must be positive, got {max_wait_s}")
        self.subject = subject
        self.limit = limit
        self.unit = unit
        self.setting = setting
        self.max_wait_s = max_wait_s
        self.floor = floor
        self.in_use = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._clock = clock
        self._releases: deque[tuple[float, int]] = deque(maxlen=_RATE_WINDOW)
        self._seconds_per_unit: float | None = None
        self._settled_pace: float | None = None  # the pace of the last well-measured spell

    def admit(self, units: int = 1) -> Ticket:
        """A ticket for ``units``, or :class:`QueueFullError` at once."""
        self._take(units)
        return Ticket(self, units)

    async def wait_idle(self) -> None:
        """Return once no unit is in use."""
        await self._idle.wait()

    def retry_after(self) -> int:
        """Whole seconds until the units in use have drained, at the measured pace (1 to 60)."""
        if self._seconds_per_unit is None:
            return 1
        estimate = math.ceil(self.in_use * self._seconds_per_unit)
        return max(1, min(RETRY_AFTER_MAX_S, estimate))

    def expected_wait_s(self, units: int = 0) -> float | None:
        """Seconds the units in use (and ``units`` more) take to drain at the pace measured in
        this busy spell, or in the last one until this one has enough releases; None before
        any spell was measured."""
        measured = len(self._releases) >= _MIN_RELEASES
        pace = self._seconds_per_unit if measured else self._settled_pace
        return None if pace is None else (self.in_use + units) * pace

    def check(self, units: int = 1) -> None:
        """Raise :class:`QueueFullError` if ``units`` would not fit now; take nothing."""
        after = self.in_use + units
        if after > self.limit:
            raise QueueFullError(
                self.subject, f"{self.limit} {self.unit}", self.setting, self.retry_after()
            )
        wait = self.expected_wait_s(units)
        bounded = self.max_wait_s is not None and after > self.floor
        if bounded and wait is not None and wait > self.max_wait_s:
            raise QueueFullError(
                self.subject,
                f"{self.in_use} {self.unit}, about {self.expected_wait_s():.1f} s of work",
                "D2L_MAX_QUEUE_WAIT_S",
                self.retry_after(),
            )

    def _take(self, units: int) -> None:
        self.check(units)
        self.in_use += units
        self._idle.clear()

    def _give_back(self, units: int) -> None:
        self.in_use -= units
        if self.in_use == 0:  # idle: the next busy spell measures its own pace
            self._idle.set()
            if len(self._releases) >= _MIN_RELEASES:
                self._settled_pace = self._seconds_per_unit
            self._releases.clear()
            return
        self._releases.append((self._clock(), units))
        if len(self._releases) >= 2:
            span = self._releases[-1][0] - self._releases[0][0]
            released = sum(count for _, count in self._releases) - self._releases[0][1]
            if span > 0:
                self._seconds_per_unit = span / released
