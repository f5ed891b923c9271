"""Verb ``run``: start an execution of the deployed state machine, show live progress, then a summary.

``fanout run --items N`` starts it with ``{"count": N}``; ``--input FILE`` with that file's JSON
(``{"items": [...]}`` or ``{"count": N, "template": {...}}``). The state machine and everything else
are read from Terraform's outputs for the target, so it works the same against the sandbox and AWS.
Progress counts items (array jobs count their children): total / running / succeeded / failed.
It ends with the run's item summary, as ``fanout status`` prints it: the failed items first, then the
counts. The exit code is 0 only when the execution SUCCEEDED.

Ctrl-C while it follows the execution asks whether to stop the execution or leave it running (without
a terminal to ask on, it is left running), and says how to stop or follow it later.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fanout_tools import executions, status
from fanout_tools.deploy import Stack, add_target_arguments
from fanout_tools.errors import ConfigError, FanoutError
from fanout_tools.targets import Target
from fanout_tools.targets.base import BATCH_ENDED_STATUSES

POLL_SECONDS = 0.5
SUMMARY_ROWS = 25
STOP_QUESTION = (
    "stop the execution (its queued and running Batch jobs are terminated) or leave it running? [s/L] "
)


class RunFailedError(FanoutError):
    """The execution did not succeed (the summary above says why)."""

    exit_code = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--items", type=int, default=None, help='generate N items: input {"count": N}')
    source.add_argument("--input", type=Path, default=None, help="execution input JSON file")
    parser.add_argument("--name", default=None, help="execution name (default run-<time>-<random>)")
    add_follow_arguments(parser)


def add_follow_arguments(parser: argparse.ArgumentParser) -> None:
    """How an execution is followed and summed up (``run`` and ``rerun-failed``)."""
    parser.add_argument("--timeout", type=float, default=3600.0, help="stop waiting after this many seconds")
    parser.add_argument("--no-progress", action="store_true", help="no live progress bar (plain lines)")
    status.add_view_arguments(parser)


# --- reading what is deployed ---------------------------------------------------------------------


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(
                f"the key {key!r} appears twice in one object (JSON readers disagree on which wins)"
            )
        seen[key] = value
    return seen


def _not_json_number(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number (Step Functions refuses NaN and Infinity)")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} is too large for a 64-bit float (it would become Infinity)")
    return value


def read_input_file(input_file: Path) -> Any:
    """The JSON value of ``input_file``, read as strictly as Step Functions reads an execution input:
    UTF-8, no NaN/Infinity (nor a number that overflows to it), no duplicate keys; every refusal is a
    :class:`ConfigError` saying what to fix."""
    try:
        raw = input_file.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read {input_file}: {err.strerror}", "pass an existing JSON file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{input_file} is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})",
            "save the file as UTF-8 (Step Functions takes UTF-8 JSON)",
        ) from None
    try:
        return json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_not_json_number, parse_float=_finite
        )
    except RecursionError:
        raise ConfigError(f"{input_file} nests too deeply to be read", "flatten the items") from None
    except ValueError as err:
        raise ConfigError(f"{input_file} is not valid JSON: {err}", "fix the file") from None


def input_text(payload: Any) -> str:
    """The execution input exactly as StartExecution sends it (compact UTF-8 JSON)."""
    try:
        return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise ConfigError("the input nests too deeply to be sent", "flatten the items") from None
    except ValueError as err:
        raise ConfigError(f"the input cannot be sent as JSON: {err}", "replace NaN/Infinity") from None


def execution_input(items: int | None, input_file: Path | None) -> dict[str, Any]:
    if input_file is not None:
        value = read_input_file(input_file)
        if not isinstance(value, dict):
            raise ConfigError(
                f"{input_file} must hold a JSON object",
                'use {"items": [...]} or {"count": N, "template": {...}}',
            )
        return value
    count = 25 if items is None else items
    if count < 0:
        raise ConfigError(f"--items must be 0 or more, got {count}", "pass ITEMS=N with N >= 0")
    return {"count": count}


# --- following an execution -----------------------------------------------------------------------


@dataclass
class JobInfo:
    job_id: str
    name: str = ""
    status: str = "SUBMITTED"
    exit_code: int | None = None
    size: int = 0  # array size; 0 for a plain job
    summary: dict[str, int] = field(default_factory=dict)
    log_stream: str | None = None
    reason: str | None = None
    attempts: int = 0
    work: str = ""  # what the job received: its item (Ref::item) or its batch (Ref::items_uri)


@dataclass
class Progress:
    total: int | None = None
    running: int = 0
    succeeded: int = 0
    failed: int = 0


@dataclass
class RunResult:
    execution_arn: str
    status: str
    seconds: float
    error: str | None
    cause: str | None
    output: Any
    history_events: int
    child_history_events: int
    jobs: list[JobInfo]
    progress: Progress
    map_runs: dict[str, dict[str, int]] = field(default_factory=dict)
    children_visible: bool = True
    # States entered in the parent's history: what AWS bills a Standard workflow for (one state
    # transition each, https://aws.amazon.com/step-functions/pricing/).
    states_entered: int = 0
    output_bytes: int = 0  # size of the execution's output as the service returns it
    summary: status.ItemSummary | None = None  # the SummarizeItems output, once the execution ended
    summary_error: str | None = None  # why a SummarizeItems output could not be read


class Follower:
    """Polls one execution: history (parent and Distributed Map children), then its Batch jobs."""

    def __init__(self, stack: Stack, execution_arn: str) -> None:
        self.sfn = stack.client("stepfunctions")
        self.batch = stack.client("batch")
        self.arn = execution_arn
        self.jobs: dict[str, JobInfo] = {}
        self.total: int | None = None
        self.history_events = 0
        self.states_entered = 0
        self.child_history_events = 0
        self._child_done: dict[str, int] = {}
        self.children_visible = True
        self.map_runs: dict[str, dict[str, int]] = {}
        self.summary: status.ItemSummary | None = None
        self.summary_error: str | None = None

    def history(self, arn: str) -> list[dict[str, Any]]:
        return list(executions.history_pages(self.sfn, arn))

    def _scan(self, events: list[dict[str, Any]]) -> None:
        for job_id, name in executions.submitted_batch_jobs(events):
            if job_id not in self.jobs:
                self.jobs[job_id] = JobInfo(job_id=job_id, name=name)
        for event in events:
            kind = event["type"]
            if kind == "TaskSucceeded" and self.total is None:
                details = event.get("taskSucceededEventDetails", {})
                if details.get("resourceType") == "lambda":
                    payload = executions.json_object(details.get("output")).get("Payload")
                    if isinstance(payload, dict) and isinstance(payload.get("count"), int):
                        self.total = payload["count"]

    def _children(self) -> list[str]:
        """Child executions of Distributed Map runs (empty for inline/array modes)."""
        arns: list[str] = []
        try:
            runs = self.sfn.list_map_runs(executionArn=self.arn).get("mapRuns", [])
        except Exception:
            return arns
        for run in runs:
            try:
                counts = self.sfn.describe_map_run(mapRunArn=run["mapRunArn"]).get("itemCounts", {})
                self.map_runs[run["mapRunArn"]] = dict(counts)
            except Exception:
                pass
            kwargs: dict[str, Any] = {"mapRunArn": run["mapRunArn"]}
            while True:
                try:
                    page = self.sfn.list_executions(**kwargs)
                except Exception:  # the sandbox (moto) cannot list a Map Run's children
                    self.children_visible = False
                    return arns
                arns.extend(e["executionArn"] for e in page.get("executions", []))
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
        return arns

    def poll(self) -> dict[str, Any]:
        described = self.sfn.describe_execution(executionArn=self.arn)
        events = self.history(self.arn)
        self.history_events = len(events)
        self.states_entered = sum(1 for e in events if e["type"].endswith("StateEntered"))
        self._scan(events)
        if described["status"] != "RUNNING":
            try:
                self.summary, _ = status.summary_from_events(reversed(events))
            except status.SummaryError as err:
                self.summary_error = err.message
            if self.summary:
                self.total = self.summary.count
        child_events = 0
        for child in self._children():
            if child in self._child_done:
                child_events += self._child_done[child]
                continue
            child_history = self.history(child)
            child_events += len(child_history)
            self._scan(child_history)
            if (
                child_history
                and child_history[-1]["type"].startswith("Execution")
                and (child_history[-1]["type"] != "ExecutionStarted")
            ):
                self._child_done[child] = len(child_history)
        self.child_history_events = child_events
        self._describe_jobs()
        return described

    def _describe_jobs(self) -> None:
        open_ids = [j.job_id for j in self.jobs.values() if j.status not in BATCH_ENDED_STATUSES]
        for start in range(0, len(open_ids), 100):
            for job in self.batch.describe_jobs(jobs=open_ids[start : start + 100]).get("jobs", []):
                info = self.jobs[job["jobId"]]
                info.status = job["status"]
                info.name = job.get("jobName", info.name)
                container = job.get("container") or {}
                info.exit_code = container.get("exitCode")
                info.log_stream = container.get("logStreamName")
                info.reason = job.get("statusReason")
                info.attempts = len(job.get("attempts") or [])
                parameters = job.get("parameters") or {}
                info.work = parameters.get("item") or parameters.get("items_uri") or ""
                array = job.get("arrayProperties") or {}
                if array.get("size"):
                    info.size = int(array["size"])
                    info.summary = dict(array.get("statusSummary") or {})

    def progress(self) -> Progress:
        p = Progress(total=self.total)
        for job in self.jobs.values():
            if job.size:
                p.running += job.summary.get("RUNNING", 0) + job.summary.get("STARTING", 0)
                p.succeeded += job.summary.get("SUCCEEDED", 0)
                p.failed += job.summary.get("FAILED", 0)
            elif job.status in ("RUNNING", "STARTING"):
                p.running += 1
            elif job.status == "SUCCEEDED":
                p.succeeded += 1
            elif job.status == "FAILED":
                p.failed += 1
        return p


def check_input(stack: Stack, outputs: dict[str, Any], payload: Any, text: str | None = None) -> None:
    """Refuse, before anything starts, an input Step Functions or the deployed generator would reject.

    Runs the generator's own ``validate_execution_input`` (the one the Lambda runs) with the deployed
    function's environment (mode, batch size, limits, max_items) and the input text StartExecution
    would send (``text``, default :func:`input_text`), so the payload budget, the shape, the item
    sizes and the mode's capacity are all checked without starting an execution.
    """
    from fanout_tools import generator

    handler = generator.load("handler")
    config = stack.client("lambda").get_function_configuration(
        FunctionName=outputs["generator_function_name"]
    )
    env = (config.get("Environment") or {}).get("Variables") or {}
    try:
        handler.validate_execution_input(
            payload, handler.Settings.from_env(env), input_text(payload) if text is None else text
        )
    except (handler.InvalidInputError, handler.TooManyItemsError) as err:
        raise ConfigError(
            f"{type(err).__name__}: {err}", "nothing was started; change the input or the deployment"
        ) from None


# StartExecution's own refusals (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html#API_StartExecution_Errors)
# and throttling (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-api-action-throttling-general):
# code -> (what happened, what to do).
_THROTTLED = (
    "Step Functions throttled StartExecution (the SDK's retries ran out)",
    "wait a few seconds and run again; fewer runs at once",
)
START_REFUSALS: dict[str, tuple[str, str]] = {
    "InvalidExecutionInput": (
        "Step Functions refused the execution input",
        "keep it valid JSON under 256 KiB (sfn_payload_bytes): fewer items, a template, or S3 URIs",
    ),
    "ExecutionLimitExceeded": (
        "the account has as many open executions as it may",
        "wait for running executions to end, or stop some (aws stepfunctions list-executions "
        "--status-filter RUNNING)",
    ),
    "StateMachineDoesNotExist": ("the state machine does not exist", "deploy it with `make apply`"),
    "StateMachineDeleting": ("the state machine is being deleted", "deploy it again with `make apply`"),
    "ExecutionAlreadyExists": ("an execution of that name already exists", "pick another --name"),
    "InvalidName": ("the execution name is not valid", "use 1-80 letters, digits, - or _ in --name"),
    "InvalidArn": ("the state machine ARN is not valid", "redeploy with `make apply`"),
    # the two codes Step Functions throttles with
    "ThrottlingException": _THROTTLED,
    "TooManyRequestsException": _THROTTLED,
}


def start_execution(
    stack: Stack,
    outputs: dict[str, Any],
    payload: dict[str, Any],
    name: str | None = None,
    text: str | None = None,
) -> str:
    """Start the execution with ``text`` (default :func:`input_text` of ``payload``); its refusals are
    one-line :class:`FanoutError`s saying what to do."""
    from botocore.exceptions import BotoCoreError, ClientError

    sfn = stack.client("stepfunctions")
    name = name or generated_name()
    body = input_text(payload) if text is None else text
    try:
        response = sfn.start_execution(stateMachineArn=outputs["state_machine_arn"], name=name, input=body)
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        detail = str(err.response.get("Error", {}).get("Message", "")).strip()
        what, todo = START_REFUSALS.get(code, (f"StartExecution failed ({code or 'unknown error'})", ""))
        raise FanoutError(
            f"{what}: {code}" + (f": {detail}" if detail else ""),
            ("nothing was started; " + todo) if todo else "nothing was started",
        ) from None
    except BotoCoreError as err:
        raise FanoutError(
            f"cannot reach Step Functions to start the execution: {err}",
            "check the network or that the sandbox runs (`make sandbox-up`), then run again",
        ) from None
    return str(response["executionArn"])


def generated_name(prefix: str = "run") -> str:
    """A fresh execution name: ``<prefix>-<time>-<random>``."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def follow(
    stack: Stack,
    execution_arn: str,
    timeout: float = 3600.0,
    on_poll: Any = None,
    poll_seconds: float = POLL_SECONDS,
) -> RunResult:
    """Poll until the execution ends (or ``timeout``); ``on_poll(follower, described, elapsed)`` each time."""
    follower = Follower(stack, execution_arn)
    started = time.monotonic()
    while True:
        polled = time.monotonic()
        described = follower.poll()
        cost = time.monotonic() - polled
        elapsed = time.monotonic() - started
        if on_poll:
            on_poll(follower, described, elapsed)
        if described["status"] != "RUNNING":
            break
        if elapsed > timeout:
            name = execution_arn.rsplit(":", 1)[-1]
            raise RunFailedError(
                f"the execution is still running after {timeout:.0f} s: {execution_arn}",
                f"wait longer with --timeout; follow it: `{stack.hint(f'status EXECUTION={name}')}`; "
                f"stop it: `{stack.hint(f'stop EXECUTION={name}')}`",
            )
        # Reading a long history is work for the service too: poll less often as it grows.
        time.sleep(max(poll_seconds, 3 * cost))
    # one more pass so the last job statuses are in
    follower.poll()
    start, stop = described.get("startDate"), described.get("stopDate")
    seconds = (stop - start).total_seconds() if start and stop else time.monotonic() - started
    return RunResult(
        execution_arn=execution_arn,
        status=described["status"],
        seconds=seconds,
        error=described.get("error"),
        cause=described.get("cause"),
        output=executions.json_object(described.get("output")) if described.get("output") else None,
        history_events=follower.history_events,
        child_history_events=follower.child_history_events,
        jobs=list(follower.jobs.values()),
        progress=follower.progress(),
        map_runs=follower.map_runs,
        children_visible=follower.children_visible,
        states_entered=follower.states_entered,
        output_bytes=len((described.get("output") or "").encode()),
        summary=follower.summary,
        summary_error=follower.summary_error,
    )


