"""The run report without an account: aggregation, cost, HTML, and the history parsers (fast)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fanout_tools import executions
from fanout_tools.report import charts, collect, cost, html
from fanout_tools.report.collect import Failure, JobRow, Phase, RunData

START = 1_700_000_000.0


def plain_run(n: int, failed: int = 0, mode: str = "inline") -> RunData:
    jobs = []
    for i in range(n):
        created = START + 1 + i * 0.01
        jobs.append(
            JobRow(
                job_id=f"job-{i}",
                name=f"fanout-item-{i}",
                status="FAILED" if i >= n - failed else "SUCCEEDED",
                created=created,
                started=created + 0.5,
                stopped=created + 2.5,
                attempts=1,
                exit_code=3 if i >= n - failed else 0,
            )
        )
    data = RunData(
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:fanout:run-1",
        name="run-1",
        status="FAILED" if failed else "SUCCEEDED",
        start=START,
        stop=START + 5 + n * 0.01,
        region="us-east-1",
        mode=mode,
        phases=[Phase("GenerateItems", START, START + 1), Phase("FanOut", START + 1, START + 4 + n * 0.01)],
        jobs=jobs,
        transitions=2 + 2 * n,
        lambda_invocations=1,
        lambda_seconds=2.0,
        lambda_memory_mib=512,
    )
    data.failed_total = failed
    data.failures = [
        Failure(j.job_id, j.name, "Essential container in task exited", 3, 2, "somewhere", ["boom </script>"])
        for j in jobs
        if j.status == "FAILED"
    ]
    return data


def array_run(batches: int, size: int, failed_per_batch: int = 0) -> RunData:
    data = plain_run(0, mode="distributed_array")
    for b in range(batches):
        created = START + 2 + b * 0.001
        data.jobs.append(
            JobRow(
                job_id=f"parent-{b}",
                name=f"fanout-batch-{b}",
                status="FAILED" if failed_per_batch else "SUCCEEDED",
                created=created,
                started=created + 1,
                stopped=created + 60,
                array_size=size,
                summary={"SUCCEEDED": size - failed_per_batch, "FAILED": failed_per_batch}
                if failed_per_batch
                else {"SUCCEEDED": size},
            )
        )
    data.stop = START + 120
    return data


def test_one_timeline_row_per_job_up_to_the_limit() -> None:
    data = plain_run(50, failed=2)
    timeline = charts.timeline_rows(data)
    assert timeline["kind"] == "jobs"
    assert [r["id"] for r in timeline["rows"]] == [f"job-{i}" for i in range(50)]
    assert [r["status"] for r in timeline["rows"]].count("FAILED") == 2
    assert timeline["rows"][0]["submitted"] == pytest.approx(1.0)


def test_many_jobs_are_grouped_and_no_item_is_lost() -> None:
    data = plain_run(5000, failed=3)
    timeline = charts.timeline_rows(data, max_rows=1000)
    assert timeline["kind"] == "groups" and len(timeline["rows"]) == 1000
    assert sum(r["items"] for r in timeline["rows"]) == 5000
    assert sum(r["counts"].get("FAILED", 0) for r in timeline["rows"]) == 3
    assert {r["status"] for r in timeline["rows"]} == {"SUCCEEDED", "PARTIAL"}
    assert "group of 5" in timeline["note"]


def test_array_batches_aggregate_their_children() -> None:
    data = array_run(batches=10, size=1000, failed_per_batch=1)
    timeline = charts.timeline_rows(data)
    assert timeline["kind"] == "batches" and len(timeline["rows"]) == 10
    assert all(r["status"] == "PARTIAL" and r["items"] == 1000 for r in timeline["rows"])
    assert data.items == 10_000 and data.item_counts()["FAILED"] == 10


def test_fargate_cost_from_the_job_definition_with_the_one_minute_minimum() -> None:
    data = plain_run(10)  # 10 jobs of 2 s each: billed 60 s each
    data.job_vcpus, data.job_memory_mib = 0.25, 512
    p = cost.region_prices("us-east-1")
    estimate = cost.estimate(data)
    batch = next(line for line in estimate.lines if line.service.startswith("Batch"))
    hours = 10 * 60 / 3600
    assert batch.low == pytest.approx(
        hours * 0.25 * p["fargate_per_vcpu_hour"] + hours * 0.5 * p["fargate_per_gb_hour"]
    )
    sfn = next(line for line in estimate.lines if line.service.startswith("Step Functions"))
    assert sfn.low == pytest.approx(data.transitions * p["sfn_standard_per_transition"])
    assert estimate.low == estimate.high  # on-demand Fargate: one figure


def test_ec2_and_spot_are_ranges_and_regions_override_the_default() -> None:
    data = plain_run(10)
    data.compute_type = "SPOT"
    estimate = cost.estimate(data)
    batch = next(line for line in estimate.lines if line.service.startswith("Batch"))
    assert batch.service == "Batch on EC2 Spot" and batch.low < batch.high
    assert (
        cost.region_prices("eu-central-1")["fargate_per_vcpu_hour"]
        != cost.region_prices("us-east-1")["fargate_per_vcpu_hour"]
    )
    assert cost.region_prices("ap-south-2") == cost.region_prices("us-east-1")  # unlisted: the default


def test_prices_name_their_sources_and_date() -> None:
    prices = cost.load_prices()
    dt.date.fromisoformat(prices["as_of"])
    for url in (
        "https://aws.amazon.com/step-functions/pricing/",
        "https://aws.amazon.com/fargate/pricing/",
        "https://aws.amazon.com/lambda/pricing/",
        "https://aws.amazon.com/s3/pricing/",
    ):
        assert url in prices["sources"].values()
    for region in prices["regions"].values():
        assert set(region) <= set(prices["default"])


def _page(data: RunData) -> str:
    timeline = charts.timeline_rows(data)
    return html.render(data, timeline, cost.estimate(data), b"png", b"png")


def _script(page: str, element_id: str) -> Any:
    """The JSON the page embeds in its ``<script type="application/json" id=ELEMENT_ID>``."""
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    assert found, f"no {element_id} in the report"
    return json.loads(found.group(1))


def test_html_is_self_contained_and_carries_the_data() -> None:
    data = plain_run(25, failed=2)
    page = _page(data)
    assert "http://" not in page and "https://" not in page
    assert not re.search(r'(src|href)="(?!data:)', page)  # every resource inline
    rows = _script(page, "timeline-data")["rows"]  # type: ignore[index]
    assert len(rows) == 25
    run = _script(page, "run-data")
    assert run["counts"] == {"SUCCEEDED": 23, "FAILED": 2}  # type: ignore[index]
    assert "boom &lt;/script&gt;" in page  # log lines escaped
    assert "An estimate, not a bill" in page


def test_a_million_item_report_stays_small(tmp_path: Path) -> None:
    from fanout_tools.report.cli import build

    data = array_run(batches=1000, size=1000, failed_per_batch=2)
    data.notes.append("array children: timestamps of 0 of 1,000,000 children")
    html_path, png_path = build(data, tmp_path)
    assert html_path.stat().st_size < 5_000_000
    assert png_path.read_bytes().startswith(b"\x89PNG")
    page = html_path.read_text()
    timeline = _script(page, "timeline-data")
    assert timeline["items"] == 1_000_000 and len(timeline["rows"]) <= charts.MAX_ROWS  # type: ignore[index]


def _event(kind: str, seconds: float, event_id: int, previous: int = 0, **details: object) -> dict:
    return {
        "type": kind,
        "id": event_id,
        "previousEventId": previous,
        "timestamp": dt.datetime.fromtimestamp(START + seconds, dt.UTC),
        **details,
    }


def test_phases_jobs_and_lambda_time_from_a_history() -> None:
    lam = {"resourceType": "lambda"}
    events = [
        _event("TaskStateEntered", 0, 2, stateEnteredEventDetails={"name": "GenerateItems"}),
        _event("TaskStarted", 0.1, 4, taskStartedEventDetails=lam),
        _event("TaskSucceeded", 2.1, 5, 4, taskSucceededEventDetails=lam),
        _event("TaskStateExited", 2.2, 6, stateExitedEventDetails={"name": "GenerateItems"}),
        _event("MapStateEntered", 2.2, 7, stateEnteredEventDetails={"name": "FanOut"}),
        _event("TaskStateEntered", 2.3, 8, stateEnteredEventDetails={"name": "SubmitItemJob"}),
        _event(
            "TaskSubmitted",
            2.4,
            9,
            taskSubmittedEventDetails={"resourceType": "batch", "output": json.dumps({"JobId": "j-1"})},
        ),
    ]
    phases = collect.phases_from_history(events, ["GenerateItems", "FanOut"], START + 9)
    assert [(p.name, p.start - START, p.end - START) for p in phases] == [
        ("GenerateItems", 0, pytest.approx(2.2)),
        ("FanOut", pytest.approx(2.2), 9),
    ]
    assert collect.batch_job_ids(events) == ["j-1"]
    assert collect.lambda_usage(events) == (1, pytest.approx(2.0))


def test_job_rows_read_describe_jobs_and_list_jobs_alike() -> None:
    described = {
        "jobId": "p",
        "jobName": "b-0",
        "status": "FAILED",
        "createdAt": 1_000,
        "startedAt": 2_000,
        "stoppedAt": 5_000,
        "attempts": [{}, {}],
        "arrayProperties": {"size": 3, "statusSummary": {"SUCCEEDED": 2, "FAILED": 1, "RUNNING": 0}},
    }
    row = collect.job_row(described)
    assert (row.created, row.started, row.stopped, row.attempts) == (1.0, 2.0, 5.0, 2)
    assert row.summary == {"SUCCEEDED": 2, "FAILED": 1} and row.items == 3
    child = collect.job_row(
        {"jobId": "p:1", "status": "FAILED", "container": {"exitCode": 3}, "arrayProperties": {"index": 1}},
        parent="p",
    )
    assert child.exit_code == 3 and child.array_size == 0 and child.parent == "p"


def test_sampling_and_execution_names() -> None:
    assert collect.evenly(list(range(10)), 3) == [0, 4, 9]  # round(4.5) == 4
    assert collect.evenly([1, 2], 5) == [1, 2]
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:fanout"
    assert (
        executions.execution_arn_for(arn, "run-1")
        == "arn:aws:states:us-east-1:123456789012:execution:fanout:run-1"
    )
    assert executions.execution_arn_for(arn, "arn:x") == "arn:x"


def test_run_data_round_trips_through_json() -> None:
    data = plain_run(3, failed=1)
    again = RunData.from_json(data.to_json())
    assert again == data
