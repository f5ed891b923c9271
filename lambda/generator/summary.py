"""The summarize action of the generator function: after the fan-out, count and name the failed items.

Invoked by the state machine's ``SummarizeItems`` state with ``{"summarize": {...}}``:
``execution_name``, ``count`` (items in the run), ``rerun_of`` (the execution this one reruns, or null),
``tolerated_failure_count``, ``tolerated_failure_percentage``, and what the Map left:

* ``results`` (inline and array modes): one record per iteration, ``{"JobId","JobName","Status":
  "SUCCEEDED"}`` for a job that succeeded, ``{<input keys>,"JobId","Status":"FAILED","Error"}`` for one
  that failed and ``{<input keys>,"Status":"NOT_RUN","Error","Cause"}`` for one Batch never ran;
* ``map_run`` (distributed modes): the Distributed Map's ResultWriter output, whose manifest lists the
  child executions' result files
  (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html).

A failed array job is expanded into its failed children with ListJobs(arrayJobId, FAILED); every failed
item gets the details of its job (DescribeJobs, 100 per call): attempts, exit code, status reason and log
stream. The run fails (the definition's ``ItemsFailed`` state) when its failed items exceed both
``tolerated_failure_count`` and ``tolerated_failure_percentage`` of the items: either alone tolerates that
many. In the modes with a bucket every record is written to ``<runs_prefix><execution>/failed-items.jsonl``
(one JSON object per line, ordered by index), which ``{"rerun_of": <execution>}`` reads back.
The returned summary stays far below the 256 KiB payload limit: at most :data:`LISTED` records, items
over :data:`LISTED_ITEM_BYTES` left out (``item`` null, ``item_omitted`` true).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

LISTED = 50  # records in the summary itself
LISTED_ITEM_BYTES = 2048
DESCRIBE_BATCH = 100  # DescribeJobs takes at most 100 job ids
CHUNK_BYTES = 1024 * 1024
# Jobs described in detail; past this the records keep their job id only (bounded Lambda time).
MAX_DESCRIBED = 10_000
FAILED_ITEMS_FILE = "failed-items.jsonl"
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class BatchReader(Protocol):
    def describe_jobs(self, jobs: list[str]) -> dict[str, Any]: ...

    def list_jobs(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass
class Failure:
    """One failed item, as ``fanout status`` shows it."""

    index: int
    error: str
    item: Any = None
    batch: int | None = None
    job_id: str | None = None
    attempts: int = 0
    exit_code: int | None = None
    status_reason: str | None = None
    log_stream: str | None = None
    item_known: bool = False

    def record(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "item": self.item,
            "batch": self.batch,
            "job_id": self.job_id,
            "attempts": self.attempts,
            "exit_code": self.exit_code,
            "status_reason": self.status_reason,
            "log_stream": self.log_stream,
            "error": self.error,
        }


@dataclass
class FailedBatch:
    """A batch whose array (or single) job failed, or which never ran: expanded into item failures."""

    batch: int
    items_uri: str
    size: int
    job_id: str | None
    error: str
    cause: str | None = None


@dataclass
class Collected:
    items: list[Failure] = field(default_factory=list)
    batches: list[FailedBatch] = field(default_factory=list)


def is_tolerated(failed: int, total: int, count: int, percentage: float) -> bool:
    """Within tolerance when the failures are within either threshold (0 and 0 tolerate none)."""
    if failed == 0:
        return True
    return failed <= count or failed * 100 <= percentage * total


def collect_records(records: Iterable[Any]) -> Collected:
    """Failed item and batch records among the iteration records (successes are skipped)."""
    found = Collected()
    for record in records:
        if not isinstance(record, dict) or record.get("Status") == "SUCCEEDED":
            continue
        error = str(record.get("Error") or record.get("Status") or "Failed")
        job_id = record.get("JobId")
        if "batch" in record and "items_uri" in record:
            found.batches.append(
                FailedBatch(
                    int(record["batch"]),
                    str(record["items_uri"]),
                    int(record.get("size") or 1),
                    str(job_id) if job_id else None,
                    error,
                    record.get("Cause"),
                )
            )
        elif "index" in record:
            failure = Failure(int(record["index"]), error, job_id=str(job_id) if job_id else None)
            if "item" in record:
                failure.item, failure.item_known = record["item"], True
            if not job_id:
                failure.status_reason = _short(record.get("Cause"))
            found.items.append(failure)
    return found


def collect_map_run(map_run: dict[str, Any], mode: str, s3: Any) -> Collected:
    """Failures from a Distributed Map's result files: FAILED children (and, in distributed mode, the
    failed item records inside SUCCEEDED children's output)."""
    details = map_run.get("ResultWriterDetails") or {}
    manifest = json.loads(_get(s3, details["Bucket"], details["Key"]))
    bucket = manifest.get("DestinationBucket") or details["Bucket"]
    files = manifest.get("ResultFiles") or {}
    found = Collected()
    kinds = ["FAILED", "PENDING"] + (["SUCCEEDED"] if mode == "distributed" else [])
    for kind in kinds:
        for entry in files.get(kind) or []:
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"]
            for child in iter_json_array(body.iter_chunks(CHUNK_BYTES)):
                _child_failures(child, found)
    return found