# --- showing it -----------------------------------------------------------------------------------


def summary_lines(
    target: Target,
    outputs: dict[str, Any],
    result: RunResult,
    limit: int = status.DEFAULT_LIMIT,
    log_lines: int = status.DEFAULT_LOG_LINES,
) -> list[str]:
    """The end of ``fanout run``: the execution, then its item summary as ``fanout status`` prints it
    (failures first, then the counts); a run without a summary lists its jobs instead."""
    p = result.progress
    lines = [
        f"execution: {result.execution_arn}",
        f"status: {result.status} in {result.seconds:.1f} s",
        f"history events: {result.history_events} (limit 25,000)"
        + (f"; child executions: {result.child_history_events}" if result.child_history_events else ""),
    ]
    if result.summary is not None:
        error = [f"error: {result.error}"] if result.error else []
        return [
            *lines,
            *error,
            *status.summary_lines(target, outputs, result.summary, None, limit, log_lines),
        ]
    lines.insert(
        2,
        f"items: {_or_dash(p.total, '?')} total, "
        + (
            f"{p.succeeded} succeeded, {p.failed} failed"
            if result.children_visible or result.jobs
            else "per-item results are in the Map Run's child executions"
        ),
    )
    for arn, counts in result.map_runs.items():
        lines.append(
            f"map run {arn.rsplit(':', 2)[-2]}: {counts.get('succeeded', 0)}/{counts.get('total', 0)} child "
            f"executions succeeded, {counts.get('failed', 0)} failed"
        )
    if not result.children_visible:
        lines.append("  (this account cannot list a Map Run's child executions: their jobs are not shown)")
    if result.error:
        lines.append(f"error: {result.error}")
    if result.cause:
        cause = result.cause if len(result.cause) <= 400 else result.cause[:400] + "..."
        lines.append(f"cause: {cause}")
    if result.summary_error:
        lines.append(f"no item summary: {result.summary_error}")
    ordered = sorted(result.jobs, key=lambda j: (j.status == "SUCCEEDED", _index(j.name), j.name))
    if ordered:
        lines.append("jobs (name, job id, status, exit code, attempts, what it received, log):")
    for job in ordered[:SUMMARY_ROWS]:
        size = f" array x{job.size} {job.summary}" if job.size else ""
        log = target.job_log(outputs, job.job_id, job.log_stream, array=bool(job.size))
        lines.append(
            f"  {job.name or '-'}  {job.job_id}  {job.status}  exit={_or_dash(job.exit_code)}"
            f"  attempts={job.attempts}{size}  {_short(job.work)}  {log.location}"
        )
        if job.status == "FAILED":
            lines.extend(f"      | {line}" for line in log.lines)
    if len(ordered) > SUMMARY_ROWS:
        lines.append(f"  ... {len(ordered) - SUMMARY_ROWS} more jobs (all of them in the results file below)")
    lines.append(target.logs_hint(outputs))
    return lines


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _or_dash(value: object, dash: str = "-") -> str:
    return dash if value is None else str(value)


