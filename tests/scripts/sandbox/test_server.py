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