def iter_json_array(chunks: Iterable[bytes]) -> Iterator[Any]:
    """The elements of a JSON array read chunk by chunk: a result file holds every child's output (up to
    5 GB in AWS), so it is never loaded whole; one element at a time is in memory."""
    decoder = json.JSONDecoder()
    pending = b""
    text = ""
    started = False
    for chunk in chunks:
        pending += chunk
        try:
            text += pending.decode("utf-8")
            pending = b""
        except UnicodeDecodeError as err:  # a character split across chunks: keep its first bytes
            text += pending[: err.start].decode("utf-8")
            pending = pending[err.start :]
        position = 0
        while True:
            while position < len(text) and text[position] in " \t\r\n,":
                position += 1
            if not started:
                if position < len(text) and text[position] == "[":
                    started, position = True, position + 1
                    continue
                break
            if position >= len(text) or text[position] == "]":
                break
            try:
                value, end = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                break  # the element continues in the next chunk
            if end >= len(text):  # a number may go on in the next chunk: decide when more has come
                break
            position = end
            yield value
        text = text[position:]
    if text.strip() not in ("", "]"):
        raise ValueError(f"a result file ends inside an element: {text[:80]!r}")


def _child_failures(child: dict[str, Any], found: Collected) -> None:
    child_input = _json(child.get("Input")) or {}
    if child.get("Status") == "SUCCEEDED":
        output = _json(child.get("Output"))
        more = collect_records(output if isinstance(output, list) else [])
        first = int(child_input.get("first_index") or 0)
        items = child_input.get("items") or []
        for failure in more.items:  # distributed mode: the child's input holds its batch's items
            if not failure.item_known and 0 <= failure.index - first < len(items):
                failure.item, failure.item_known = items[failure.index - first], True
            failure.batch = child_input.get("batch")
        found.items.extend(more.items)
        found.batches.extend(more.batches)
        return
    error = str(child.get("Error") or child.get("Status") or "Failed")
    cause = child.get("Cause")
    if "items_uri" in child_input:  # distributed_array: the child ran one (array) job
        job = _json(cause) if error == "States.TaskFailed" else None
        found.batches.append(
            FailedBatch(
                int(child_input["batch"]),
                str(child_input["items_uri"]),
                int(child_input.get("size") or 1),
                str(job["JobId"]) if isinstance(job, dict) and job.get("JobId") else None,
                error,
                None if job else cause,
            )
        )
        return
    # distributed: a child that failed as a whole; every item of its batch counts as failed.
    first = int(child_input.get("first_index") or 0)
    for offset, item in enumerate(child_input.get("items") or []):
        failure = Failure(first + offset, error, item=item, item_known=True, batch=child_input.get("batch"))
        failure.status_reason = _short(cause)
        found.items.append(failure)


def expand_batches(
    batches: list[FailedBatch], items_per_batch: int, batch_client: BatchReader
) -> list[Failure]:
    """Item failures of failed batches: the failed children of an array job, the item of a single job,
    every item of a batch that never ran."""
    failures: list[Failure] = []
    for failed in batches:
        first = failed.batch * items_per_batch
        if failed.job_id is None:
            for line in range(failed.size):
                f = Failure(first + line, failed.error, batch=failed.batch)
                f.status_reason = _short(failed.cause)
                failures.append(f)
        elif failed.size == 1:
            failures.append(Failure(first, failed.error, batch=failed.batch, job_id=failed.job_id))
        else:
            for child in _failed_children(batch_client, failed.job_id):
                line = int(
                    (child.get("arrayProperties") or {}).get("index", child["jobId"].rsplit(":", 1)[-1])
                )
                failures.append(
                    Failure(first + line, failed.error, batch=failed.batch, job_id=child["jobId"])
                )
    return failures


def _failed_children(batch_client: BatchReader, array_job_id: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"arrayJobId": array_job_id, "jobStatus": "FAILED"}
    while True:
        page = batch_client.list_jobs(**kwargs)
        yield from page.get("jobSummaryList", [])
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


