"""Read one execution from the target into a :class:`RunData`: the same calls on the sandbox and on AWS.

Sources, in order:

1. Step Functions: DescribeExecution, DescribeStateMachine (the top-level states are the phases),
   GetExecutionHistory of the execution (paginated, 1,000 events a page), ListMapRuns/DescribeMapRun
   and, where the account lists them, the Map Run's child executions (at most
   :data:`MAX_CHILD_HISTORIES` histories read, evenly sampled).
2. Batch: DescribeJobs for the job ids the histories name (at most 100 ids a call,
   https://docs.aws.amazon.com/batch/latest/APIReference/API_DescribeJobs.html); when the child
   executions cannot all be read, ListJobs on the stack's queue for the jobs created during the
   execution (its JobSummary carries createdAt, startedAt, stoppedAt, status and exit code).
3. Array children: ListJobs with ``arrayJobId`` per status the parent's ``statusSummary`` counts
   (https://docs.aws.amazon.com/batch/latest/APIReference/API_ListJobs.html). Up to
   :data:`MAX_CHILDREN` children are listed; past that, the children of evenly spaced parents are
   (a sample) and every parent keeps its exact status summary (aggregated per batch). The report says
   which.

A million-item run therefore costs a few thousand calls at most, never one per item.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from fanout_tools.executions import batch_job_ids, history_pages, json_object

MAX_CHILD_HISTORIES = 200  # Map Run child executions whose histories are read
MAX_DESCRIBED = 20_000  # plain jobs described one by one (DescribeJobs, 100 a call)
MAX_CHILDREN = 50_000  # array children listed (ListJobs on their parents)
MAX_FAILURE_LOGS = 50  # failed items whose description and last log lines are shown
LOG_LINES = 10


@dataclass
class JobRow:
    job_id: str
    name: str = ""
    status: str = "SUBMITTED"
    created: float | None = None  # epoch seconds
    started: float | None = None
    stopped: float | None = None
    attempts: int = 0
    exit_code: int | None = None
    reason: str | None = None
    log_stream: str | None = None
    array_size: int = 0
    summary: dict[str, int] = field(default_factory=dict)
    parent: str | None = None  # the array parent of a child

    @property
    def items(self) -> int:
        return self.array_size or 1

    def counts(self) -> Counter[str]:
        """Items per final status: an array parent's children, else the job itself."""
        return Counter(self.summary) if self.array_size else Counter({self.status: 1})


@dataclass
class Phase:
    name: str
    start: float
    end: float
    status: str = "SUCCEEDED"


@dataclass
class Failure:
    job_id: str
    name: str
    reason: str | None
    exit_code: int | None
    attempts: int
    log_location: str
    log_lines: list[str]


@dataclass
class RunData:
    execution_arn: str
    name: str
    status: str
    start: float
    stop: float
    region: str
    mode: str = "?"
    error: str | None = None
    cause: str | None = None
    phases: list[Phase] = field(default_factory=list)
    jobs: list[JobRow] = field(default_factory=list)  # plain jobs and array parents
    children: list[JobRow] = field(default_factory=list)  # array children listed (all, or a sample)
    failures: list[Failure] = field(default_factory=list)
    failed_total: int = 0
    # what billing depends on (see cost.py)
    transitions: int = 0
    transitions_estimated: bool = False
    lambda_invocations: int = 0
    lambda_seconds: float = 0.0
    lambda_memory_mib: int = 128
    map_runs: int = 0
    child_executions: int = 0
    s3_puts: int = 0
    s3_gets: int = 0
    job_vcpus: float = 0.25
    job_memory_mib: int = 512
    compute_type: str = "FARGATE"
    notes: list[str] = field(default_factory=list)  # how the data was gathered: sampled, aggregated
    api_calls: dict[str, int] = field(default_factory=dict)

    # --- what the run did ---------------------------------------------------------------------

    def item_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for job in self.jobs:
            counts.update(job.counts())
        return counts

    @property
    def items(self) -> int:
        return sum(job.items for job in self.jobs)

    def item_rows(self) -> list[JobRow]:
        """One row per item that has its own timestamps: plain jobs and listed array children."""
        return [j for j in self.jobs if not j.array_size] + self.children

    # --- recording ---------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> RunData:
        raw = json.loads(text)
        raw["phases"] = [Phase(**p) for p in raw.get("phases", [])]
        raw["jobs"] = [JobRow(**j) for j in raw.get("jobs", [])]
        raw["children"] = [JobRow(**j) for j in raw.get("children", [])]
        raw["failures"] = [Failure(**f) for f in raw.get("failures", [])]
        return cls(**raw)


