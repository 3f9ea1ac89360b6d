"""Capacity: all-or-nothing admission, and Retry-After from the rate units drain at (a fake
clock, so the figures do not depend on the machine)."""

from __future__ import annotations

import pytest

from app.serving.capacity import Capacity, QueueFullError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_retry_after_is_the_time_the_units_in_use_take_to_drain():
    clock = FakeClock()
    capacity = Capacity("model 'm'", 10, clock=clock)
    tickets = [capacity.admit() for _ in range(10)]
    with pytest.raises(QueueFullError) as refused:
        capacity.admit()
    assert refused.value.retry_after == 1, "no drain rate measured yet"
    for ticket in tickets[:5]:  # one unit every 2 s
        clock.now += 2
        ticket.release()
    with pytest.raises(QueueFullError) as refused:
        capacity.admit(6)
    assert refused.value.retry_after == 10  # 5 units in use x 2 s each
    assert "model 'm' is at capacity (10 images in progress)" in str(refused.value)


def test_retry_after_stays_between_1_and_60_seconds():
    clock = FakeClock()
    capacity = Capacity("model 'm'", 3, clock=clock)
    _held, first, second = capacity.admit(), capacity.admit(), capacity.admit()
    clock.now += 500
    first.release()
    clock.now += 500
    second.release()
    assert capacity.retry_after() == 60


def test_an_idle_spell_does_not_count_as_a_slow_drain():
    clock = FakeClock()
    capacity = Capacity("model 'm'", 3, clock=clock)
    capacity.admit().release()
    clock.now += 3600  # idle for an hour
    first, second, third = capacity.admit(), capacity.admit(), capacity.admit()
    clock.now += 0.5
    first.release()
    assert capacity.retry_after() == 1, "the hour of idling is not a drain time"
    clock.now += 0.5
    second.release()
    assert capacity.retry_after() == 1  # one unit left, at 0.5 s each
    third.release()


def test_a_capacity_needs_room_for_one_unit():
    with pytest.raises(ValueError, match="limit"):
        Capacity("model 'm'", 0)


def test_a_time_bound_refuses_what_would_wait_too_long_but_never_below_the_floor():
    clock = FakeClock()
    capacity = Capacity("model 'm'", 200, max_wait_s=2.0, floor=4, clock=clock)
    tickets = [capacity.admit() for _ in range(100)]  # no pace measured yet: the count rules
    for ticket in tickets[:31]:
        clock.now += 0.05
        ticket.release()
    assert capacity.expected_wait_s() is None, "31 releases: too few to judge the pace"
    clock.now += 0.05
    tickets[31].release()
    assert capacity.expected_wait_s() == pytest.approx(3.4)  # 68 images at 0.05 s each
    with pytest.raises(QueueFullError, match="about 3.4 s of work") as refused:
        capacity.admit()
    assert "D2L_MAX_QUEUE_WAIT_S" in str(refused.value)
    assert refused.value.retry_after == 4
    for ticket in tickets[32:97]:
        clock.now += 0.05
        ticket.release()
    assert capacity.in_use == 3
    capacity.admit()  # 4 in use: at the floor, admitted whatever the pace
    tickets.append(capacity.admit())  # 5 x 0.05 s is well under 2 s
    assert capacity.in_use == 5


def test_the_floor_is_admitted_however_slow_the_pace():
    clock = FakeClock()
    capacity = Capacity("model 'm'", 200, max_wait_s=2.0, floor=4, clock=clock)
    tickets = [capacity.admit() for _ in range(40)]
    for ticket in tickets[:36]:  # one image a second: slow
        clock.now += 1.0
        ticket.release()
    assert capacity.in_use == 4
    with pytest.raises(QueueFullError):
        capacity.admit()  # a fifth would wait 5 s
    tickets[36].release()
    capacity.admit()  # the fourth: within the floor, taken although it waits 4 s
    assert capacity.in_use == 4


def test_a_new_busy_spell_starts_from_the_pace_of_the_last_well_measured_one():
    clock = FakeClock()
    capacity = Capacity("model 'm'", 200, max_wait_s=2.0, floor=4, clock=clock)
    tickets = [capacity.admit() for _ in range(40)]
    for ticket in tickets:  # a busy spell at one image every 0.125 s, then idle
        clock.now += 0.125
        ticket.release()
    assert capacity.in_use == 0
    clock.now += 3600
    burst = [capacity.admit() for _ in range(16)]  # 16 x 0.125 s = 2 s: all taken
    with pytest.raises(QueueFullError, match="about 2.0 s of work"):
        capacity.admit()  # the 17th would wait 2.125 s at the last spell's pace
    for ticket in burst:
        ticket.release()
