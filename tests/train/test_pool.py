"""The pool's ``TrialBroker``: how trials reach lanes, and what a trial hears when its lane
stops it, fails it or dies.

The broker is exercised here as the plain class it is inside its Ray actor, on an asyncio
loop, with the lanes' and trials' calls made in the order the pool makes them. Sweeps that
run on real lanes are in ``tests/sweep/test_pooled_execution.py``.
"""

from __future__ import annotations

import asyncio

from benchmark.train.pool import TrialBroker

FOLDER = "/shared/results/s/x/train/a"


def run(coroutine):
    return asyncio.run(coroutine)


def test_trials_reach_free_lanes_in_the_order_they_were_submitted():
    async def scenario():
        broker = TrialBroker(lanes=2, max_failures=1)
        for trial in ("a", "b", "c"):
            await broker.submit(trial, {"seed": trial}, FOLDER)
        first = await broker.next_assignment(0)
        second = await broker.next_assignment(1)
        return first, second

    first, second = run(scenario())
    assert (first.trial_id, first.config) == ("a", {"seed": "a"})
    assert second.trial_id == "b"


def test_a_trial_hears_each_report_once_and_its_lane_learns_its_checkpoint_folder():
    async def scenario():
        broker = TrialBroker(lanes=1, max_failures=1)
        await broker.submit("a", {}, FOLDER)
        assignment = await broker.next_assignment(0)
        lane = asyncio.ensure_future(broker.report(0, "a", {"epoch": 1}))
        first = await broker.events("a", 0)
        following = asyncio.ensure_future(broker.events("a", 1))  # Tune took the first
        keep_going = await asyncio.wait_for(lane, timeout=5)
        await broker.report(0, "a", {"is_final": True, "status": "completed"})
        return assignment, keep_going, first, await asyncio.wait_for(following, timeout=5)

    assignment, keep_going, first, rest = run(scenario())
    assert assignment.checkpoints == FOLDER
    assert keep_going is False
    assert first == [{"epoch": 1}]
    assert [metrics["status"] for metrics in rest] == ["completed"]


def test_a_lane_trains_no_further_epoch_until_tune_has_decided_on_the_last_one():
    async def scenario():
        broker = TrialBroker(lanes=1, max_failures=1)
        await broker.submit("a", {}, FOLDER)
        await broker.next_assignment(0)
        lane = asyncio.ensure_future(broker.report(0, "a", {"epoch": 1}))
        await broker.events("a", 0)  # Tune has the report, and is deciding
        assert not lane.done()
        await broker.cancel("a")  # ... to stop the trial (its scheduler's rung)
        return await asyncio.wait_for(lane, timeout=5)

    assert run(scenario()) is True


def test_without_early_stopping_a_lane_goes_on_without_waiting_for_tune():
    async def scenario():
        broker = TrialBroker(lanes=1, max_failures=1, epoch_decisions=False)
        await broker.submit("a", {}, FOLDER)
        await broker.next_assignment(0)
        # Tune has not asked for anything yet: each report returns at once all the same.
        first = await asyncio.wait_for(broker.report(0, "a", {"epoch": 1}), timeout=5)
        second = await asyncio.wait_for(broker.report(0, "a", {"epoch": 2}), timeout=5)
        taken = await broker.events("a", 0)
        await broker.cancel("a")  # stopped by Tune (its time budget): dropped at the next one
        return first, second, taken, await broker.report(0, "a", {"epoch": 3})

    first, second, taken, third = run(scenario())
    assert (first, second) == (False, False)
    assert taken == [{"epoch": 1}, {"epoch": 2}]  # Tune still hears every report, in order
    assert third is True


