"""Admission control: how much work one model (or pool) has taken in, bounded.

A request takes its units (images, or one geometry request) *before* its body is read, and gives
them back when it has been answered; what does not fit is refused at once with
:class:`QueueFullError` (503 with ``Retry-After``), so a flood of requests costs the service a
header parse each, not an upload, a decode and a queue slot. ``Retry-After`` is the time the
units in use take to drain at the rate they have been draining.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

RETRY_AFTER_MAX_S = 60
_RATE_SMOOTHING = 0.2  # weight of the newest release in the drain-rate average


class QueueFullError(RuntimeError):
    """No room: the client should retry after ``retry_after`` seconds."""

    def __init__(self, subject: str, capacity: str, setting: str, retry_after: int = 1) -> None:
        super().__init__(
            f"{subject} is at capacity ({capacity} in progress): retry after {retry_after} s, "
            f"or raise {setting}"
        )
        self.retry_after = retry_after


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
    """

    def __init__(
        self,
        subject: str,
        limit: int,
        unit: str = "images",
        setting: str = "D2L_MAX_QUEUE",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.subject = subject
        self.limit = limit
        self.unit = unit
        self.setting = setting
        self.in_use = 0
        self._clock = clock
        self._last_release: float | None = None
        self._seconds_per_unit: float | None = None

    def admit(self, units: int = 1) -> Ticket:
        """A ticket for ``units``, or :class:`QueueFullError` at once."""
        self._take(units)
        return Ticket(self, units)

    def retry_after(self) -> int:
        """Whole seconds until the units in use have drained, at the recent rate (1 to 60)."""
        if self._seconds_per_unit is None:
            return 1
        estimate = math.ceil(self.in_use * self._seconds_per_unit)
        return max(1, min(RETRY_AFTER_MAX_S, estimate))

    def _take(self, units: int) -> None:
        if self.in_use + units > self.limit:
            raise QueueFullError(
                self.subject, f"{self.limit} {self.unit}", self.setting, self.retry_after()
            )
        self.in_use += units

    def _give_back(self, units: int) -> None:
        self.in_use -= units
        if self.in_use == 0:  # idle: the next busy spell measures its own rate
            self._last_release = None
            return
        now = self._clock()
        if self._last_release is not None:
            interval = (now - self._last_release) / units
            previous = self._seconds_per_unit
            self._seconds_per_unit = (
                interval
                if previous is None
                else (1 - _RATE_SMOOTHING) * previous + _RATE_SMOOTHING * interval
            )
        self._last_release = now