# --- helpers ----------------------------------------------------------------------------------------


def epoch(value: Any) -> float | None:
    """Batch's epoch milliseconds or Step Functions' datetimes, as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value) / 1000.0


def evenly(items: list[Any], limit: int) -> list[Any]:
    """At most ``limit`` of ``items``, evenly spaced (first and last kept): a deterministic sample."""
    if len(items) <= limit:
        return list(items)
    if limit <= 1:
        return items[:limit]
    step = (len(items) - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]


def job_row(job: dict[str, Any], parent: str | None = None) -> JobRow:
    """A DescribeJobs job or a ListJobs JobSummary as a row (both carry the timestamps)."""
    container = job.get("container") or {}
    array = job.get("arrayProperties") or {}
    attempts = job.get("attempts")
    size = int(array.get("size") or 0)
    return JobRow(
        job_id=job["jobId"],
        name=job.get("jobName", ""),
        status=job.get("status", "SUBMITTED"),
        created=epoch(job.get("createdAt")),
        started=epoch(job.get("startedAt")),
        stopped=epoch(job.get("stoppedAt")),
        attempts=len(attempts) if isinstance(attempts, list) else 0,
        exit_code=container.get("exitCode"),
        reason=job.get("statusReason") or container.get("reason"),
        log_stream=container.get("logStreamName"),
        array_size=size if parent is None else 0,
        summary={k: int(v) for k, v in (array.get("statusSummary") or {}).items() if v} if size else {},
        parent=parent,
    )


class Collector:
    """Every call the report makes, counted (the report shows how many)."""

    def __init__(self, stack: Any, outputs: dict[str, Any], target: Any = None) -> None:
        self.stack = stack
        self.outputs = outputs
        self.target = target if target is not None else stack.target
        self.sfn = stack.client("stepfunctions")
        self.batch = stack.client("batch")
        self.calls: Counter[str] = Counter()

    def call(self, client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
        self.calls[operation] += 1
        return dict(getattr(client, operation)(**kwargs))

    # --- Step Functions ------------------------------------------------------------------------

    def history(self, arn: str) -> list[dict[str, Any]]:
        counted = functools.partial(self.call, self.sfn, "get_execution_history")
        return list(history_pages(self.sfn, arn, call=counted))

    def child_executions(self, map_run_arn: str) -> list[str] | None:
        """The Map Run's child executions, or None where the account cannot list them."""
        arns: list[str] = []
        kwargs: dict[str, Any] = {"mapRunArn": map_run_arn, "maxResults": 1000}
        while True:
            try:
                page = self.call(self.sfn, "list_executions", **kwargs)
            except Exception:
                return None
            arns.extend(e["executionArn"] for e in page.get("executions", []))
            if not page.get("nextToken"):
                return arns
            kwargs["nextToken"] = page["nextToken"]

    # --- Batch ---------------------------------------------------------------------------------

    def describe(self, ids: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), 100):
            found.extend(
                self.call(self.batch, "describe_jobs", jobs=ids[start : start + 100]).get("jobs", [])
            )
        return found

    def list_jobs(self, **kwargs: Any) -> list[dict[str, Any]]:
        summaries: list[dict[str, Any]] = []
        kwargs = {"maxResults": 1000, **kwargs}
        while True:
            page = self.call(self.batch, "list_jobs", **kwargs)
            summaries.extend(page.get("jobSummaryList", []))
            if not page.get("nextToken"):
                return summaries
            kwargs["nextToken"] = page["nextToken"]