def _index(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def save_results(result: RunResult) -> Path:
    from fanout_tools.paths import runtime_dir

    folder = runtime_dir() / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.execution_arn.rsplit(':', 1)[-1]}.json"
    body = {
        "execution_arn": result.execution_arn,
        "status": result.status,
        "seconds": result.seconds,
        "error": result.error,
        "cause": result.cause,
        "history_events": result.history_events,
        "child_history_events": result.child_history_events,
        "progress": result.progress.__dict__,
        "jobs": [j.__dict__ for j in result.jobs],
    }
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")
    return path


def run(args: argparse.Namespace) -> int:
    from fanout_tools.deploy import deployed

    payload = execution_input(args.items, args.input)
    stack, outputs = deployed(args)
    return launch(stack, outputs, payload, args.name, args)


def launch(
    stack: Stack, outputs: dict[str, Any], payload: dict[str, Any], name: str | None, args: argparse.Namespace
) -> int:
    """Check the input, start the execution, record it as the stack's last run, follow it, sum it up.

    ``args`` carries the follow arguments (:func:`add_follow_arguments`). Shared by ``run`` and
    ``rerun-failed``. Raises :class:`RunFailedError` unless the execution SUCCEEDED.
    """
    text = input_text(payload)
    check_input(stack, outputs, payload, text)
    arn = start_execution(stack, outputs, payload, name, text)
    try:
        mode = outputs.get("fanout_mode", "?")
        print(f"started {arn.rsplit(':', 1)[-1]} on {stack.target.name} ({mode} mode)")
        executions.record_last_run(stack, arn)
        result = _follow(stack, arn, args.timeout, live=not args.no_progress and sys.stdout.isatty())
    except KeyboardInterrupt:
        return interrupted(stack, outputs, arn)
    for line in summary_lines(stack.target, outputs, result, args.limit, args.log_lines):
        print(line)
    print(f"results: {save_results(result)}")
    print(f"next: `{stack.hint('report')}` for the HTML run report (timeline, throughput, failures, cost)")
    if result.status != "SUCCEEDED":
        raise failed_error(stack, result)
    return 0


