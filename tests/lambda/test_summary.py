"""The summarize action: which items failed, their details, the threshold, and the rerun input."""

from __future__ import annotations

import json
from typing import Any

import handler
import pytest
import summary
from hypothesis import given
from hypothesis import strategies as st

BUCKET = "fanout-test-bucket"  # the bucket the s3_bucket fixture (conftest.py) creates


class FakeBatch:
    """DescribeJobs / ListJobs answers in AWS's shapes for a few jobs (paged like AWS)."""

    def __init__(self, jobs: dict[str, dict[str, Any]], children: dict[str, list[str]]) -> None:
        self.jobs, self.children, self.calls = jobs, children, []

    def describe_jobs(self, jobs: list[str]) -> dict[str, Any]:
        assert len(jobs) <= summary.DESCRIBE_BATCH
        self.calls.append(("describe_jobs", len(jobs)))
        return {"jobs": [self.jobs[j] for j in jobs if j in self.jobs]}

    def list_jobs(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["jobStatus"] == "FAILED"
        ids = self.children[kwargs["arrayJobId"]]
        start = int(kwargs.get("nextToken") or 0)
        page = ids[start : start + 2]
        more = {"nextToken": str(start + 2)} if start + 2 < len(ids) else {}
        self.calls.append(("list_jobs", len(page)))
        return {
            "jobSummaryList": [
                {"jobId": j, "arrayProperties": {"index": int(j.rsplit(":", 1)[1])}} for j in page
            ],
            **more,
        }


def failed_job(job_id: str, exit_code: int = 3, attempts: int = 1) -> dict[str, Any]:
    attempt = {
        "container": {"exitCode": exit_code, "logStreamName": f"fanout/default/{job_id}", "reason": None}
    }
    return {
        "jobId": job_id,
        "status": "FAILED",
        "statusReason": "Essential container in task exited",
        "attempts": [attempt] * attempts,
        "container": {"exitCode": exit_code, "logStreamName": f"fanout/default/{job_id}"},
    }


def clients_for(s3: Any, batch: FakeBatch):
    return lambda service: {"s3": s3, "batch": batch}[service]


def request(**extra: Any) -> dict[str, Any]:
    return {
        "execution_name": "run-1",
        "count": 10,
        "rerun_of": None,
        "tolerated_failure_count": 0,
        "tolerated_failure_percentage": 0,
        **extra,
    }


def test_inline_records_name_the_failed_items_with_their_job_details():
    batch = FakeBatch({"j2": failed_job("j2", 3, 2), "j5": failed_job("j5", 1)}, {})
    results = [{"JobId": f"ok{i}", "JobName": f"x-item-{i}", "Status": "SUCCEEDED"} for i in range(10)]
    for i in (5, 2):  # an iteration's record of a failed job (templates/asl: ItemFailed)
        results[i] = {
            "index": i,
            "item": {"n": i},
            "JobId": f"j{i}",
            "Status": "FAILED",
            "Error": "States.TaskFailed",
        }
    out = summary.summarize(request(results=results), "inline", 1000, "", "runs/", clients_for(None, batch))
    assert (out["failed"], out["succeeded"], out["outcome"]) == (2, 8, "ITEMS_FAILED")
    assert [r["index"] for r in out["failed_items"]] == [2, 5]
    first = out["failed_items"][0]
    assert first["item"] == {"n": 2} and first["job_id"] == "j2"
    assert (first["attempts"], first["exit_code"]) == (2, 3)
    assert first["status_reason"] == "Essential container in task exited"
    assert first["log_stream"] == "fanout/default/j2"
    assert out["failed_items_uri"] is None
    assert "2 of 10 items failed" in out["cause"] and "fanout status run-1" in out["cause"]


def test_a_job_never_run_is_a_failed_item_with_its_error():
    results = [
        {
            "index": 0,
            "item": 0,
            "Status": "NOT_RUN",
            "Error": "Batch.TooManyRequestsException",
            "Cause": "slow down",
        }
    ]
    out = summary.summarize(
        request(count=1, results=results), "inline", 1000, "", "runs/", clients_for(None, FakeBatch({}, {}))
    )
    (record,) = out["failed_items"]
    assert record["error"] == "Batch.TooManyRequestsException" and record["job_id"] is None
    assert record["status_reason"] == "slow down"


def test_array_batches_expand_to_failed_children_with_items_from_s3(s3_bucket):
    for k, lines in enumerate([[{"i": 0}, {"i": 1}, {"i": 2}], [{"i": 3}, {"i": 4}, {"i": 5}]]):
        body = "".join(json.dumps(x) + "\n" for x in lines)
        s3_bucket.put_object(Bucket=BUCKET, Key=f"runs/run-1/items/batch-{k:06d}.jsonl", Body=body)
    batch = FakeBatch(
        {j: failed_job(j) for j in ("a:0", "a:2", "b:1")},
        {"a": ["a:0", "a:2"], "b": ["b:1"]},
    )
    uri = f"s3://{BUCKET}/runs/run-1/items/batch-"
    results = [
        {
            "batch": 0,
            "items_uri": f"{uri}000000.jsonl",
            "size": 3,
            "JobId": "a",
            "Status": "FAILED",
            "Error": "E",
        },
        {
            "batch": 1,
            "items_uri": f"{uri}000001.jsonl",
            "size": 3,
            "JobId": "b",
            "Status": "FAILED",
            "Error": "E",
        },
    ]
    out = summary.summarize(
        request(count=6, results=results), "array", 3, BUCKET, "runs/", clients_for(s3_bucket, batch)
    )
    assert [(r["index"], r["batch"], r["job_id"], r["item"]) for r in out["failed_items"]] == [
        (0, 0, "a:0", {"i": 0}),
        (2, 0, "a:2", {"i": 2}),
        (4, 1, "b:1", {"i": 4}),
    ]
    assert out["failed_items_uri"] == f"s3://{BUCKET}/runs/run-1/failed-items.jsonl"
    listed = s3_bucket.get_object(Bucket=BUCKET, Key="runs/run-1/failed-items.jsonl")["Body"].read()
    assert [json.loads(line)["index"] for line in listed.splitlines()] == [0, 2, 4]


def test_distributed_array_reads_failed_children_from_the_map_run_result_files(s3_bucket):
    s3_bucket.put_object(Bucket=BUCKET, Key="runs/run-1/items/batch-000001.jsonl", Body=b'"x"\n"y"\n')
    failed_child = {
        "Status": "FAILED",
        "Input": json.dumps(
            {"batch": 1, "items_uri": f"s3://{BUCKET}/runs/run-1/items/batch-000001.jsonl", "size": 2}
        ),
        "Error": "States.TaskFailed",
        # a failed .sync job's cause: the job's description, in Step Functions' PascalCase
        "Cause": json.dumps({"JobId": "p", "Status": "FAILED", "ArrayProperties": {"Size": 2}}),
    }
    s3_bucket.put_object(Bucket=BUCKET, Key="runs/results/m/FAILED_0.json", Body=json.dumps([failed_child]))
    manifest = {
        "DestinationBucket": BUCKET,
        "ResultFiles": {"FAILED": [{"Key": "runs/results/m/FAILED_0.json"}]},
    }
    s3_bucket.put_object(Bucket=BUCKET, Key="runs/results/m/manifest.json", Body=json.dumps(manifest))
    batch = FakeBatch({"p:1": failed_job("p:1")}, {"p": ["p:1"]})
    map_run = {"ResultWriterDetails": {"Bucket": BUCKET, "Key": "runs/results/m/manifest.json"}}
    out = summary.summarize(
        request(count=4, map_run=map_run),
        "distributed_array",
        2,
        BUCKET,
        "runs/",
        clients_for(s3_bucket, batch),
    )
    assert [(r["index"], r["item"], r["job_id"]) for r in out["failed_items"]] == [(3, "y", "p:1")]


def test_describe_jobs_is_called_in_pages_of_100():
    ids = [f"j{i}" for i in range(250)]
    batch = FakeBatch({j: failed_job(j) for j in ids}, {})
    results = [
        {"index": i, "item": i, "JobId": j, "Status": "FAILED", "Error": "E"} for i, j in enumerate(ids)
    ]
    out = summary.summarize(
        request(count=250, results=results), "inline", 1000, "", "runs/", clients_for(None, batch)
    )
    assert [c for c in batch.calls if c[0] == "describe_jobs"] == [
        ("describe_jobs", 100),
        ("describe_jobs", 100),
        ("describe_jobs", 50),
    ]
    assert out["failed"] == 250 and len(out["failed_items"]) == summary.LISTED
    assert len(json.dumps(out)) < 64 * 1024


@pytest.mark.parametrize(
    ("failed", "total", "count", "percentage", "tolerated"),
    [
        (0, 10, 0, 0, True),
        (1, 10, 0, 0, False),
        (2, 10, 2, 0, True),
        (3, 10, 2, 0, False),
        (2, 10, 0, 20, True),
        (3, 10, 0, 20, False),
        (3, 10, 3, 20, True),
    ],
)
def test_a_run_fails_only_when_its_failures_exceed_both_thresholds(
    failed, total, count, percentage, tolerated
):
    assert summary.is_tolerated(failed, total, count, percentage) is tolerated


@given(
    total=st.integers(1, 10**12),
    data=st.data(),
    count=st.integers(0, 10**6),
    percentage=st.integers(0, 100),
)
def test_tolerance_is_monotonic_and_exact_at_each_threshold(total, data, count, percentage):
    failed = data.draw(st.integers(0, total))
    if summary.is_tolerated(failed, total, count, percentage) and failed:
        assert summary.is_tolerated(failed - 1, total, count, percentage)
    assert summary.is_tolerated(min(count, total), total, count, percentage)
    assert summary.is_tolerated(total, total, 0, 100)


def test_the_generator_reruns_a_runs_failed_items_from_its_list(generator_env, s3_bucket, invoke):
    generator_env("array", FANOUT_ITEMS_PER_BATCH="10")
    records = [{"index": 2, "item": {"n": 2}}, {"index": 5, "item": {"n": 5}}]
    body = "".join(json.dumps(r) + "\n" for r in records)
    s3_bucket.put_object(Bucket=BUCKET, Key="runs/run-1/failed-items.jsonl", Body=body)
    result = invoke({"input": {"rerun_of": "run-1"}, "execution_name": "run-1-rerun-1"})
    assert (result["count"], result["rerun_of"]) == (2, "run-1")
    key = result["batches"][0]["items_uri"].split(f"s3://{BUCKET}/", 1)[1]
    lines = s3_bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()
    assert [json.loads(line) for line in lines] == [{"n": 2}, {"n": 5}]


def test_a_rerun_of_a_run_without_a_failed_items_list_says_what_to_do(generator_env, s3_bucket, invoke):
    generator_env("array")
    with pytest.raises(handler.InvalidInputError, match=r"no failed-items list.*fanout status"):
        invoke({"input": {"rerun_of": "run-9"}, "execution_name": "x"})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rerun_of": 7, "count": 1}, "'rerun_of' must be the name of an execution"),
        ({"rerun_of": "a b", "count": 1}, "'rerun_of' must be the name of an execution"),
    ],
)
def test_rerun_of_is_validated(generator_env, invoke, data, message):
    generator_env("array")
    with pytest.raises(handler.InvalidInputError, match=message):
        invoke({"input": data, "execution_name": "x"})


def test_inline_rerun_passes_its_items(generator_env, invoke):
    generator_env("inline")
    with pytest.raises(handler.InvalidInputError, match="in inline mode a rerun passes its items"):
        invoke({"input": {"rerun_of": "run-1"}, "execution_name": "x"})
    result = invoke({"input": {"items": [{"n": 2}], "rerun_of": "run-1"}, "execution_name": "x"})
    assert result["rerun_of"] == "run-1" and result["items"] == [{"n": 2}]


@given(
    elements=st.lists(
        st.one_of(
            st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=8)), max_size=3),
            st.integers(),
            st.text(max_size=6),
        ),
        max_size=8,
    ),
    chunk=st.integers(1, 17),
    indent=st.sampled_from([None, 1]),
)
def test_result_files_are_read_element_by_element_whatever_the_chunking(elements, chunk, indent):
    data = json.dumps(elements, indent=indent, ensure_ascii=False).encode()
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    assert list(summary.iter_json_array(chunks)) == elements


def test_a_truncated_result_file_is_an_error_not_a_silent_gap():
    with pytest.raises(ValueError, match="ends inside an element"):
        list(summary.iter_json_array([b'[{"a": 1}, {"b": ']))
