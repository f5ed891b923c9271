"""Verb ``rerun-failed``: start a new execution of exactly the failed items of an ended one, and follow it.

EXECUTION is a name or ARN (default: the stack's last run). Its item summary (``fanout status``) says
which items failed. The new execution's input is the generator's rerun input: in inline mode the failed
items themselves, rebuilt from the original execution's input (``{"items": [...]}``: item i is items[i];
``{"count": N, "template": T}``: item i is T with ``"index": i``), with ``"rerun_of"``; in the modes with
a bucket only ``{"rerun_of": "<name>"}``, and the generator reads the failed items from the original
run's failed-items file. It is named ``<original>-rerun-<n>`` (a rerun of a rerun counts on from the
same original) when that fits the 80-character limit, followed like ``fanout run``, and becomes the
stack's last run. Nothing failed: nothing is started.
"""

from __future__ import annotations

import argparse
import json
import re
from itertools import islice
from typing import TYPE_CHECKING, Any

from fanout_tools import run as run_verb
from fanout_tools import status
from fanout_tools.deploy import add_target_arguments
from fanout_tools.errors import FanoutError
from fanout_tools.executions import SUMMARY_STATE, add_execution_argument, execution_arn_for, history_pages

if TYPE_CHECKING:
    from fanout_tools.deploy import Stack

