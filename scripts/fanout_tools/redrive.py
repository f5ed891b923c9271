"""Verb ``redrive``: resume an execution where it stopped, timed out or failed, then follow it.

EXECUTION is a name or ARN (default: the stack's last run). Step Functions' RedriveExecution continues
the execution under the same ARN from its unsuccessful step, with the same input; steps that succeeded
are not run again, and in a Map only the iterations that failed or were aborted are, and a failed Map
Run is redriven with its parent
(https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html).

In this stack every item is attempted and an item's failure is caught in its own iteration, so a run
whose items failed ends at its final check with ``ItemsFailed``: redriving it would only repeat that
check. Such a run is refused, pointing at ``fanout rerun-failed``, which reruns exactly its failed
items. Redrive is for runs that were stopped (ABORTED), timed out, or failed outside the items (the
generator, a Map Run, a service error). Whether AWS can redrive the execution is read first from
DescribeExecution (``redriveStatus``/``redriveStatusReason``) and said as what to do instead.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fanout_tools.deploy import add_target_arguments
from fanout_tools.errors import FanoutError
from fanout_tools.executions import add_execution_argument

if TYPE_CHECKING:
    from fanout_tools.deploy import Stack

START_WAIT_SECONDS = 10.0  # how long to wait for the redriven execution to report RUNNING
POLL_SECONDS = 0.5
TOKEN_PREFIX = "fanout-redrive"
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html (clientToken)
TOKEN_LIMIT = 64

# AWS's redriveStatusReason texts (DescribeExecution), matched by a part of each, and what they mean.
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html
NOT_REDRIVABLE_REASONS: tuple[tuple[str, str], ...] = (
    ("deleting", "its state machine is being deleted"),
    ("before the launch", "it started before Step Functions could redrive executions"),
    ("event limit", "its history reached the 25,000-event limit, so a redrive has no room for events"),
    ("max execution time", "it ran past the longest time an execution may take"),
    ("redrivable period", "it ended more than 14 days ago, past the period an execution can be redriven in"),
)


class RedriveRefused(FanoutError):
    """The execution cannot (or should not) be redriven; the hint says what to do instead."""


@dataclass(frozen=True)
class Redriven:
    """A redrive that was started."""

    execution_arn: str
    status_before: str
    redrive_count: int  # this redrive's number (1 for the first)

    @property
    def name(self) -> str:
        return self.execution_arn.rsplit(":", 1)[-1]


def _name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


def _instead(stack: Stack, name: str) -> str:
    return (
        f"rerun its failed items as a new execution: `{stack.hint(f'rerun-failed EXECUTION={name}')}`, "
        f"or start a new run: `{stack.hint('run')}`"
    )


def refusal(stack: Stack, described: dict[str, Any]) -> RedriveRefused | None:
    """Why ``described`` (a DescribeExecution answer) must not be redriven, or None when it may be."""
    from fanout_tools.executions import ITEMS_FAILED_ERROR

    name = str(described.get("name") or _name(str(described["executionArn"])))
    status = str(described.get("status"))
    if status in ("RUNNING", "PENDING_REDRIVE"):
        return RedriveRefused(
            f"{name} is {'still running' if status == 'RUNNING' else 'being redriven already'}: "
            "there is nothing to redrive",
            f"follow it: `{stack.hint(f'status EXECUTION={name}')}`; "
            f"stop it: `{stack.hint(f'stop EXECUTION={name}')}`",
        )
    if status == "SUCCEEDED":
        return RedriveRefused(
            f"{name} succeeded: there is nothing to redrive", f"start a new run: `{stack.hint('run')}`"
        )
    if status == "FAILED" and described.get("error") == ITEMS_FAILED_ERROR:
        return RedriveRefused(
            f"{name} failed with {ITEMS_FAILED_ERROR}: every item was attempted and the failed ones are "
            "recorded in its summary, so a redrive would only repeat the final check and fail again",
            f"rerun exactly the failed items: `{stack.hint(f'rerun-failed EXECUTION={name}')}` "
            f"(see them: `{stack.hint(f'status EXECUTION={name}')}`)",
        )
    redrive_status = described.get("redriveStatus")
    if redrive_status == "REDRIVABLE_BY_MAP_RUN":
        return RedriveRefused(
            f"{name} is a child execution of a Map Run: it is redriven with the execution that ran it",
            f"redrive that execution: `{stack.hint('redrive EXECUTION=<its name>')}`",
        )
    if redrive_status == "NOT_REDRIVABLE":
        reason = str(described.get("redriveStatusReason") or "").strip()
        meaning = next((text for key, text in NOT_REDRIVABLE_REASONS if key in reason.lower()), None)
        return RedriveRefused(
            f"{name} cannot be redriven: {meaning or 'Step Functions says so'}"
            + (f" (Step Functions: {reason})" if reason else ""),
            _instead(stack, name),
        )
    return None


def client_token(execution_arn: str, redrive_count: int) -> str:
    """The RedriveExecution idempotency token for the next redrive of ``execution_arn``.

    Derived from the execution and the redrive it starts, so a repeated request for the same redrive
    (a retry, or the command run twice before the first answer) starts it once, while the next redrive
    of the same execution gets a token of its own.
    """
    digest = hashlib.sha256(f"{execution_arn}#{redrive_count + 1}".encode()).hexdigest()
    return f"{TOKEN_PREFIX}-{redrive_count + 1}-{digest}"[:TOKEN_LIMIT]


def request(described: dict[str, Any]) -> dict[str, str]:
    """The RedriveExecution parameters for the execution ``described`` (a DescribeExecution answer)."""
    arn = str(described["executionArn"])
    return {"executionArn": arn, "clientToken": client_token(arn, int(described.get("redriveCount") or 0))}


def redrive_execution(stack: Stack, execution_arn: str) -> Redriven:
    """Check that the execution may be redriven, redrive it, and wait until it reports RUNNING again."""
    from botocore.exceptions import BotoCoreError, ClientError

    sfn = stack.client("stepfunctions")
    name = _name(execution_arn)
    try:
        described = sfn.describe_execution(executionArn=execution_arn)
        refused = refusal(stack, described)
        if refused:
            raise refused
        sfn.redrive_execution(**request(described))
        after = _wait_running(sfn, execution_arn, int(described.get("redriveCount") or 0))
    except ClientError as err:
        raise _client_error(stack, name, err) from None
    except BotoCoreError as err:
        raise FanoutError(
            f"cannot reach Step Functions to redrive {name}: {err}",
            "check the network (sandbox: `make sandbox-up`), then run again (a repeated redrive starts once)",
        ) from None
    return Redriven(execution_arn, str(described["status"]), int(after.get("redriveCount") or 1))


def _wait_running(sfn: Any, execution_arn: str, count_before: int) -> dict[str, Any]:
    """DescribeExecution until the redrive shows (RUNNING, or a higher redriveCount), or a few seconds."""
    deadline = time.monotonic() + START_WAIT_SECONDS
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        started = described["status"] == "RUNNING" or int(described.get("redriveCount") or 0) > count_before
        if started or time.monotonic() >= deadline:
            return described
        time.sleep(POLL_SECONDS)


def _client_error(stack: Stack, name: str, err: Any) -> FanoutError:
    code = str(err.response.get("Error", {}).get("Code", ""))
    detail = str(err.response.get("Error", {}).get("Message", "")).strip()
    if code == "ExecutionNotRedrivable":
        return RedriveRefused(f"cannot redrive {name}: {detail or code}", _instead(stack, name))
    if code == "ExecutionDoesNotExist":
        return FanoutError(
            f"there is no execution {name} on stack {stack.name!r} (TARGET={stack.target.name})",
            f"check the name; without one, the stack's last run is redriven: `{stack.hint('redrive')}`",
        )
    if code == "ExecutionLimitExceeded":
        return FanoutError(
            f"cannot redrive {name}: the account has as many open executions as it may ({detail})",
            f"wait for some to end (or stop one: `{stack.hint('stop EXECUTION=<name>')}`), then run again",
        )
    return FanoutError(
        f"cannot redrive {name}: {err.operation_name}: {code}" + (f": {detail}" if detail else ""),
        f"check that your credentials allow states:{err.operation_name} on the execution, then run again",
    )


# --- the verb -------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fanout_tools.run import add_follow_arguments

    add_target_arguments(parser)
    add_execution_argument(parser, "redrive")
    parser.add_argument(
        "--no-follow", action="store_true", help="start the redrive and return (print how to follow it)"
    )
    add_follow_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from fanout_tools import executions
    from fanout_tools import run as run_verb
    from fanout_tools.deploy import deployed

    stack, outputs = deployed(args)
    arn = executions.resolve(stack, outputs, args.execution)
    redriven = redrive_execution(stack, arn)
    executions.record_last_run(stack, arn)
    print(
        f"redriving {redriven.name} (redrive {redriven.redrive_count}; it was {redriven.status_before}): "
        "it resumes where it stopped"
    )
    if args.no_follow:
        print(f"  follow it: `{stack.hint(f'status EXECUTION={redriven.name}')}`")
        print(f"  stop it:   `{stack.hint(f'stop EXECUTION={redriven.name}')}`")
        return 0
    import sys

    try:
        result = run_verb._follow(stack, arn, args.timeout, live=not args.no_progress and sys.stdout.isatty())
    except KeyboardInterrupt:
        return run_verb.interrupted(stack, outputs, arn)
    for line in run_verb.summary_lines(stack.target, outputs, result, args.limit, args.log_lines):
        print(line)
    print(f"results: {run_verb.save_results(result)}")
    if result.status != "SUCCEEDED":
        raise run_verb.failed_error(stack, result)
    return 0
