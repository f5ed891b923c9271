"""Verb ``status``: what happened to an execution's items: the failed ones first (where, why, the end of
their logs), then the counts.

EXECUTION is a name or ARN (default: the stack's last run). The item summary is the output of the
``SummarizeItems`` state (:data:`fanout_tools.executions.SUMMARY_STATE`), read from the end of the
execution's history, so it is found whether the run succeeded or failed with ``ItemsFailed``. The summary
carries the first records by index; a run with more failures names a JSON Lines file in S3 holding every
record, which is streamed (only what is shown is read, except with ``--json``). ``fanout run`` and
``fanout rerun-failed`` end with the same lines (:func:`summary_lines`): whatever the run's size, the
output is bounded by ``--limit`` and ``--log-lines``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import IO, TYPE_CHECKING, Any

from fanout_tools.deploy import add_target_arguments
from fanout_tools.errors import FanoutError
from fanout_tools.executions import SUMMARY_STATE, add_execution_argument, history_pages

if TYPE_CHECKING:
    from fanout_tools.deploy import Stack
    from fanout_tools.targets import Target

DEFAULT_LIMIT = 20
DEFAULT_LOG_LINES = 5
LINE_WIDTH = 240  # characters of one printed line: a log line or a status reason can be any length
# The SummarizeItems exit is among the last few events (only a Choice and a Fail state or the end follow
# it), so one reversed page of history is enough to find it or to know it is not there.
SCAN_EVENTS = 1000
MISMATCH_HINT = "deploy the state machine and this checkout's tooling from the same commit (`make apply`)"
# C0 control characters and DEL become spaces: a log line must not move the cursor or recolour the terminal.
_CONTROL = {code: " " for code in [*range(0x20), 0x7F] if code != 0x09}


class SummaryError(FanoutError):
    """The summary (or a failed-items file) cannot be read."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    add_execution_argument(parser, "show")
    add_view_arguments(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the execution's status and summary, with every failed-item record, as one JSON object",
    )


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    """``--limit`` and ``--log-lines``: how much of the failures the summary shows (status, run, rerun)."""
    parser.add_argument(
        "--limit",
        type=_non_negative,
        default=DEFAULT_LIMIT,
        help=f"show at most this many failed items (default {DEFAULT_LIMIT})",
    )
    parser.add_argument(
        "--log-lines",
        type=_non_negative,
        default=DEFAULT_LOG_LINES,
        help=f"last lines of each failed item's log (default {DEFAULT_LOG_LINES})",
    )


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


# --- the summary ----------------------------------------------------------------------------------


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class FailedItem:
    """One failed-item record of the summary (or of its failed-items file)."""

    index: int | None
    item: Any
    batch: int | None
    job_id: str | None
    attempts: int | None
    exit_code: int | None
    status_reason: str | None
    log_stream: str | None
    error: str | None
    item_omitted: bool = False  # the item was too large to be repeated in the summary

    @classmethod
    def parse(cls, raw: Any) -> FailedItem:
        """A record as the summary writes it; a field of the wrong type reads as unknown (None)."""
        if not isinstance(raw, dict):
            raise SummaryError(
                f"a failed-item record is {type(raw).__name__}, not a JSON object",
                MISMATCH_HINT,
            )
        return cls(
            index=as_int(raw.get("index")),
            item=raw.get("item"),
            batch=as_int(raw.get("batch")),
            job_id=_text(raw.get("job_id")),
            attempts=as_int(raw.get("attempts")),
            exit_code=as_int(raw.get("exit_code")),
            status_reason=_text(raw.get("status_reason")),
            log_stream=_text(raw.get("log_stream")),
            error=_text(raw.get("error")),
            item_omitted=raw.get("item_omitted") is True,
        )