def phases_from_history(events: list[dict[str, Any]], top_level: list[str], stop: float) -> list[Phase]:
    """Each top-level state entered: from its first entry to its last exit (or the execution's end)."""
    spans: dict[str, list[float | None]] = {}
    status: dict[str, str] = {}
    for event in events:
        kind = event["type"]
        when = epoch(event["timestamp"]) or 0.0
        if kind.endswith("StateEntered"):
            name = (event.get("stateEnteredEventDetails") or {}).get("name")
            if name in top_level and name not in spans:
                spans[name] = [when, None]
        elif kind.endswith("StateExited"):
            name = (event.get("stateExitedEventDetails") or {}).get("name")
            if name in spans:
                spans[name][1] = when
        elif kind in ("MapStateFailed", "TaskFailed", "ExecutionFailed", "MapRunFailed"):
            for name, (_, end) in spans.items():
                if end is None:
                    status[name] = "FAILED"
    phases = []
    for name, (begin, end) in spans.items():
        if begin is None:
            continue
        phases.append(Phase(name, begin, end if end is not None else stop, status.get(name, "SUCCEEDED")))
    return phases


def lambda_usage(events: list[dict[str, Any]]) -> tuple[int, float]:
    """Lambda invocations and their summed duration (TaskStarted -> TaskSucceeded/Failed: an upper bound)."""
    started: dict[str, float] = {}
    count, seconds = 0, 0.0
    for event in events:
        kind = event["type"]
        details = next(
            (v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {}
        )
        if details.get("resourceType") != "lambda":
            continue
        if kind == "TaskStarted":
            started[event["id"]] = epoch(event["timestamp"]) or 0.0
        elif kind in ("TaskSucceeded", "TaskFailed", "TaskTimedOut"):
            begin = started.pop(event.get("previousEventId"), None)
            count += 1
            if begin is not None:
                seconds += max(0.0, (epoch(event["timestamp"]) or 0.0) - begin)
    return count, seconds


def collect(stack: Any, outputs: dict[str, Any], execution_arn: str) -> RunData:
    c = Collector(stack, outputs)
    described = c.call(c.sfn, "describe_execution", executionArn=execution_arn)
    start = epoch(described["startDate"]) or 0.0
    stop = epoch(described.get("stopDate")) or dt.datetime.now(dt.UTC).timestamp()
    data = RunData(
        execution_arn=execution_arn,
        name=execution_arn.rsplit(":", 1)[-1],
        status=described["status"],
        start=start,
        stop=stop,
        region=str(outputs.get("region") or stack.region),
        mode=str(outputs.get("fanout_mode", "?")),
        error=described.get("error"),
        cause=described.get("cause"),
    )
    machine = c.call(c.sfn, "describe_state_machine", stateMachineArn=described["stateMachineArn"])
    definition = json_object(machine.get("definition"))
    top_level = list((definition.get("States") or {}).keys())

    events = c.history(execution_arn)
    data.phases = phases_from_history(events, top_level, stop)
    data.transitions = sum(1 for e in events if e["type"].endswith("StateEntered"))
    data.lambda_invocations, data.lambda_seconds = lambda_usage(events)
    job_ids = batch_job_ids(events)
    complete = True  # every job id came from a history

    _map_runs(c, data, job_ids, execution_arn)
    complete = not any("not read" in note or "sampled" in note for note in data.notes)

    rows: dict[str, JobRow] = {}
    if complete:
        unique = list(dict.fromkeys(job_ids))
        chosen = evenly(unique, MAX_DESCRIBED)
        if len(chosen) < len(unique):
            data.notes.append(
                f"{len(chosen):,} of {len(unique):,} jobs described (evenly sampled); counts are exact"
            )
        for job in c.describe(chosen):
            rows[job["jobId"]] = job_row(job)
    else:
        rows = _jobs_from_queue(c, data, outputs)
    data.jobs = sorted(rows.values(), key=lambda j: (j.created or 0.0, j.name))

    _children(c, data)
    _failures(c, data, outputs)
    _resources(c, data, outputs)
    _s3_requests(data)
    data.api_calls = dict(c.calls)
    return data


def _map_runs(c: Collector, data: RunData, job_ids: list[str], execution_arn: str) -> None:
    try:
        runs = c.call(c.sfn, "list_map_runs", executionArn=execution_arn).get("mapRuns", [])
    except Exception:
        runs = []
    data.map_runs = len(runs)
    for run in runs:
        described = c.call(c.sfn, "describe_map_run", mapRunArn=run["mapRunArn"])
        total = int((described.get("executionCounts") or {}).get("total") or 0)
        data.child_executions += total
        children = c.child_executions(run["mapRunArn"])
        if children is None:
            data.notes.append(
                f"the Map Run's {total:,} child executions could not be listed here, so their histories "
                "were not read: jobs come from ListJobs on the queue; transitions are estimated"
            )
            data.transitions += total * 2
            data.transitions_estimated = True
            continue
        chosen = evenly(children, MAX_CHILD_HISTORIES)
        entered = 0
        for arn in chosen:
            history = c.history(arn)
            entered += sum(1 for e in history if e["type"].endswith("StateEntered"))
            job_ids.extend(batch_job_ids(history))
        if len(chosen) < len(children):
            data.notes.append(
                f"{len(chosen):,} of {len(children):,} child executions' histories read (evenly sampled): "
                "jobs come from ListJobs on the queue; transitions scaled from the sample"
            )
            data.transitions += round(entered * len(children) / max(1, len(chosen)))
            data.transitions_estimated = True
        else:
            data.transitions += entered


def _jobs_from_queue(c: Collector, data: RunData, outputs: dict[str, Any]) -> dict[str, JobRow]:
    """Jobs created in the stack's queue while the execution ran (ListJobs JobSummary)."""
    after = str(int((data.start - 1) * 1000))
    summaries = c.list_jobs(
        jobQueue=outputs["job_queue_name"], filters=[{"name": "AFTER_CREATED_AT", "values": [after]}]
    )
    rows: dict[str, JobRow] = {}
    for summary in summaries:
        if ":" in summary["jobId"]:  # an array child: listed from its parent below
            continue
        row = job_row(summary)
        if row.created is None or data.start - 1 <= row.created <= data.stop + 1:
            rows[row.job_id] = row
    # DescribeJobs for what a summary lacks (attempts, log stream, an array parent's status summary);
    # past MAX_DESCRIBED jobs, array parents and an even sample (the rest keep their summaries).
    ids = list(rows)
    chosen = ids if len(ids) <= MAX_DESCRIBED else evenly(ids, MAX_DESCRIBED)
    if len(chosen) < len(ids):
        extra = [i for i in ids if rows[i].array_size and i not in set(chosen)]
        chosen += extra
        data.notes.append(f"{len(chosen):,} of {len(ids):,} jobs described; the others: ListJobs summaries")
    for job in c.describe(chosen):
        rows[job["jobId"]] = job_row(job)
    return rows


def _children(c: Collector, data: RunData) -> None:
    parents = [j for j in data.jobs if j.array_size]
    if not parents:
        return
    total = sum(p.array_size for p in parents)
    listed = parents
    if total > MAX_CHILDREN:
        per_parent = max(1, total // len(parents))
        listed = evenly(parents, max(1, MAX_CHILDREN // per_parent))
        data.notes.append(
            f"array children: timestamps of {sum(p.array_size for p in listed):,} of {total:,} children "
            f"(every child of {len(listed):,} of {len(parents):,} evenly spaced batches); every batch's "
            "status counts are exact (aggregated per batch)"
        )
    for parent in listed:
        for status, count in parent.summary.items():
            if count:
                for summary in c.list_jobs(arrayJobId=parent.job_id, jobStatus=status):
                    if summary.get("status", status) == status:
                        data.children.append(job_row(summary, parent=parent.job_id))
    if listed is not parents:  # the failed children of the batches not listed, for the failure table
        for parent in parents:
            if parent not in listed and parent.summary.get("FAILED"):
                for summary in c.list_jobs(arrayJobId=parent.job_id, jobStatus="FAILED"):
                    data.children.append(job_row(summary, parent=parent.job_id))


def _failures(c: Collector, data: RunData, outputs: dict[str, Any]) -> None:
    failed = [r for r in data.item_rows() if r.status == "FAILED"]
    data.failed_total = data.item_counts().get("FAILED", 0)
    shown = failed[:MAX_FAILURE_LOGS]
    described = {j["jobId"]: job_row(j, parent=None) for j in c.describe([r.job_id for r in shown])}
    for row in shown:
        full = described.get(row.job_id, row)
        log = c.target.job_log(outputs, row.job_id, full.log_stream or row.log_stream, lines=LOG_LINES)
        data.failures.append(
            Failure(
                job_id=row.job_id,
                name=row.name or full.name,
                reason=full.reason or row.reason,
                exit_code=full.exit_code if full.exit_code is not None else row.exit_code,
                attempts=full.attempts or row.attempts,
                log_location=log.location,
                log_lines=list(log.lines),
            )
        )
    if len(failed) > len(shown):
        data.notes.append(f"failures: the first {len(shown)} of {data.failed_total:,} failed items shown")


def _resources(c: Collector, data: RunData, outputs: dict[str, Any]) -> None:
    """What billing depends on: the job definition's vCPU and memory, the compute type, Lambda memory."""
    try:
        found = c.call(c.batch, "describe_job_definitions", jobDefinitions=[outputs["job_definition_arn"]])
        definition = (found.get("jobDefinitions") or [{}])[0]
        props = definition.get("containerProperties") or {}
        requirements = {r["type"]: r["value"] for r in props.get("resourceRequirements") or []}
        data.job_vcpus = float(requirements.get("VCPU") or props.get("vcpus") or data.job_vcpus)
        data.job_memory_mib = int(requirements.get("MEMORY") or props.get("memory") or data.job_memory_mib)
        queues = c.call(c.batch, "describe_job_queues", jobQueues=[outputs["job_queue_name"]])
        order = (queues.get("jobQueues") or [{}])[0].get("computeEnvironmentOrder") or []
        if order:
            envs = c.call(
                c.batch, "describe_compute_environments", computeEnvironments=[order[0]["computeEnvironment"]]
            )
            resources = (envs.get("computeEnvironments") or [{}])[0].get("computeResources") or {}
            data.compute_type = str(resources.get("type") or data.compute_type)
    except Exception as err:  # the estimate falls back to the defaults; say so
        data.notes.append(
            f"job definition or compute environment not read ({type(err).__name__}): defaults used"
        )
    try:
        config = c.call(
            c.stack.client("lambda"),
            "get_function_configuration",
            FunctionName=outputs["generator_function_name"],
        )
        data.lambda_memory_mib = int(config.get("MemorySize") or data.lambda_memory_mib)
    except Exception:
        pass


def _s3_requests(data: RunData) -> None:
    """S3 requests of the distributed and array modes, counted from the design (an estimate).

    The generator writes one object per batch plus a manifest; the Distributed Map's ItemReader
    reads the manifest; each array child reads its batch's object once.
    """
    batches = sum(1 for j in data.jobs if j.array_size) or (data.child_executions if data.map_runs else 0)
    if "array" in data.mode:
        data.s3_puts = batches + 1
        data.s3_gets = data.items + (1 if data.map_runs else 0)
    elif data.map_runs:
        data.s3_puts = 1
        data.s3_gets = 1
