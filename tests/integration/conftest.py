"""Helpers shared by the integration tests: Batch listings. (Stacks on a private sandbox: the
``sandbox_stacks`` fixture of tests/sandbox_stacks.py.)"""

from __future__ import annotations

from typing import Any


def list_jobs(batch: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every page of Batch ListJobs (``jobQueue`` or ``arrayJobId``, with ``jobStatus``)."""
    jobs: list[dict[str, Any]] = []
    while True:
        page = batch.list_jobs(**kwargs)
        jobs.extend(page.get("jobSummaryList", []))
        if not page.get("nextToken"):
            return jobs
        kwargs["nextToken"] = page["nextToken"]