@dataclass(frozen=True)
class ItemSummary:
    """The SummarizeItems output: the run's item counts and its failures (the first records by index)."""

    execution: str
    mode: str
    count: int
    succeeded: int
    failed: int
    tolerated_failure_count: int | None
    tolerated_failure_percentage: float | None
    outcome: str
    cause: str
    records: tuple[dict[str, Any], ...]  # failed_items as written (``--json`` prints them as they are)
    failed_items_uri: str | None
    rerun_of: str | None
    raw: dict[str, Any]

    @classmethod
    def parse(cls, value: Any) -> ItemSummary:
        if isinstance(value, dict) and "outcome" not in value and isinstance(value.get("Payload"), dict):
            value = value["Payload"]  # a Lambda task's whole result, not just the function's
        if not isinstance(value, dict):
            raise SummaryError(
                f"the {SUMMARY_STATE} output is {type(value).__name__}, not a JSON object",
                MISMATCH_HINT,
            )
        counts = {key: as_int(value.get(key)) for key in ("count", "succeeded", "failed")}
        missing = [key for key, number in counts.items() if number is None or number < 0]
        records = value.get("failed_items") or []
        if missing or not isinstance(records, list):
            what = ", ".join(missing) if missing else "failed_items"
            raise SummaryError(
                f"the {SUMMARY_STATE} output has no valid {what}: it is not the run summary this tool reads",
                MISMATCH_HINT,
            )
        percentage = value.get("tolerated_failure_percentage")
        uri = value.get("failed_items_uri")
        rerun_of = value.get("rerun_of")
        return cls(
            execution=str(value.get("execution") or ""),
            mode=str(value.get("mode") or ""),
            count=counts["count"] or 0,
            succeeded=counts["succeeded"] or 0,
            failed=counts["failed"] or 0,
            tolerated_failure_count=as_int(value.get("tolerated_failure_count")),
            tolerated_failure_percentage=(
                percentage
                if isinstance(percentage, int | float) and not isinstance(percentage, bool)
                else None
            ),
            outcome=str(value.get("outcome") or ""),
            cause=str(value.get("cause") or ""),
            records=tuple(records),
            failed_items_uri=uri if isinstance(uri, str) and uri else None,
            rerun_of=rerun_of if isinstance(rerun_of, str) and rerun_of else None,
            raw=value,
        )

    @property
    def failed_items(self) -> list[FailedItem]:
        return [FailedItem.parse(r) for r in self.records]


def summary_from_events(
    events_newest_first: Iterable[dict[str, Any]],
) -> tuple[ItemSummary | None, str | None]:
    """(the summary, the last state entered) from history events, newest first.

    The summary is the output of the SummarizeItems state's exit event; None when it never exited.
    """
    last_state: str | None = None
    for event in events_newest_first:
        if last_state is None and "stateEnteredEventDetails" in event:
            last_state = event["stateEnteredEventDetails"].get("name")
        details = event.get("stateExitedEventDetails")
        if event["type"].endswith("StateExited") and details and details.get("name") == SUMMARY_STATE:
            try:
                value = json.loads(details.get("output") or "null")
            except ValueError:
                raise SummaryError(
                    f"the {SUMMARY_STATE} output is not JSON"
                    + (
                        " (the history truncated it)"
                        if (details.get("outputDetails") or {}).get("truncated")
                        else ""
                    ),
                    MISMATCH_HINT,
                ) from None
            return ItemSummary.parse(value), SUMMARY_STATE
    return None, last_state


# --- the execution --------------------------------------------------------------------------------


@dataclass
class ExecutionView:
    """What DescribeExecution says of an execution, plus its item summary when it has one."""

    arn: str
    name: str
    status: str
    error: str | None = None
    cause: str | None = None
    input: str | None = None
    started: dt.datetime | None = None
    stopped: dt.datetime | None = None
    summary: ItemSummary | None = None
    last_state: str | None = None  # the last state entered (where an execution without a summary ended)

    @property
    def seconds(self) -> float | None:
        if self.started and self.stopped:
            return (self.stopped - self.started).total_seconds()
        return None


