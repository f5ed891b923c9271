"""The sandbox server's tuning of moto: a ``.sync`` wait checks its job ever less often while it lasts."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import pytest
from fanout_tools.sandbox import server


def test_sync_checks_start_at_once_and_back_off_to_the_cap() -> None:
    delays = list(itertools.islice(server.sync_poll_delays(), 12))
    assert delays[0] == server.SYNC_POLL_SECONDS
    assert all(
        b == pytest.approx(min(a * server.SYNC_POLL_BACKOFF, server.SYNC_POLL_MAX_SECONDS))
        for a, b in itertools.pairwise(delays)
    )
    assert delays[-1] == server.SYNC_POLL_MAX_SECONDS


def test_motos_sync_wait_sleeps_the_backed_off_delays_and_each_wait_starts_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """moto's own wait loop (``_eval_sync``) after :func:`server.back_off_sync_polls`: the job is done
    at the 5th check; the pauses before are the first four delays, and so again for the next wait."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as module,
    )

    server.back_off_sync_polls()
    server.back_off_sync_polls()  # installing twice changes nothing
    slept: list[float] = []
    monkeypatch.setattr(server._SyncWaitClock, "pause", slept.append)

    def wait(checks_until_done: int) -> Any:
        answers = iter([None] * (checks_until_done - 1) + [{"Status": "SUCCEEDED"}])
        task = SimpleNamespace()
        env = SimpleNamespace(is_running=lambda: True)
        return module.StateTaskServiceCallback._eval_sync(task, env, lambda: next(answers), None, None, None)

    assert wait(5) == {"Status": "SUCCEEDED"}
    assert slept == pytest.approx(list(itertools.islice(server.sync_poll_delays(), 4)))
    slept.clear()
    assert wait(2) == {"Status": "SUCCEEDED"}
    assert slept == [server.SYNC_POLL_SECONDS]


def test_the_job_a_batch_sync_resolver_checks_is_read_from_moto_as_installed() -> None:
    """:func:`server.batch_job_of` reads moto's Batch resolver's closure: if moto changes its shape, the
    waits fall back to polling DescribeJobs, and this test says so."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_batch as batch_service,
    )

    env = SimpleNamespace(stack=[{"JobId": "the-job"}])
    resolver = batch_service.StateTaskServiceBatch()._build_sync_resolver(
        env, SimpleNamespace(region="us-east-1"), {}, None
    )
    assert server.batch_job_of(resolver) == "the-job"
    assert server.batch_job_of(lambda: None) is None


def test_a_wait_on_a_job_run_here_asks_describejobs_once_woken_by_its_end(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """While the job runs, a check reads its status in process (no DescribeJobs); its end wakes the
    wait at once, not after the pause (30 s here), and DescribeJobs is called once, for the result."""
    import threading
    import time

    from fanout_tools.sandbox import batch_runner
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as module,
    )

    server.back_off_sync_polls()
    runner = batch_runner.BatchRunner(5555, tmp_path, workers=1)
    monkeypatch.setattr(batch_runner, "ACTIVE", runner)
    monkeypatch.setattr(server, "SYNC_POLL_SECONDS", 30.0)
    job = SimpleNamespace(status="RUNNING", job_id="the-job")
    runner.submitted["the-job"] = job
    described: list[str] = []

    def make_resolver(job_id: str) -> Any:
        def resolver() -> Any:
            described.append(job_id)
            return {"Status": job.status}

        return resolver

    ending = threading.Timer(0.3, lambda: runner._finish(job, success=True, reason=None))
    ending.start()
    started = time.monotonic()
    env = SimpleNamespace(is_running=lambda: True)
    result = module.StateTaskServiceCallback._eval_sync(
        SimpleNamespace(),
        env=env,
        sync_resolver=make_resolver("the-job"),
        timeout_seconds=None,
        callback_endpoint=None,
        heartbeat_endpoint=None,
    )
    assert result == {"Status": "SUCCEEDED"} and described == ["the-job"]
    assert time.monotonic() - started < 10
    ending.join()


def test_a_wait_on_a_job_this_server_never_ran_polls_describejobs_with_plain_pauses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """Only jobs the runner knows are checked in process: any other job id is asked of DescribeJobs at
    every check, with the backed-off pauses between (never a busy loop)."""
    from fanout_tools.sandbox import batch_runner
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as module,
    )

    server.back_off_sync_polls()
    monkeypatch.setattr(batch_runner, "ACTIVE", batch_runner.BatchRunner(5555, tmp_path, workers=1))
    slept: list[float] = []
    monkeypatch.setattr(server._SyncWaitClock, "pause", slept.append)
    job_id = "never-submitted-here"
    answers = iter([None, None, {"Status": "SUCCEEDED"}])
    described: list[str] = []

    def resolver() -> Any:
        described.append(job_id)
        return next(answers)

    env = SimpleNamespace(is_running=lambda: True)
    result = module.StateTaskServiceCallback._eval_sync(SimpleNamespace(), env, resolver, None, None, None)
    assert result == {"Status": "SUCCEEDED"} and described == [job_id] * 3
    assert slept == pytest.approx(list(itertools.islice(server.sync_poll_delays(), 2)))