INLINE_MODE = "inline"  # the one mode without a bucket: its rerun input carries the items
# https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html#StepFunctions-StartExecution-request-name
NAME_LIMIT = 80
# Iteration records of failed items in the SummarizeItems input (templates/asl/macros.json.j2).
FAILED_RECORD_STATUSES = ("FAILED", "NOT_RUN")
NAME_TRIES = 100  # reruns of one original named <original>-rerun-<n> before a generated name is used
DISAGREE_HINT = "nothing was started; the summary and the input disagree: start a run with the items yourself"
_RERUN_SUFFIX = re.compile(r"^(?P<root>.+)-rerun-(?P<n>\d+)$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    add_execution_argument(parser, "rerun the failed items of")
    parser.add_argument(
        "--name", default=None, help="name of the new execution (default <original>-rerun-<n>)"
    )
    run_verb.add_follow_arguments(parser)


# --- which items --------------------------------------------------------------------------------


def _original_input(view: status.ExecutionView) -> Any:
    if not view.input:
        raise FanoutError(
            f"the input of {view.name} is not readable (DescribeExecution returned none)",
            "nothing was started; check that you may read the execution's input (states:DescribeExecution)",
        )
    try:
        return json.loads(view.input)
    except ValueError:
        raise FanoutError(
            f"the input of {view.name} is not JSON",
            "nothing was started; start a run with the items yourself",
        ) from None


def rebuild_items(original_input: Any, records: list[status.FailedItem], name: str) -> list[Any]:
    """The failed items, in the records' order, rebuilt from the original execution's input.

    An input that names no items (itself a rerun of a mode with a bucket) falls back on each record's
    ``item``.
    """
    source = original_input if isinstance(original_input, dict) else {}
    items = source.get("items")
    count = source.get("count")
    template = source.get("template") or {}
    rebuilt: list[Any] = []
    for record in records:
        index = record.index
        if index is None or index < 0:
            raise FanoutError(
                f"a failed-item record of {name} has no item index", "nothing was started; run `make apply`"
            )
        if isinstance(items, list):
            if index >= len(items):
                raise FanoutError(
                    f"failed item {index} of {name} is not in its input ({len(items)} items)",
                    DISAGREE_HINT,
                )
            rebuilt.append(items[index])
        elif isinstance(count, int) and isinstance(template, dict):
            if index >= count:
                raise FanoutError(
                    f"failed item {index} of {name} is not in its input (count {count})",
                    DISAGREE_HINT,
                )
            rebuilt.append({**template, "index": index})
        elif record.item is not None:
            rebuilt.append(record.item)
        else:
            raise FanoutError(
                f"the input of {name} has neither items nor a count, and its failed-item records no item",
                "nothing was started; start a run with the items yourself",
            )
    return rebuilt


def rerun_input(
    stack: Stack, outputs: dict[str, Any], view: status.ExecutionView, summary: status.ItemSummary
) -> dict[str, Any]:
    """The generator's rerun input for the deployed mode (see the module docstring)."""
    mode = str(outputs.get("fanout_mode") or summary.mode)
    if mode != INLINE_MODE and summary.failed_items_uri:
        _check_failed_items_file(stack, outputs, view.name, summary)
        return {"rerun_of": view.name}
    # inline mode, or a run without a failed-items file (it ran inline before a redeploy): the items
    return {
        "items": rebuild_items(_original_input(view), _all_failed(stack, view, summary), view.name),
        "rerun_of": view.name,
    }


def _all_failed(
    stack: Stack, view: status.ExecutionView, summary: status.ItemSummary
) -> list[status.FailedItem]:
    """Every failed item's record: the summary's, the failed-items file's, or (inline mode, more failures
    than the summary lists) the iteration records the SummarizeItems state received."""
    if summary.failed <= len(summary.records) or summary.failed_items_uri:
        return [status.FailedItem.parse(r) for r in status.failed_records(stack, summary)]
    found = summarized_failures(stack.client("stepfunctions"), view.arn)
    if len(found) != summary.failed:
        raise FanoutError(
            f"{view.name} has {summary.failed:,} failed items, but its summary lists only the first "
            f"{len(summary.records):,} and its history names {len(found):,}",
            "nothing was started; `fanout report` lists every failed job: start a run with those items",
        )
    return found


def summarized_failures(sfn: Any, arn: str) -> list[status.FailedItem]:
    """The failed iteration records in the input of the SummarizeItems state, by index.

    In inline mode that input holds every iteration's record (``"Status"`` FAILED or NOT_RUN, with its
    ``index``): all the failed items, where the summary lists only the first ones.
    """
    for event in islice(history_pages(sfn, arn, reverse=True), status.SCAN_EVENTS):
        details = event.get("stateEnteredEventDetails") or {}
        if details.get("name") != SUMMARY_STATE:
            continue
        try:
            state_input = json.loads(details.get("input") or "{}")
        except ValueError:
            return []
        values = state_input.values() if isinstance(state_input, dict) else []
        records = [
            r
            for value in values
            if isinstance(value, list)
            for r in value
            if isinstance(r, dict)
            and r.get("Status") in FAILED_RECORD_STATUSES
            and status.as_int(r.get("index")) is not None
        ]
        return sorted((status.FailedItem.parse(r) for r in records), key=lambda f: f.index or 0)
    return []


def _check_failed_items_file(
    stack: Stack, outputs: dict[str, Any], name: str, summary: status.ItemSummary
) -> None:
    """The generator reads the original run's failed-items file from the stack's bucket: it must be there."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = status.split_uri(str(summary.failed_items_uri))
    if outputs.get("bucket_name") and bucket != outputs["bucket_name"]:
        raise FanoutError(
            f"the failed items of {name} are in {summary.failed_items_uri}, not in this stack's bucket "
            f"{outputs['bucket_name']}",
            "nothing was started; rerun it with the stack that ran it (--var-file)",
        )
    try:
        stack.client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        raise FanoutError(
            f"the failed-items file of {name} is not readable: {summary.failed_items_uri} ({code})",
            "nothing was started; it goes with the stack's bucket: was the stack destroyed since?",
        ) from None
    except BotoCoreError as err:
        raise FanoutError(f"cannot reach S3: {err}", "nothing was started; run again") from None


# --- its name ------------------------------------------------------------------------------------


def rerun_names(original: str) -> list[str]:
    """Candidate names: ``<root>-rerun-<n>`` from the next n (a rerun's own rerun counts on), those
    that fit the limit."""
    matched = _RERUN_SUFFIX.match(original)
    root, first = (matched["root"], int(matched["n"]) + 1) if matched else (original, 1)
    names = [f"{root}-rerun-{n}" for n in range(first, first + NAME_TRIES)]
    return [n for n in names if len(n) <= NAME_LIMIT]


def free_name(sfn: Any, state_machine_arn: str, original: str) -> str:
    """The first candidate name no execution of the state machine has, else a generated one."""
    from botocore.exceptions import ClientError

    for candidate in rerun_names(original):
        try:
            sfn.describe_execution(executionArn=execution_arn_for(state_machine_arn, candidate))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return candidate
            raise
    return run_verb.generated_name("rerun")


# --- the verb ------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from fanout_tools.deploy import deployed
    from fanout_tools.executions import resolve

    stack, outputs = deployed(args)
    arn = resolve(stack, outputs, args.execution)
    sfn = stack.client("stepfunctions")
    view = status.read_execution(sfn, arn)
    name = view.name
    if view.status == "RUNNING":
        raise FanoutError(
            f"{name} is still running: which items failed is known when it ends",
            f"wait for it (`{stack.hint(f'status EXECUTION={name}')}`) or stop it "
            f"(`{stack.hint(f'stop EXECUTION={name}')}`), then rerun",
        )
    summary = view.summary
    if summary is None:
        why = view.error or view.status
        raise FanoutError(
            f"{name} has no item summary ({why}), so which items failed is not known",
            f"`{stack.hint(f'status EXECUTION={name}')}` says why; start a new run with `make run`",
        )
    if summary.failed == 0:
        print(f"nothing to rerun: none of the {summary.count:,} items of {name} failed")
        return 0
    payload = rerun_input(stack, outputs, view, summary)
    new_name = args.name or free_name(sfn, str(outputs["state_machine_arn"]), name)
    print(f"rerunning the {summary.failed:,} failed items of {name} as {new_name}")
    return run_verb.launch(stack, outputs, payload, new_name, args)