def test_a_trial_waits_until_its_lane_reports():
    async def scenario():
        broker = TrialBroker(lanes=1, max_failures=1)
        await broker.submit("a", {}, FOLDER)
        waiting = asyncio.ensure_future(broker.events("a", 0))
        await asyncio.sleep(0)  # one turn of the loop: the trial is now waiting
        assert not waiting.done()
        await broker.next_assignment(0)
        lane = asyncio.ensure_future(broker.report(0, "a", {"epoch": 1}))
        events = await asyncio.wait_for(waiting, timeout=5)
        assert not lane.done()  # the lane waits for Tune to take the report
        return events

    assert run(scenario()) == [{"epoch": 1}]


def test_a_cancelled_trial_leaves_the_queue_or_its_lane_and_its_waiter_returns():
    async def scenario():
        broker = TrialBroker(lanes=1, max_failures=1)
        for trial in ("running", "queued", "next"):
            await broker.submit(trial, {}, FOLDER)
        await broker.next_assignment(0)
        await broker.cancel("running")
        await broker.cancel("queued")
        stop = await broker.report(0, "running", {"epoch": 2})
        waiter = await broker.events("running", 0)
        following = await broker.next_assignment(0)
        return stop, waiter, following

    stop, waiter, following = run(scenario())
    assert stop is True  # the lane drops the trial at this report
    assert waiter is None
    assert following.trial_id == "next"  # the cancelled queued trial was skipped


def test_a_trial_that_raises_on_its_lane_ends_failed_with_its_reason():
    async def scenario():
        broker = TrialBroker(lanes=1, max_failures=1)
        await broker.submit("a", {}, FOLDER)
        await broker.next_assignment(0)
        await broker.fail(0, "a", "ModelConfigError: too deep", 0.5)
        return await broker.events("a", 0)

    [final] = run(scenario())
    assert final == {
        "is_final": True, "status": "failed", "error": "ModelConfigError: too deep",
        "job_wall_time_s": 0.5,
    }  # fmt: skip


def test_a_trial_whose_lane_died_runs_again_from_its_last_checkpoint_then_fails():
    async def scenario():
        broker = TrialBroker(lanes=1, max_failures=1)
        await broker.submit("a", {}, FOLDER)
        await broker.lane_started(0)  # the lane's first start: nothing to take back
        await broker.next_assignment(0)
        lane = asyncio.ensure_future(broker.report(0, "a", {"epoch": 1}))
        await broker.events("a", 0)
        lane.cancel()  # the lane's process dies while it waits
        await broker.lane_started(0)  # the workers died and Ray Train restarted them
        again = await broker.next_assignment(0)
        await broker.lane_started(0)  # and died once more: past max_failures
        return again, await broker.events("a", 1)

    again, [final] = run(scenario())
    # Again on a lane, which resumes it from the newest checkpoint in its folder.
    assert (again.trial_id, again.checkpoints, again.attempt) == ("a", FOLDER, 1)
    assert final["status"] == "failed"
    assert final["error"] == "its Train workers died 2 times"


def test_when_every_lane_is_lost_waiting_and_later_trials_fail_with_the_reason():
    async def scenario():
        broker = TrialBroker(lanes=1, max_failures=1)
        await broker.submit("queued", {}, FOLDER)
        await broker.lane_lost(0, "lane 0 ended: worker group could not start")
        await broker.submit("later", {}, FOLDER)
        return await broker.events("queued", 0), await broker.events("later", 0)

    queued, later = run(scenario())
    assert queued[0]["error"] == "lane 0 ended: worker group could not start"
    assert later[0]["error"] == (
        "no Train workers left: lane 0 ended: worker group could not start"
    )


def test_closing_the_pool_ends_every_lane_loop():
    async def scenario():
        broker = TrialBroker(lanes=2, max_failures=1)
        waiting = [asyncio.ensure_future(broker.next_assignment(lane)) for lane in (0, 1)]
        await asyncio.sleep(0)  # one turn of the loop: both lanes are now waiting
        await broker.close()
        return await asyncio.wait_for(asyncio.gather(*waiting), timeout=5)

    assert run(scenario()) == [None, None]