def describe(sfn: Any, arn: str) -> dict[str, Any]:
    """DescribeExecution; an unknown execution or an unreachable service is a one-line error."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = arn.rsplit(":", 1)[-1]
    try:
        return dict(sfn.describe_execution(executionArn=arn))
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code in ("ExecutionDoesNotExist", "InvalidArn"):
            raise FanoutError(
                f"no execution {name} on this stack's state machine ({code})",
                "check the name (without EXECUTION, the stack's last run is used)",
            ) from None
        raise FanoutError(f"cannot describe the execution {name}: {code}: {err}", "run again") from None
    except BotoCoreError as err:
        raise FanoutError(
            f"cannot reach Step Functions: {err}",
            "check the network or that the sandbox runs (`make sandbox-up`), then run again",
        ) from None


def read_execution(sfn: Any, arn: str) -> ExecutionView:
    """The execution and, once it has ended, its summary (one reversed history page at most)."""
    described = describe(sfn, arn)
    view = ExecutionView(
        arn=arn,
        name=str(described.get("name") or arn.rsplit(":", 1)[-1]),
        status=str(described["status"]),
        error=described.get("error"),
        cause=described.get("cause"),
        input=described.get("input"),
        started=described.get("startDate"),
        stopped=described.get("stopDate"),
    )
    if view.status != "RUNNING":
        view.summary, view.last_state = summary_from_events(
            islice(history_pages(sfn, arn, reverse=True), SCAN_EVENTS)
        )
    return view


# --- failed-item records --------------------------------------------------------------------------


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise SummaryError(f"the failed-items location {uri!r} is not an s3:// URI", "run `make apply` again")
    return bucket, key


def open_records(stack: Stack, uri: str) -> Iterator[dict[str, Any]]:
    """Every record of a failed-items file, streamed line by line (the file may hold millions).

    The object is opened here, before the first record is asked for, so a missing file or a refused
    read is an error before anything is printed.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_uri(uri)
    try:
        body = stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        raise SummaryError(
            f"cannot read the failed-items file {uri}: {code or err}",
            "it is deleted with the stack's bucket (or its lifecycle rules); check that the stack is the "
            "one that ran the execution (--var-file) and that you may read its bucket",
        ) from None
    except BotoCoreError as err:
        raise SummaryError(f"cannot reach S3 to read {uri}: {err}", "run again") from None
    return _lines(body, uri)


