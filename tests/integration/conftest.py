"""Helpers shared by the integration tests: a private sandbox for one module, Batch listings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@contextlib.contextmanager
def private_sandbox(runtime: Path, **env: str) -> Iterator[Path]:
    """Everything inside runs against a sandbox of its own: its runtime folder is ``runtime`` (state,
    locks, faults, job logs), its port a free one, ``env`` set before it starts (the first apply starts
    it). It goes down on the way out, and its resources and Terraform state with it: nothing to destroy.
    """
    from fanout_tools.sandbox import control

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FANOUT_RUNTIME_DIR", str(runtime))
        patch.setenv("TARGET", "sandbox")
        patch.delenv("FANOUT_SANDBOX_PORT", raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        try:
            yield runtime
        finally:
            control.down()


def list_jobs(batch: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every page of Batch ListJobs (``jobQueue`` or ``arrayJobId``, with ``jobStatus``)."""
    jobs: list[dict[str, Any]] = []
    while True:
        page = batch.list_jobs(**kwargs)
        jobs.extend(page.get("jobSummaryList", []))
        if not page.get("nextToken"):
            return jobs
        kwargs["nextToken"] = page["nextToken"]
