"""media.stages: mailboxes that notice a stop, worker errors reach the caller, order kept, stale items dropped."""

from __future__ import annotations

import threading

import pytest

from segblur.media.stages import END, Stages, StoppedError


def live_workers(stages: Stages) -> list[str]:
    return [w.name for w in stages.workers if w.is_alive()]


def test_items_pass_through_a_pipeline_of_stages_in_order() -> None:
    """Producer thread -> caller -> consumer thread, through bounded channels: every item, in order, once."""
    received: list[int] = []
    with Stages() as stages:
        first, second = stages.channel(2), stages.channel(2)
        stages.start("feed", first.feed, range(100))
        stages.start("consume", second.consume, received.append)
        for item in first:
            second.put(item * 10)
        second.close()
        stages.wait()
    assert received == [i * 10 for i in range(100)]
    assert not live_workers(stages)


def test_a_failing_worker_stops_the_run_and_its_error_reaches_the_caller() -> None:
    def explode(channel) -> None:
        channel.put(1)
        raise ValueError("worker broke")

    with pytest.raises(ValueError, match="worker broke"), Stages() as stages:
        channel = stages.channel(1)
        stages.start("explode", explode, channel)
        for _ in channel:  # the first item, then StoppedError once the worker has failed
            pass
    assert stages.stop.is_set() and not live_workers(stages)


def test_a_blocked_producer_notices_the_stop() -> None:
    """A producer waiting on a full channel gives up (StoppedError, not an error) once the caller leaves the run."""
    with Stages() as stages:
        channel = stages.channel(1)
        producer = stages.start("producer", channel.feed, iter(range(10**9)))
        assert channel.get() == 0  # it is running, and will soon wait on the full channel
    assert not producer.is_alive() and producer.error is None


def test_the_callers_own_error_wins_and_workers_still_stop() -> None:
    started = threading.Event()

    def wait_for_items(channel) -> None:
        started.set()
        channel.get()  # waits until the run stops

    with pytest.raises(KeyError), Stages() as stages:
        stages.start("waiting", wait_for_items, stages.channel(1))
        assert started.wait(5)
        raise KeyError("caller")
    assert not live_workers(stages) and stages.workers[0].error is None


def test_keyboard_interrupt_in_a_worker_is_raised_in_the_caller() -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), Stages() as stages:
        stages.start("interrupted", interrupted)
        stages.wait()


def test_stopped_without_a_failed_worker_ends_the_run_quietly() -> None:
    with Stages() as stages:
        stages.stop.set()
        stages.channel(1).get()  # raises StoppedError: swallowed by the run, nothing failed
    assert stages.stop.is_set()


def test_get_with_a_timeout_returns_none_and_end_after_close() -> None:
    stages = Stages()
    channel = stages.channel(2)
    assert channel.get(timeout=0.01) is None
    channel.put("a")
    channel.close()
    assert channel.get(timeout=0) == "a" and channel.get(timeout=0) is END
    stages.stop.set()
    with pytest.raises(StoppedError):
        channel.put("late")
    with pytest.raises(StoppedError):
        channel.get(timeout=1)


def test_leftovers_are_the_items_a_stopped_run_did_not_use() -> None:
    stages = Stages()
    channel, slot = stages.channel(3), stages.latest()
    channel.put(1)
    channel.put(2)
    channel.close()
    slot.put("frame")
    stages.stop.set()
    assert channel.leftovers() == [1, 2] and channel.leftovers() == []
    assert slot.leftovers() == ["frame"] and slot.leftovers() == []


def test_latest_slot_keeps_only_the_newest_item_and_returns_the_dropped_one() -> None:
    slot = Stages().latest()
    assert slot.put(1) is None
    assert slot.put(2) == 1  # 1 was never taken: the producer counts it dropped
    assert slot.put(3) == 2
    assert slot.get(timeout=0) == 3
    assert slot.get(timeout=0.01) is None  # nothing new
    slot.put(4)
    slot.close()
    assert list(slot) == [4]  # the waiting item still comes out, then END ends the iteration
    assert slot.get(timeout=0) is END


def test_latest_slot_wakes_a_waiting_consumer_and_notices_the_stop() -> None:
    stages = Stages()
    slot = stages.latest()
    got: list[object] = []
    waiting = threading.Thread(target=lambda: got.append(slot.get()))
    waiting.start()
    slot.put("now")
    waiting.join(5)
    assert got == ["now"]
    stages.stop.set()
    with pytest.raises(StoppedError):
        slot.get()
    with pytest.raises(StoppedError):
        slot.get(timeout=1)


def test_a_slow_consumer_of_a_latest_slot_sees_the_last_item() -> None:
    """A producer much faster than the consumer: the consumer always gets the newest item and ends with the last."""
    seen: list[int] = []
    dropped: list[int] = []
    gate = threading.Event()

    def produce(slot) -> None:
        for i in range(200):
            old = slot.put(i)
            if old is not None:
                dropped.append(old)
        slot.close()
        gate.set()

    def consume(slot) -> None:
        for item in slot:
            seen.append(item)
            gate.wait(5)  # slow: held until the producer is done

    with Stages() as stages:
        slot = stages.latest()
        stages.start("consume", consume, slot)
        stages.start("produce", produce, slot)
        stages.wait()
    assert seen[-1] == 199 and seen == sorted(seen)
    assert len(seen) + len(dropped) == 200 and len(seen) <= 3