def failed_error(stack: Stack, result: RunResult) -> RunFailedError:
    """Why the run did not succeed, and what to do next."""
    name = result.execution_arn.rsplit(":", 1)[-1]
    summary = result.summary
    if summary is not None and (
        result.error == executions.ITEMS_FAILED_ERROR or summary.outcome == executions.ITEMS_FAILED_OUTCOME
    ):
        return RunFailedError(
            f"the execution {result.status}: {executions.ITEMS_FAILED_ERROR}: "
            f"{summary.failed:,} of {summary.count:,} items failed",
            f"the failed items are listed above (again: `{stack.hint(f'status EXECUTION={name}')}`); "
            f"rerun just them: `{stack.hint(f'rerun-failed EXECUTION={name}')}`",
        )
    return RunFailedError(
        f"the execution {result.status}" + (f": {result.error}" if result.error else ""),
        "see the error, cause and job logs above",
    )


def _follow(stack: Stack, arn: str, timeout: float, live: bool) -> RunResult:
    if live:
        return _follow_with_bar(stack, arn, timeout)
    last = [0.0]

    def plain(follower: Follower, described: dict[str, Any], elapsed: float) -> None:
        if elapsed - last[0] >= 5 or described["status"] != "RUNNING":
            last[0] = elapsed
            p = follower.progress()
            print(
                f"  {elapsed:6.1f} s  {described['status']}  items {_or_dash(p.total, '?')}"
                f"  running {p.running}  succeeded {p.succeeded}  failed {p.failed}",
                flush=True,
            )

    return follow(stack, arn, timeout, on_poll=plain)