def _lines(body: Any, uri: str) -> Iterator[dict[str, Any]]:
    try:
        for number, line in enumerate(body.iter_lines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise SummaryError(f"line {number} of {uri} is not JSON", "run `make apply` again") from None
            if not isinstance(record, dict):
                raise SummaryError(f"line {number} of {uri} is not a JSON object", "run `make apply` again")
            yield record
    finally:
        body.close()


def failed_records(stack: Stack, summary: ItemSummary, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The failed-item records by index: all of them (``limit`` None) or the first ``limit``.

    The summary's own records when they are enough; else the failed-items file, when the run wrote one.
    """
    enough = summary.failed <= len(summary.records) or (limit is not None and limit <= len(summary.records))
    if enough or not summary.failed_items_uri:
        return iter(summary.records[:limit])
    return islice(open_records(stack, summary.failed_items_uri), limit)


# --- what is printed ------------------------------------------------------------------------------


def one_line(value: Any, width: int = LINE_WIDTH) -> str:
    """``value`` as one bounded line (no control characters)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.translate(_CONTROL)
    return text if len(text) <= width else text[: width - 3] + "..."


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def _percent(value: float) -> str:
    return f"{value:g}%"


def counts_line(summary: ItemSummary) -> str:
    """E.g. ``2 of 10 items failed; 8 succeeded; tolerated 0 items / 0%; outcome ITEMS_FAILED``."""
    tolerated = [
        *(
            [f"{summary.tolerated_failure_count:,} items"]
            if summary.tolerated_failure_count is not None
            else []
        ),
        *(
            [_percent(summary.tolerated_failure_percentage)]
            if summary.tolerated_failure_percentage is not None
            else []
        ),
    ]
    return (
        f"{summary.failed:,} of {summary.count:,} items failed; {summary.succeeded:,} succeeded; "
        f"tolerated {' / '.join(tolerated) or 'none'}; outcome {summary.outcome or '-'}"
    )


def failure_block(target: Target, outputs: dict[str, Any], record: FailedItem, log_lines: int) -> list[str]:
    """One failed item: where it ran, why it failed, where its log is and the log's last lines."""
    where = f"item {_dash(record.index)}" + (f" (batch {record.batch})" if record.batch is not None else "")
    lines = [
        one_line(
            f"  {where}  job {record.job_id or '- (never submitted)'}  attempts {_dash(record.attempts)}"
            f"  exit code {_dash(record.exit_code)}"
        ),
        one_line(f"    error: {_dash(record.error)}  reason: {_dash(record.status_reason)}"),
    ]
    if record.item is not None:
        lines.append(one_line(f"    input: {one_line(record.item)}"))
    elif record.item_omitted:
        lines.append("    input: (too large to be repeated in the summary)")
    if not record.job_id:
        lines.append("    log: none (no job ran)")
        return lines
    # lines=0 would mean "the whole log" to a slice: ask for one and show none.
    log = target.job_log(outputs, record.job_id, record.log_stream, array=False, lines=max(log_lines, 1))
    lines.append(one_line(f"    log: {log.location}"))
    tail = log.lines[-log_lines:] if log_lines else ()
    lines.extend(one_line(f"      | {line}") for line in tail)
    return lines


def more_line(summary: ItemSummary, shown: int, target_name: str) -> str | None:
    """What to do about the failures not shown (None when every one is)."""
    more = summary.failed - shown
    if more <= 0:
        return None
    command = f"fanout status --target {target_name} {summary.execution or '<execution>'}"
    if summary.failed_items_uri:
        where = f"every record is in {summary.failed_items_uri} (`{command} --json` prints them all)"
    elif len(summary.records) > shown:
        where = f"`{command} --limit {len(summary.records)}` shows them"
    else:
        where = (
            f"the summary keeps the first {len(summary.records):,} by index; "
            f"`fanout report --target {target_name} {summary.execution}` lists every failed job"
        )
    return one_line(f"  ... and {more:,} more: {where}", width=2 * LINE_WIDTH)


def summary_lines(
    target: Target,
    outputs: dict[str, Any],
    summary: ItemSummary,
    records: Iterable[dict[str, Any]] | None = None,
    limit: int = DEFAULT_LIMIT,
    log_lines: int = DEFAULT_LOG_LINES,
) -> list[str]:
    """Failures first (at most ``limit`` blocks), then the counts: at most
    ``3 + limit * (4 + log_lines)`` lines, whatever the number of failures."""
    shown = [FailedItem.parse(r) for r in islice(summary.records if records is None else records, limit)]
    lines: list[str] = []
    if shown:
        lines.append(f"failed items (the first {len(shown):,} of {summary.failed:,}, by index):")
        for record in shown:
            lines.extend(failure_block(target, outputs, record, log_lines))
    more = more_line(summary, len(shown), target.name)
    if more:
        lines.append(more)
    lines.append(counts_line(summary))
    if summary.rerun_of:
        lines.append(f"rerun of {summary.rerun_of}")
    return lines


def _ended(view: ExecutionView) -> str:
    error = f" ({view.error})" if view.error else ""
    took = f" after {view.seconds:.1f} s" if view.seconds is not None else ""
    return f"execution {view.name}: {view.status}{error}{took}"


def _cause(cause: str | None) -> str:
    return one_line(f"cause: {cause}", width=2 * LINE_WIDTH)


def view_lines(
    stack: Stack, outputs: dict[str, Any], view: ExecutionView, limit: int, log_lines: int
) -> list[str]:
    """``fanout status``: the whole text for one execution, whatever its state."""
    name = view.name
    if view.status == "RUNNING":
        return _running_lines(stack, view)
    if view.summary is None:
        return _no_summary_lines(stack, view)
    summary = view.summary
    lines = [_ended(view) + (f", {summary.mode} mode" if summary.mode else "")]
    try:
        shown = list(failed_records(stack, summary, limit))
    except SummaryError as err:  # the summary's own records are still worth showing
        lines.append(one_line(f"note: {err.message}; showing the summary's first {len(summary.records)}"))
        shown = list(summary.records[:limit])
    lines.extend(summary_lines(stack.target, outputs, summary, shown, limit, log_lines))
    if summary.failed:
        lines.append(f"rerun just the failed items: `{stack.hint(f'rerun-failed EXECUTION={name}')}`")
    return lines


def _running_lines(stack: Stack, view: ExecutionView) -> list[str]:
    from fanout_tools.run import Follower

    follower = Follower(stack, view.arn)
    follower.poll()
    p = follower.progress()
    since = ""
    if view.started:
        since = f" (started {view.started:%Y-%m-%d %H:%M:%S}, {_ago(view.started):.0f} s ago)"
    return [
        f"execution {view.name}: RUNNING{since}",
        f"items so far: {'?' if p.total is None else f'{p.total:,}'} total, {p.running:,} running, "
        f"{p.succeeded:,} succeeded, {p.failed:,} failed",
        f"its failed items are listed once it ends: `{stack.hint(f'status EXECUTION={view.name}')}` again "
        f"then; stop it now: `{stack.hint(f'stop EXECUTION={view.name}')}`",
    ]


def _ago(started: dt.datetime) -> float:
    now = dt.datetime.now(started.tzinfo) if started.tzinfo else dt.datetime.now()
    return max((now - started).total_seconds(), 0.0)


def _no_summary_lines(stack: Stack, view: ExecutionView) -> list[str]:
    lines = [_ended(view)]
    if view.cause:
        lines.append(_cause(view.cause))
    if view.status == "SUCCEEDED":
        why = (
            f"its state machine had no {SUMMARY_STATE} state (the execution started before the deployed "
            "definition had one)"
        )
    elif view.last_state == SUMMARY_STATE:
        why = f"the {SUMMARY_STATE} state itself failed (see the error above)"
    elif view.last_state:
        why = f"it ended in the state {view.last_state}, before {SUMMARY_STATE} ran"
    else:
        why = "it ended before any state ran"
    lines.append(f"no item summary exists: {why}")
    lines.append(f"its jobs, if any ran: `{stack.hint(f'report EXECUTION={view.name}')}`")
    return lines


# --- JSON -----------------------------------------------------------------------------------------


def write_json(
    out: IO[str], view: ExecutionView, records: Iterable[dict[str, Any]], progress: Any = None
) -> None:
    """One JSON object: the execution's status and its summary with every record in ``failed_items``.

    Written record by record (a failed-items file may hold millions): nothing is held but one record.
    """
    head = {
        "execution": view.name,
        "execution_arn": view.arn,
        "status": view.status,
        "error": view.error,
        "cause": view.cause,
        "progress": progress,
    }
    if view.summary is None:
        out.write(json.dumps({**head, "summary": None}) + "\n")
        return
    body = {key: value for key, value in view.summary.raw.items() if key != "failed_items"}
    out.write(json.dumps(head)[:-1] + ', "summary": ' + json.dumps(body)[:-1])
    out.write((", " if body else "") + '"failed_items": [')
    for number, record in enumerate(records):
        out.write((", " if number else "") + json.dumps(record))
    out.write("]}}\n")


# --- the verb -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from fanout_tools.deploy import deployed
    from fanout_tools.executions import resolve

    stack, outputs = deployed(args)
    arn = resolve(stack, outputs, args.execution)
    view = read_execution(stack.client("stepfunctions"), arn)
    if args.json:
        progress = None
        if view.status == "RUNNING":
            from fanout_tools.run import Follower

            follower = Follower(stack, arn)
            follower.poll()
            progress = follower.progress().__dict__
        records = failed_records(stack, view.summary) if view.summary else iter(())
        write_json(sys.stdout, view, records, progress)
        return 0
    for line in view_lines(stack, outputs, view, args.limit, args.log_lines):
        print(line)
    return 0