def describe(failures: list[Failure], batch_client: BatchReader) -> None:
    """Fill attempts, exit code, status reason and log stream from DescribeJobs."""
    ids = [f.job_id for f in failures if f.job_id][:MAX_DESCRIBED]
    jobs: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), DESCRIBE_BATCH):
        for job in batch_client.describe_jobs(jobs=ids[start : start + DESCRIBE_BATCH]).get("jobs", []):
            jobs[job["jobId"]] = job
    for failure in failures:
        job = jobs.get(failure.job_id or "")
        if job is None:
            continue
        attempts = job.get("attempts") or []
        last = (attempts[-1].get("container") or {}) if attempts else {}
        container = job.get("container") or {}
        failure.attempts = len(attempts)
        exit_code = container.get("exitCode", last.get("exitCode"))
        failure.exit_code = int(exit_code) if exit_code is not None else None
        failure.status_reason = job.get("statusReason") or last.get("reason") or failure.status_reason
        failure.log_stream = container.get("logStreamName") or last.get("logStreamName")


def summarize(
    request: dict[str, Any], mode: str, items_per_batch: int, bucket: str, runs_prefix: str, clients: Any
) -> dict[str, Any]:
    """The run's summary (see the module docstring); ``clients(service)`` gives a boto3 client."""
    execution = str(request["execution_name"])
    total = int(request["count"])
    tolerated_count = int(request.get("tolerated_failure_count") or 0)
    tolerated_percentage = float(request.get("tolerated_failure_percentage") or 0)
    s3 = clients("s3") if bucket else None
    if "map_run" in request:
        found = collect_map_run(request["map_run"], mode, s3)
    else:
        found = collect_records(request.get("results") or [])
    failures = list(found.items)
    if found.batches:
        failures.extend(expand_batches(found.batches, items_per_batch, clients("batch")))
    failures.sort(key=lambda f: f.index)
    if failures:
        describe(failures, clients("batch"))
        uris = {b.batch: b.items_uri for b in found.batches}
        if s3 is not None and uris:
            fill_items(failures, uris, items_per_batch, s3)
    failed = len(failures)
    uri = None
    if s3 is not None and failures:
        key = f"{runs_prefix}{execution}/{FAILED_ITEMS_FILE}"
        body = "".join(_DUMPS(f.record()) + "\n" for f in failures).encode()
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")
        uri = f"s3://{bucket}/{key}"
    tolerated = is_tolerated(failed, total, tolerated_count, tolerated_percentage)
    outcome = "SUCCEEDED" if tolerated else "ITEMS_FAILED"
    percentage_text = f"{tolerated_percentage:g}%"
    cause = (
        f"{failed} of {total} items failed (tolerated: {tolerated_count} items or {percentage_text} of them)"
    )
    if failed:
        where = f"; the failed items: {uri}" if uri else "; the failed items are listed in this summary"
        cause += f"{where}. `fanout status {execution}` names them with their logs; "
        cause += f"`fanout rerun-failed {execution}` reruns exactly them."
    else:
        cause += "."
    return {
        "execution": execution,
        "mode": mode,
        "count": total,
        "succeeded": total - failed,
        "failed": failed,
        "tolerated_failure_count": tolerated_count,
        "tolerated_failure_percentage": request.get("tolerated_failure_percentage") or 0,
        "outcome": outcome,
        "cause": cause,
        "failed_items": listed(failures),
        "failed_items_uri": uri,
        "rerun_of": request.get("rerun_of"),
    }


def fill_items(failures: list[Failure], uris: dict[int, str], items_per_batch: int, s3: Any) -> None:
    """Each failed item of an array batch, read from its JSONL batch file (line = index - first index)."""
    by_batch: dict[int, dict[int, Failure]] = {}
    for failure in failures:
        if not failure.item_known and failure.batch in uris:
            by_batch.setdefault(int(failure.batch), {})[
                failure.index - int(failure.batch) * items_per_batch
            ] = failure
    for batch, by_line in by_batch.items():
        bucket, key = _split_uri(uris[batch])
        last = max(by_line)
        for number, line in enumerate(_lines(s3, bucket, key)):
            if number in by_line:
                by_line[number].item, by_line[number].item_known = json.loads(line), True
            if number >= last:
                break


def listed(failures: list[Failure]) -> list[dict[str, Any]]:
    out = []
    for failure in failures[:LISTED]:
        record = failure.record()
        if len(_DUMPS(record.get("item"))) > LISTED_ITEM_BYTES:
            record["item"], record["item_omitted"] = None, True
        out.append(record)
    return out


def _lines(s3: Any, bucket: str, key: str) -> Iterator[bytes]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    yield from body.iter_lines()


def _get(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def _short(text: Any, limit: int = 500) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