def interrupted(stack: Stack, outputs: dict[str, Any], arn: str) -> int:
    """Ctrl-C while following: stop the execution or leave it running (asked on a terminal only).

    A second Ctrl-C (or end of input) during the question leaves it running. Returns the exit code, 130.
    """
    name = arn.rsplit(":", 1)[-1]
    print(flush=True)  # the progress line was interrupted mid-way
    if sys.stdin.isatty():
        try:
            answer = input(STOP_QUESTION)
        except (KeyboardInterrupt, EOFError):
            print()
            answer = ""
        if answer.strip().lower() in ("s", "stop"):
            from fanout_tools import stop

            print(f"stopping {name} ...", flush=True)
            try:
                stopped = stop.stop_execution(stack, outputs, arn, "stopped from fanout run (Ctrl-C)")
            except KeyboardInterrupt:
                print(
                    f"interrupted while stopping {name}; whether it stopped: "
                    f"`{stack.hint(f'status EXECUTION={name}')}`"
                )
                return 130
            for line in stopped.lines():
                print(line)
            print(f"what its items did: `{stack.hint(f'status EXECUTION={name}')}`")
            return 130
        print(f"left {name} running")
    else:
        print(f"interrupted: {name} keeps running (stdin is not a terminal, so nothing was asked)")
    print(f"  stop it:   `{stack.hint(f'stop EXECUTION={name}')}`")
    print(f"  follow it: `{stack.hint(f'status EXECUTION={name}')}`")
    return 130


def _follow_with_bar(stack: Stack, arn: str, timeout: float) -> RunResult:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.fields[total_text]} done"),
        TextColumn("running {task.fields[running]}  ok {task.fields[ok]}  failed {task.fields[failed]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("items", total=None, total_text="?", running=0, ok=0, failed=0)

        def update(follower: Follower, described: dict[str, Any], elapsed: float) -> None:
            p = follower.progress()
            bar.update(
                task,
                description=described["status"].lower(),
                total=p.total,
                completed=p.succeeded + p.failed,
                total_text=str(p.total) if p.total is not None else "?",
                running=p.running,
                ok=p.succeeded,
                failed=p.failed,
            )

        return follow(stack, arn, timeout, on_poll=update)
