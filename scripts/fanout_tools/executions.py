"""Which execution a verb acts on, and reading an execution's history: shared by ``run``, ``report``,
``status``, ``stop``, ``rerun-failed`` and ``redrive``.

``EXECUTION`` on the command line is a name or an ARN; without it, the stack's last ``fanout run`` (recorded
under the runtime folder per target and stack), else the state machine's newest execution.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from fanout_tools.errors import FanoutError

# Names the state machine and the tooling share; the renderer passes them to templates/asl/.
# The state whose output is the run's item summary; ``fanout status`` reads it from the history, so it is
# found whether the execution succeeded or failed with ItemsFailed.
SUMMARY_STATE = "SummarizeItems"
# The Fail state's Error when items failed beyond the tolerance, and the summary's outcome that leads
# there (lambda/generator/summary.py writes it; the Lambda zip cannot import this module).
ITEMS_FAILED_ERROR = "ItemsFailed"
ITEMS_FAILED_OUTCOME = "ITEMS_FAILED"


def last_run_file(target_name: str, stack_name: str) -> Path:
    from fanout_tools.paths import runtime_dir

    return runtime_dir() / "runs" / f"last-{target_name}-{stack_name}.json"


def record_last_run(stack: Any, execution_arn: str) -> Path:
    """Remember the stack's last execution: verbs without an EXECUTION argument act on it."""
    path = last_run_file(stack.target.name, stack.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"execution_arn": execution_arn}) + "\n")
    return path


def execution_arn_for(state_machine_arn: str, execution: str) -> str:
    """An execution's ARN from its name (or the ARN itself)."""
    if execution.startswith("arn:"):
        return execution
    head, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{head}:execution:{machine}:{execution}"


def last_execution(stack: Any, outputs: dict[str, Any]) -> str:
    """The execution ``fanout run`` last started on this stack, else the state machine's newest one."""
    recorded = last_run_file(stack.target.name, stack.name)
    if recorded.is_file():
        arn = json.loads(recorded.read_text()).get("execution_arn")
        if arn:
            return str(arn)
    listed = stack.client("stepfunctions").list_executions(
        stateMachineArn=outputs["state_machine_arn"], maxResults=1
    )
    if not listed.get("executions"):
        raise FanoutError("this stack has no executions yet", f"run `{stack.hint('run')}` first")
    return str(listed["executions"][0]["executionArn"])


def resolve(stack: Any, outputs: dict[str, Any], execution: str | None) -> str:
    """The ARN of ``execution`` (name or ARN), or of the stack's last run when it is None."""
    if not execution:
        return last_execution(stack, outputs)
    return execution_arn_for(str(outputs["state_machine_arn"]), execution)


def history_pages(
    sfn: Any, arn: str, reverse: bool = False, call: Callable[..., dict[str, Any]] | None = None
) -> Iterator[dict[str, Any]]:
    """Every history event of ``arn``, page by page (oldest first unless ``reverse``). ``call`` replaces
    ``sfn.get_execution_history`` (the report counts its calls)."""
    get_page = call or sfn.get_execution_history
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000, "reverseOrder": reverse}
    while True:
        page = get_page(**kwargs)
        yield from page["events"]
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


def json_object(text: Any) -> dict[str, Any]:
    """``text`` (JSON text or an already parsed dict) as a dict; ``{}`` for anything else."""
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def submitted_batch_jobs(events: Iterable[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """(job id, job name) of every Batch job a history's ``TaskSubmitted`` events name."""
    for event in events:
        if event["type"] != "TaskSubmitted":
            continue
        details = event.get("taskSubmittedEventDetails") or {}
        if details.get("resourceType") == "batch":
            out = json_object(details.get("output"))
            job_id = out.get("JobId") or out.get("jobId")
            if job_id:
                yield str(job_id), str(out.get("JobName", ""))


def batch_job_ids(events: Iterable[dict[str, Any]]) -> list[str]:
    return [job_id for job_id, _ in submitted_batch_jobs(events)]


def add_execution_argument(parser: Any, what: str) -> None:
    parser.add_argument(
        "execution",
        nargs="?",
        default=None,
        help=f"execution name or ARN to {what} (default: the stack's last `fanout run`)",
    )
