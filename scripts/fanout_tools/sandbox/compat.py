"""The ONE place where the sandbox fills moto 5.2.5's gaps (README: "The local sandbox account").

Each gap is one named function with a docstring citing the gap number; :func:`apply_all` installs
them all and is called by the sandbox server before it starts serving. Every function here has a
test in tests/scripts/sandbox/test_compat.py that first asserts that unpatched moto still lacks the
behaviour, so a moto upgrade that fixes or changes a gap fails loudly and the workaround can go.

Real code execution (Lambda handlers, Batch commands) is not a moto *gap* but a sandbox feature; it
lives in :mod:`fanout_tools.sandbox.lambda_runner` and :mod:`fanout_tools.sandbox.batch_runner`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

MOTO_VERSION = "5.2.5"
"""The moto release these workarounds were written and tested against (pinned in pyproject.toml)."""

MISSING = object()
ORIGINALS: dict[tuple[Any, str], Any] = {}
"""What every patched attribute was before the sandbox first patched it (tests restore moto from it)."""


def patch_attribute(owner: Any, name: str, value: Any) -> None:
    """Set ``owner.name`` (a class or module) and remember moto's original the first time."""
    ORIGINALS.setdefault((owner, name), owner.__dict__.get(name, MISSING))
    setattr(owner, name, value)


# --- gap 1: ValidateStateMachineDefinition / ListStateMachineVersions ------------------------------


def validate_definition(definition: str) -> dict[str, Any]:
    """Validate an ASL definition as ``ValidateStateMachineDefinition`` does; returns the AWS response.

    Errors come from moto's own ASL parser (the one that will run the definition here): if it cannot
    parse the definition, the result is FAIL with one ERROR diagnostic per parser message. statelint's
    findings are added as WARNING diagnostics (they are ASL-spec problems, but statelint lags behind
    newer ASL fields, so it must not make the sandbox stricter than the interpreter).
    """
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

    diagnostics: list[dict[str, str]] = []
    try:
        parsed = json.loads(definition)
    except json.JSONDecodeError as err:
        return _validation_result(
            [{"severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": str(err), "location": "/"}]
        )
    try:
        AmazonStateLanguageParser.parse(integer_percentages_as_floats(definition))
    except ASLParserException as err:
        for message in err.errors or ["the ASL parser rejected the definition"]:
            # antlr lists every token it would have accepted; keep the message readable
            short = message.split(" expecting {", 1)[0]
            diagnostics.append(
                {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": short, "location": "/"}
            )
    except Exception as err:  # the preprocessor raises plain exceptions for semantic problems
        diagnostics.append(
            {
                "severity": "ERROR",
                "code": "SCHEMA_VALIDATION_FAILED",
                "message": f"{type(err).__name__}: {err}",
                "location": "/",
            }
        )
    if isinstance(parsed, dict):
        from statelint.linter import Linter

        for problem in Linter.validate(parsed):
            diagnostics.append(
                {"severity": "WARNING", "code": "STATELINT", "message": problem, "location": "/"}
            )
    return _validation_result(diagnostics)


def _validation_result(diagnostics: list[dict[str, str]]) -> dict[str, Any]:
    failed = any(d["severity"] == "ERROR" for d in diagnostics)
    return {"result": "FAIL" if failed else "OK", "diagnostics": diagnostics, "truncated": False}


def add_validate_state_machine_definition() -> None:
    """Gap 1: moto answers ``ValidateStateMachineDefinition`` with HTTP 500 (NotImplementedError).

    The AWS provider calls it while creating ``aws_sfn_state_machine`` and retries until it answers,
    so an apply hangs. This answers with a real validation (:func:`validate_definition`).
    """
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def validate_state_machine_definition(self: Any) -> ActionResult:
        return ActionResult(validate_definition(self._get_param("definition") or ""))

    patch_attribute(
        StepFunctionResponse, "validate_state_machine_definition", validate_state_machine_definition
    )


def add_list_state_machine_versions() -> None:
    """Gap 1: moto answers ``ListStateMachineVersions`` with HTTP 500 (NotImplementedError).

    The AWS provider calls it on every read of ``aws_sfn_state_machine``. The stack never publishes
    versions, so the answer is an empty list (the AWS response shape).
    """
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def list_state_machine_versions(self: Any) -> ActionResult:
        return ActionResult({"stateMachineVersions": []})

    patch_attribute(StepFunctionResponse, "list_state_machine_versions", list_state_machine_versions)


# --- gaps 3 and 9: the interpreter's parameter/response normalisation hooks -----------------------


@cache
def _service_model(service: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


@cache
def _operation_model(service: str, snake_action: str) -> Any:
    """botocore's model of ``service``'s operation ``snake_action``, or None when botocore has none."""
    from botocore.exceptions import UnknownServiceError

    try:
        model = _service_model(service)
    except UnknownServiceError:
        return None
    wanted = snake_action.replace("_", "").lower()
    for name in model.operation_names:
        if name.lower() == wanted:
            return model.operation_model(name)
    return None


def _fold(name: str) -> str:
    return name.replace("_", "").lower()


def _rename_members(value: dict[str, Any], shape: Any, convert: Any, rename: Any) -> dict[str, Any]:
    """Each key of ``value`` naming a member of ``shape`` (case-insensitively) is renamed to
    ``rename(member name)``, its value converted by ``convert(value, member shape)``; in place."""
    members = {_fold(name): (name, member) for name, member in shape.members.items()}
    for key in list(value):
        found = members.get(_fold(key))
        if found is not None:
            member_name, member_shape = found
            item = convert(value.pop(key), member_shape)
            value[rename(member_name)] = item
    return value


def to_api_members(value: Any, shape: Any) -> Any:
    """ASL parameter names -> API member names, recursively over ``shape`` (case-insensitive lookup).

    Keys that match no member are left alone (botocore reports them); map keys are user data and kept.
    Non-string values for string members are JSON-encoded and blob members become bytes, as Step
    Functions does.
    """
    kind = getattr(shape, "type_name", None)
    if kind == "structure" and isinstance(value, dict):
        return _rename_members(value, shape, to_api_members, lambda name: name)
    if kind == "list" and isinstance(value, list):
        return [to_api_members(item, shape.member) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {k: to_api_members(v, shape.value) for k, v in value.items()}
    if kind == "string" and not isinstance(value, str):
        return json.dumps(value, separators=(",", ":"))
    if kind == "blob" and not isinstance(value, bytes | bytearray):
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        return text.encode("utf-8")
    return value


def to_sfn_members(value: Any, shape: Any) -> Any:
    """API member names -> the PascalCase names Step Functions returns (``jobId`` -> ``JobId``), in place."""
    from botocore.response import StreamingBody

    if isinstance(value, StreamingBody):
        return value.read().decode("utf-8")
    kind = getattr(shape, "type_name", None)
    if kind == "structure" and isinstance(value, dict):
        return _rename_members(value, shape, to_sfn_members, lambda name: name[:1].upper() + name[1:])
    if kind == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = to_sfn_members(item, shape.member)
        return value
    if kind == "map" and isinstance(value, dict):
        for key in list(value):
            value[key] = to_sfn_members(value[key], shape.value)
        return value
    return value


def fill_normalisation_hooks() -> None:
    """Gaps 3 and 9: ``StateTaskService._normalise_parameters`` / ``_normalise_response`` are empty stubs.

    Without them ``batch:submitJob.sync`` fails with ``KeyError: 'JobName'`` (botocore wants
    ``jobName``), the ``.sync`` poller then fails on ``'JobId'``, and results keep the API's
    camelCase keys so a ``ResultSelector`` on ``$.JobId`` fails (AWS returns PascalCase). Both
    hooks are filled from botocore's service model: case-insensitive member lookup, recursively, on
    the way in; capitalised member names on the way out. Mutates in place, as the callers expect.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )

    def normalise(task: Any, value: Any, shape_of: str, convert: Any, service: Any, action: Any) -> None:
        """Convert ``value`` with ``convert`` against the operation's input or output shape."""
        service = task._get_boto_service_name(boto_service_name=service)
        action = task._get_boto_service_action(service_action_name=action)
        operation = _operation_model(service, action)
        shape = getattr(operation, shape_of) if operation is not None else None
        if shape is not None:
            convert(value, shape)

    # The interpreter calls both by keyword (parameters=..., response=...): keep moto's signatures.
    def _normalise_parameters(
        self: Any, parameters: Any, boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        normalise(self, parameters, "input_shape", to_api_members, boto_service_name, service_action_name)

    def _normalise_response(
        self: Any, response: Any, boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        normalise(self, response, "output_shape", to_sfn_members, boto_service_name, service_action_name)

    patch_attribute(StateTaskService, "_normalise_parameters", _normalise_parameters)
    patch_attribute(StateTaskService, "_normalise_response", _normalise_response)


# --- gap 4: the interpreter's call-back port ------------------------------------------------------


def set_callback_port(port: int) -> None:
    """Gap 4: the interpreter calls the other services back at ``http://localhost:$MOTO_PORT``.

    ``MOTO_PORT`` defaults to 5000, so a server on any other port makes every Task state call a port
    where nothing (or something else) listens. Set it to the port this server really uses.
    """
    os.environ["MOTO_PORT"] = str(port)


# --- gap 10: States.* errors inside an inline Map iteration ----------------------------------------


def keep_states_errors_in_map_iterations() -> None:
    """Gap 10 (found by this project): an inline Map iteration that fails with a ``States.*`` error
    (a failed ``batch:submitJob.sync`` job raises ``States.TaskFailed``) is re-wrapped by the
    iteration worker as a *custom* error name, which moto rejects ("Custom Error Names MUST NOT begin
    with the prefix 'States.'"), so the execution fails with ``States.Runtime`` instead of
    ``States.TaskFailed`` and a ``Catch``/``Retry`` on ``States.TaskFailed`` never matches. AWS
    reports ``States.TaskFailed``. The worker's name factory now keeps ``States.*`` names as such.
    """
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker

    def error_name(error_name: str) -> Any:
        if isinstance(error_name, str) and error_name.startswith("States."):
            try:
                return StatesErrorName.from_name(error_name)
            except ValueError:
                pass
        return CustomErrorName(error_name=error_name)

    patch_attribute(iteration_worker, "CustomErrorName", error_name)


# --- found here: Batch DescribeJobs is not safe while jobs are being submitted ----------------------


def make_describe_jobs_thread_safe() -> None:
    """Gap 11 (found by this project): ``BatchBackend.describe_jobs`` iterates the live job dict.

    With jobs submitted while ``.sync`` tasks poll DescribeJobs (any real fan-out), the iteration
    raises ``RuntimeError: dictionary changed size during iteration``; the server answers HTTP 500
    without a request id, and the interpreter turns that into ``States.Runtime`` (``KeyError:
    'RequestId'``), failing the execution (seen at 600 of 1,000 items). It also scanned every job
    ever submitted for each call. Now: requested ids (or ARNs) are looked up directly, and a full
    listing iterates a snapshot.
    """
    from moto.batch.models import BatchBackend

    def describe_jobs(self: Any, jobs: list[str] | None = None) -> list[dict[str, Any]]:
        if not jobs:
            return [job.describe() for job in list(self._jobs.values())]
        result = []
        for identifier in jobs:
            job = self._jobs.get(identifier) or self._jobs.get(identifier.rsplit("/", 1)[-1])
            if job is not None:
                result.append(job.describe())
        return result

    patch_attribute(BatchBackend, "describe_jobs", describe_jobs)


# --- found here: a conditional Deny in a bucket policy denies everything ------------------------------


def conditional_deny_needs_its_condition() -> None:
    """Gap 12 (found by this project): moto ignores condition operators it does not implement (``Bool``
    among them) and never passes request context (``aws:SecureTransport``) to bucket-policy checks, so
    a *conditional* ``Deny`` statement applies unconditionally.

    The stack's TLS-only bucket policy (``Deny s3:*`` when ``aws:SecureTransport`` is ``false``, a
    compliance requirement) therefore makes moto deny every object request (HTTP 403), and the
    generator cannot write manifests. In IAM a condition whose key is absent does not hold (unless
    ``...IfExists``), so such a statement does not apply: a ``Deny`` with a ``Condition`` now applies
    only when every key it names is in the request context moto passes, otherwise it is NEUTRAL.
    Unconditional denies and every ``Allow`` are decided by moto as before.
    """
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    original = IAMPolicyStatement.is_action_permitted
    if getattr(original, "_fanout_sandbox", False):
        return

    def is_action_permitted(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> Any:
        condition = self._statement.get("Condition")
        if condition and self._statement.get("Effect") == "Deny":
            keys = {key for operator in condition.values() if isinstance(operator, dict) for key in operator}
            if not keys.issubset(incoming_condition_values or {}):
                return PermissionResult.NEUTRAL
        return original(self, action, resource, principal, incoming_condition_values)

    is_action_permitted._fanout_sandbox = True  # type: ignore[attr-defined]
    patch_attribute(IAMPolicyStatement, "is_action_permitted", is_action_permitted)


# --- ToleratedFailurePercentage: AWS's schema wants an integer, moto's grammar a float -------------


def integer_percentages_as_floats(definition: str) -> str:
    """The definition with every integer ``ToleratedFailurePercentage`` written as a float (``5`` -> ``5.0``).

    The same percentage, in the form moto's grammar parses. Text that is not JSON, or has no integer
    percentage, is returned unchanged (so the parser reports its own errors at their own positions).
    """
    if "ToleratedFailurePercentage" not in definition:
        return definition
    try:
        parsed = json.loads(definition)
    except ValueError:
        return definition
    changed = False

    def walk(node: Any) -> None:
        nonlocal changed
        if isinstance(node, dict):
            value = node.get("ToleratedFailurePercentage")
            if isinstance(value, int) and not isinstance(value, bool):
                node["ToleratedFailurePercentage"] = float(value)
                changed = True
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(parsed)
    return json.dumps(parsed) if changed else definition


def accept_integer_tolerated_failure_percentage() -> None:
    """Gap 13: moto's ASL parser rejects an integer ``ToleratedFailurePercentage`` (``5`` is a parse
    error, ``5.0`` parses), while AWS's own ASL language service rejects the float ("Incorrect type.
    Expected one of integer, JSONata expression."). The field is a percentage 0-100
    (https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html); the stack
    deploys the integer AWS's schema wants, so the sandbox must accept it. Every parse (creating a
    state machine, running an execution, ValidateStateMachineDefinition) now sees the same
    percentage as a float: :func:`integer_percentages_as_floats`.
    """
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    current = AmazonStateLanguageParser.__dict__["parse"]
    if getattr(getattr(current, "__func__", None), "_fanout_sandbox", False):
        return
    original = current.__func__

    def parse(definition: str) -> Any:
        return original(integer_percentages_as_floats(definition))

    parse._fanout_sandbox = True  # type: ignore[attr-defined]
    patch_attribute(AmazonStateLanguageParser, "parse", staticmethod(parse))


# --- gap 14: Step Functions publishes no execution status events -----------------------------------

STATUS_CHANGE = "Step Functions Execution Status Change"


def _epoch_millis(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def execution_status_change_event(execution: Any) -> dict[str, Any]:
    """The PutEvents entry AWS puts on the default bus when ``execution`` ends, shaped as documented
    (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html): ``resources`` is the
    execution ARN; ``detail`` carries the execution as DescribeExecution does, dates in epoch ms."""
    described = execution.to_describe_output()
    status = str(getattr(described.get("status"), "value", described.get("status")))
    detail: dict[str, Any] = {
        "executionArn": described["executionArn"],
        "stateMachineArn": described["stateMachineArn"],
        "name": described["name"],
        "status": status,
        "startDate": _epoch_millis(described.get("startDate")),
        "stopDate": _epoch_millis(described.get("stopDate")),
        "input": described.get("input"),
        "output": described.get("output"),
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if described.get("output") is not None else None,
        "error": described.get("error"),
        "cause": described.get("cause"),
    }
    return {
        "Source": "aws.states",
        "DetailType": STATUS_CHANGE,
        "Resources": [described["executionArn"]],
        "Detail": json.dumps(detail),
    }


def publish_execution_status_change_events() -> None:
    """Gap 14: moto's Step Functions never publishes "Step Functions Execution Status Change" events,
    so an EventBridge rule on failed executions (the stack's alerts) never matches anything. AWS puts
    one on the default event bus whenever an execution changes status
    (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html). Now every execution that
    ends (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) puts its event on the default bus of its account and
    Region through moto's EventBridge, whose rules then deliver it. (RUNNING is not published: nothing
    in the stack listens for it.)
    """
    import logging

    from moto.events.models import events_backends
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.__dict__["terminated"]
    if getattr(original, "_fanout_sandbox", False):
        return

    def terminated(self: Any) -> None:
        original(self)
        execution = self.execution
        try:
            backend = events_backends[execution.account_id][execution.region_name]
            backend.put_events([execution_status_change_event(execution)])
        except Exception:  # an alert that cannot be delivered must not change the execution's result
            logging.getLogger(__name__).exception(
                "could not publish the status event of %s", execution.exec_arn
            )

    terminated._fanout_sandbox = True  # type: ignore[attr-defined]
    patch_attribute(BaseExecutionWorkerCommunication, "terminated", terminated)


# --- gap 15: EventBridge does not deliver to SNS topics ---------------------------------------------


def deliver_rule_targets_to_sns_topics() -> None:
    """Gap 15: moto's EventBridge delivers matching events to SQS queues, log groups, archives and
    event buses only; a rule with an SNS topic target raises NotImplementedError (PutEvents answers
    HTTP 500, and the event reaches none of the rule's targets). AWS publishes the event (or its
    input-transformed text) to the topic
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions).
    Now a rule also publishes each matching event to every SNS topic among its targets, through moto's
    SNS (whose subscriptions then deliver, for example to SQS): the whole event as JSON, with ``time``
    in ISO 8601 as AWS writes it, or the InputTransformer's result when the target has one.
    """
    import copy

    from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp
    from moto.events.models import Rule
    from moto.events.utils import EventTemplateParser
    from moto.sns.models import sns_backends
    from moto.utilities.arns import parse_arn

    original = Rule.__dict__["send_to_targets"]
    if getattr(original, "_fanout_sandbox", False):
        return

    def send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
        topics = [t for t in self.targets if parse_arn(t["Arn"]).service == "sns"]
        others = copy.copy(self)  # moto's delivery for every other target (it raises on a topic)
        others.targets = [t for t in self.targets if t not in topics]
        original(others, original_event, transform_input)
        if not topics or not self.event_pattern.matches_event(original_event):
            return
        for target in topics:
            arn = parse_arn(target["Arn"])
            transformer = target.get("InputTransformer") if transform_input else None
            if transformer:
                message: Any = EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=original_event,
                )
            else:
                message = {k: v for k, v in original_event.items() if k != "ingestion-time"}
                if isinstance(message.get("time"), (int, float)):
                    message["time"] = iso_8601_datetime_without_milliseconds(
                        utcfromtimestamp(float(message["time"]))
                    )
            text = message if isinstance(message, str) else json.dumps(message)
            sns_backends[arn.account][arn.region].publish(message=text, arn=target["Arn"])

    send_to_targets._fanout_sandbox = True  # type: ignore[attr-defined]
    patch_attribute(Rule, "send_to_targets", send_to_targets)


# --- gap 20: job queues forget jobStateTimeLimitActions, and nothing acts on them -------------------

JOB_STATE_TIME_SCALE_ENV = "FANOUT_SANDBOX_JOB_STATE_TIME_SCALE"
"""Sandbox only: a factor on every ``maxTimeSeconds`` (read when the server starts; default 1). AWS
takes 600 s at least, too long for a rehearsal or a test; ``0.001`` makes those 600 s 0.6 s."""
TIME_LIMIT_ACTIONS = "sandbox_job_state_time_limit_actions"  # the attribute a JobQueue keeps them in
_job_state_time_scale = 1.0


def job_state_time_scale() -> float:
    """The factor :data:`JOB_STATE_TIME_SCALE_ENV` sets (a positive number), else 1 (with a warning)."""
    raw = os.environ.get(JOB_STATE_TIME_SCALE_ENV, "").strip()
    if not raw:
        return 1.0
    try:
        scale = float(raw)
    except ValueError:
        scale = 0.0
    if not 0 < scale < float("inf"):
        import logging

        logging.getLogger(__name__).warning(
            "%s=%s is not a positive number; using 1", JOB_STATE_TIME_SCALE_ENV, raw
        )
        return 1.0
    return scale


def time_limit_action(queue: Any, status_reason: str) -> tuple[float, str] | None:
    """For a job RUNNABLE in ``queue`` with ``status_reason`` ("<REASON> - <message>", as Batch
    writes it): (seconds until the queue's matching ``jobStateTimeLimitActions`` entry cancels it,
    already scaled; the statusReason the job then gets), or None when no entry matches.
    https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_capacity.html
    """
    code = status_reason.split(" - ", 1)[0]
    for action in getattr(queue, TIME_LIMIT_ACTIONS, None) or []:
        if (
            action.get("state") == "RUNNABLE"
            and action.get("action") == "CANCEL"
            and action.get("reason") == code
        ):
            seconds = float(action.get("maxTimeSeconds") or 0) * _job_state_time_scale
            return seconds, f"Canceled by JobStateTimeLimit action due to reason: {code}"
    return None


def keep_job_state_time_limit_actions() -> None:
    """Gap 20: moto drops a job queue's ``jobStateTimeLimitActions`` (CreateJobQueue and UpdateJobQueue
    ignore them, DescribeJobQueues never returns them), so a stack that sets
    ``job_state_time_limit_seconds`` never converges (the provider reads nothing back) and no stuck
    job is ever cancelled. Now the queue keeps and returns them
    (https://docs.aws.amazon.com/batch/latest/APIReference/API_JobStateTimeLimitAction.html), and
    :func:`time_limit_action` tells the sandbox's runners when a job held RUNNABLE (the
    ``stuck-runnable`` fault) is cancelled and with which reason. Sandbox only: the clock may be
    scaled with :data:`JOB_STATE_TIME_SCALE_ENV`.
    """
    from moto.batch.models import JobQueue
    from moto.batch.responses import BatchResponse

    global _job_state_time_scale
    _job_state_time_scale = job_state_time_scale()
    if getattr(BatchResponse.__dict__["createjobqueue"], "_fanout_sandbox", False):
        return
    create_before = BatchResponse.__dict__["createjobqueue"]
    update_before = BatchResponse.__dict__["updatejobqueue"]
    describe_before = JobQueue.__dict__["describe"]

    def remember(response: Any, answer: str) -> str:
        actions = response._get_param("jobStateTimeLimitActions")
        queue = response.batch_backend.get_job_queue(json.loads(answer)["jobQueueArn"])
        if actions is not None and queue is not None:
            setattr(queue, TIME_LIMIT_ACTIONS, [dict(action) for action in actions])
        return answer

    def createjobqueue(self: Any) -> str:
        return remember(self, create_before(self))

    def updatejobqueue(self: Any) -> str:
        return remember(self, update_before(self))

    def describe(self: Any) -> dict[str, Any]:
        result = dict(describe_before(self))
        actions = getattr(self, TIME_LIMIT_ACTIONS, None)
        if actions:
            result["jobStateTimeLimitActions"] = [dict(action) for action in actions]
        return result

    createjobqueue._fanout_sandbox = True  # type: ignore[attr-defined]
    patch_attribute(BatchResponse, "createjobqueue", createjobqueue)
    patch_attribute(BatchResponse, "updatejobqueue", updatejobqueue)
    patch_attribute(JobQueue, "describe", describe)


# --- end of gap 20 ----------------------------------------------------------------------------------

# --- gaps 17-19: stopping and redriving executions (fanout stop, fanout redrive) -------------------


def stopped_executions_end_aborted() -> None:
    """Gap 17 (found by this project): StopExecution on an execution that is in an inline Map (every
    fan-out is) ends it FAILED with ``States.Runtime`` (``AttributeError('str' object has no attribute
    'get')``), not ABORTED. The stop reaches each iteration, each reports MapIterationAborted with empty
    details, the Map state trips over them, and the program's error handler then replaces the stopped
    state with that error. In AWS a stopped execution is ABORTED whatever its states were doing
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html). Now an error
    raised after the stop leaves the stopped state as it is: the execution ends ABORTED, with its
    ``ExecutionAborted`` event.
    """
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    original = Environment.__dict__["set_error"]
    if getattr(original, "_fanout_sandbox", False):
        return

    def set_error(self: Any, error: Any) -> None:
        with self._state_mutex:  # a re-entrant lock: the original takes it again
            if isinstance(self._program_state, ProgramStopped):
                return
            original(self, error)

    set_error._fanout_sandbox = True  # type: ignore[attr-defined]
    patch_attribute(Environment, "set_error", set_error)


MAP_RUN_CHILDREN_REFUSAL = (
    "the local sandbox cannot list a Map Run's child executions: its Step Functions emulator "
    f"(moto {MOTO_VERSION}) runs them inside the parent execution, without ARNs or histories of their own"
)


def refuse_listing_map_run_children() -> None:
    """Gap 18: ``ListExecutions`` with ``mapRunArn`` answers HTTP 500 (moto builds a state machine ARN
    from None). A 500 is retried by every SDK (five attempts with backoff: ~15 s lost per call) before
    the caller learns anything. moto has no child executions to list (a Distributed Map's children run
    inside the parent, with no ARN or history), so the faithful answer is not possible; now the call
    fails at once, as a client error (HTTP 400 ``ValidationException``) that says so
    (:data:`MAP_RUN_CHILDREN_REFUSAL`). Listing by ``stateMachineArn`` is unchanged.
    """
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.responses import StepFunctionResponse

    original = StepFunctionResponse.__dict__["list_executions"]
    if getattr(original, "_fanout_sandbox", False):
        return

    def list_executions(self: Any) -> Any:
        if self._get_param("mapRunArn"):
            raise AWSError(MAP_RUN_CHILDREN_REFUSAL, "ValidationException")
        return original(self)

    list_executions._fanout_sandbox = True  # type: ignore[attr-defined]
    patch_attribute(StepFunctionResponse, "list_executions", list_executions)


REDRIVE_REFUSAL = (
    "the local sandbox cannot redrive executions: its Step Functions emulator "
    f"(moto {MOTO_VERSION}) can only run an execution from its start, not resume one where it stopped; "
    "a real account (TARGET=aws) can"
)


def refuse_redrive_execution() -> None:
    """Gap 19: moto has no ``RedriveExecution`` (HTTP 500, NotImplementedError, retried by every SDK).

    A redrive resumes an execution where it failed, stopped or timed out, under the same ARN and with
    its history kept, re-running only unsuccessful iterations and a failed Map Run
    (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html). moto's interpreter
    can only start a program from ``StartAt``, and starting over is not a redrive, so the sandbox does
    not pretend: it answers as AWS answers an execution that cannot be redriven, ``ExecutionNotRedrivable``
    (HTTP 400) saying why (:data:`REDRIVE_REFUSAL`), after ``ExecutionDoesNotExist`` for an unknown
    execution, as AWS checks first.
    """
    from moto.core.exceptions import AWSError
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def redrive_execution(self: Any) -> ActionResult:
        self.stepfunction_backend.describe_execution(self._get_param("executionArn"))  # may not exist
        raise AWSError(REDRIVE_REFUSAL, "ExecutionNotRedrivable")

    patch_attribute(StepFunctionResponse, "redrive_execution", redrive_execution)


# --- end of gaps 17-19 -----------------------------------------------------------------------------


# --- gap 16: the Distributed Map's ResultWriter writes no result files ---------------------------


def result_file_entry(
    map_run_arn: str, index: int, child_input: Any, state: Any, output: Any
) -> dict[str, Any]:
    """One child execution in AWS's result-file shape
    (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html)."""
    import datetime as dt

    from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped

    now = dt.datetime.now(dt.UTC).isoformat()
    arn = map_run_arn.replace(":mapRun:", ":execution:", 1).rsplit(":", 1)[0] + f":{index:08d}"
    entry: dict[str, Any] = {
        "ExecutionArn": arn,
        "Input": json.dumps(child_input),
        "InputDetails": {"Included": True},
        "Name": arn.rsplit(":", 1)[-1],
        "StartDate": now,
        "StopDate": now,
        "StateMachineArn": map_run_arn.rsplit(":", 1)[0].replace(":mapRun:", ":stateMachine:", 1),
    }
    if isinstance(state, ProgramError):
        error = getattr(state, "error", None) or {}
        entry.update(
            Status="FAILED", Error=error.get("error", "States.Runtime"), Cause=error.get("cause", "")
        )
    elif isinstance(state, ProgramStopped) or output is None:
        entry.update(Status="FAILED" if output is None else "ABORTED", Error="States.Runtime", Cause="")
    else:
        entry.update(Status="SUCCEEDED", Output=json.dumps(output), OutputDetails={"Included": True})
    return entry


def write_map_run_result_files() -> None:
    """Gap 16 (found by this project): moto's ``ResultWriter`` writes a manifest whose ``ResultFiles``
    are always empty (its source leaves result files for later) and keeps no child's outcome; AWS writes
    ``SUCCEEDED_n.json`` / ``FAILED_n.json`` / ``PENDING_n.json`` beside ``manifest.json``, each a JSON
    array of child executions with Input, Output or Error and Cause, and Status. The sandbox now records
    each child's input (after ItemSelector) and outcome per Map Run and writes those files the same way
    (one file per status; AWS splits at 5 GB). The child ARNs are made up (moto runs children in process).
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as worker_module,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3,
    )

    worker = worker_module.DistributedItemProcessorWorker
    eval_job_before = worker._eval_job
    if getattr(eval_job_before, "_fanout_sandbox", False):
        return
    eval_input_before = worker._eval_input
    selected = threading.local()

    def eval_input(self: Any, env_frame: Any) -> None:
        eval_input_before(self, env_frame)
        selected.value = env_frame.states.get_input()

    def eval_job(self: Any, env: Any, job: Any) -> None:
        selected.value = job.job_input
        eval_job_before(self, env, job)
        record = self._map_run_record
        with _RESULTS_LOCK:
            results = record.__dict__.setdefault("_fanout_results", [])
            results.append(
                result_file_entry(
                    record.map_run_arn, job.job_index, selected.value, env.program_state(), job.job_output
                )
            )

    eval_job._fanout_sandbox = True  # type: ignore[attr-defined]
    patch_attribute(worker, "_eval_input", eval_input)
    patch_attribute(worker, "_eval_job", eval_job)

    handler_before = resource_eval_s3.ResourceEvalS3._handle_put_object

    def handle_put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        record = env.map_run_record_pool_manager.get_all()[-1]
        handler_before(env, resource_runtime_part, state_credentials)
        details = env.stack[-1]["ResultWriterDetails"]
        s3 = resource_eval_s3.ResourceEvalS3._get_s3_client(resource_runtime_part, state_credentials)
        manifest = json.loads(s3.get_object(Bucket=details["Bucket"], Key=details["Key"])["Body"].read())
        folder = details["Key"].rsplit("/", 1)[0]
        with _RESULTS_LOCK:
            results = list(record.__dict__.get("_fanout_results", []))
        for status in ("SUCCEEDED", "FAILED", "PENDING"):
            chosen = [
                r
                for r in results
                if r["Status"] == status or (status == "FAILED" and r["Status"] == "ABORTED")
            ]
            if not chosen:
                continue
            body = json.dumps(chosen).encode()
            key = f"{folder}/{status}_0.json"
            s3.put_object(Bucket=details["Bucket"], Key=key, Body=body)
            manifest["ResultFiles"][status] = [{"Key": key, "Size": len(body)}]
        s3.put_object(
            Bucket=details["Bucket"], Key=details["Key"], Body=json.dumps(manifest, indent=2).encode()
        )

    patch_attribute(resource_eval_s3.ResourceEvalS3, "_handle_put_object", staticmethod(handle_put_object))


_RESULTS_LOCK = threading.Lock()


# --- all of them ----------------------------------------------------------------------------------


def list_moto_modules_once() -> None:
    """Gap 22 (found by this project, speed only): moto's server finds the service of every request
    with ``backends.list_of_moto_modules()``, which lists moto's package folder and stats each of its
    ~200 entries each time: about a tenth of the server's CPU in a 200,000-item run. The folder does not
    change while the server runs, so it is listed once."""
    from moto import backends

    listed = tuple(backends.list_of_moto_modules())
    patch_attribute(backends, "list_of_moto_modules", lambda: listed)


def parse_managed_policies_once() -> None:
    """Gap 23 (found by this project, speed only): moto builds the ~1,300 AWS managed policies for
    every IAM backend it creates (one per account and partition: each request looks its caller's access
    key up in all of them), and parses its whole policy file for each, then encodes each policy's
    document again: ~85 ms per backend, ~40% of the CPU of a test that starts moto afresh. The file does
    not change, so it is parsed and encoded once; every backend still gets policy objects of its own
    (they count their attachments)."""
    from datetime import datetime

    from moto.iam import models
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    @cache
    def policies() -> tuple[tuple[str, dict[str, Any]], ...]:
        return tuple(
            (
                name,
                {  # what AWSManagedPolicy.from_data passes on, from the same fields
                    "default_version_id": data.get("DefaultVersionId"),
                    "path": data.get("Path"),
                    "document": json.dumps(data.get("Document")),
                    "create_date": datetime.fromisoformat(data["CreateDate"]),
                    "update_date": datetime.fromisoformat(data["UpdateDate"]),
                },
            )
            for name, data in json.loads(aws_managed_policies_data).items()
        )

    def init_aws_policies(self: Any) -> list[Any]:
        if not models.load_iam_aws_managed_policies():
            return []
        return [
            models.AWSManagedPolicy(name, account_id=self.account_id, region=self.region_name, **fields)
            for name, fields in policies()
        ]

    patch_attribute(models.IAMBackend, "_init_aws_policies", init_aws_policies)


def look_up_access_keys_in_existing_iam_backends() -> None:
    """Gap 24 (found by this project, speed only): to find a request's account, moto looks its access key
    up in the IAM backend of every partition of every account, and so creates the backends of all
    eight partitions of an account (each with its managed policies, see gap 23) though only ``aws`` is
    used. A backend not yet created holds no access key, so the look-up skips them: same answer, and a
    test that starts moto afresh no longer builds seven unused backends."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam import models

    def get_account_id_from(access_key: str) -> str:
        for account_id, account in list(models.iam_backends.items()):
            for partition in list(account.keys()):  # the backends this account has; none are created
                if access_key in dict.__getitem__(account, partition).access_keys:
                    return str(account_id)
        return DEFAULT_ACCOUNT_ID

    patch_attribute(models, "get_account_id_from", get_account_id_from)


REPLAY_KEEP = 512
"""How many answered SDK invocations the server remembers for :func:`replay_retried_sdk_requests`."""
REPLAY_MAX_BODY = 256 * 1024
"""Larger answers are not kept (the API calls a stack makes answer a few KiB)."""
REPLAY_WAIT_SECONDS = 120.0


def replay_retried_sdk_requests(app: Callable[..., Any]) -> Callable[..., Any]:
    """Gap 21 (found by this project): the emulator's HTTP server (werkzeug) now and then loses an
    answer under load, after moto did the request. The SDK then sends the request again (an SDK retries
    a connection error: https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html)
    and moto does it twice: a create answers "already exists" (IAM roles, Batch job queues, EC2
    routes), a revoke "not found", and ``terraform apply`` fails half-way. Seen in two ``make test``
    runs and in two of three runs of three applies side by side on a busy machine; a request log in the
    server showed attempt 1 done (200 OK, body fully read) before attempt 2 of the same call came.

    Every AWS SDK sends ``amz-sdk-invocation-id`` (one per call, the same on each retry) and
    ``amz-sdk-request: attempt=N``. This WSGI wrapper remembers the answer to each changing call
    (any method but GET and HEAD) and gives a later attempt of the same call that answer, without
    doing it again; an attempt that arrives while the first still runs waits for it. Calls without
    the header (the job reader, curl) are not touched."""
    import logging
    import re
    from collections import OrderedDict

    log = logging.getLogger(__name__)
    lock = threading.Lock()
    answered: OrderedDict[str, tuple[str, list[tuple[str, str]], bytes]] = OrderedDict()
    running: dict[str, threading.Event] = {}

    def replaying_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        invocation = environ.get("HTTP_AMZ_SDK_INVOCATION_ID")
        if not invocation or environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return app(environ, start_response)
        with lock:
            first = invocation not in answered and invocation not in running
            event = running.setdefault(invocation, threading.Event()) if first else running.get(invocation)
        if not first:
            if event is not None:
                event.wait(REPLAY_WAIT_SECONDS)
            with lock:
                kept = answered.get(invocation)
            if kept is not None:
                attempt = re.search(r"attempt=(\d+)", environ.get("HTTP_AMZ_SDK_REQUEST", ""))
                log.warning(
                    "sandbox: attempt %s of SDK call %s already done: its answer is given again",
                    attempt.group(1) if attempt else "?",
                    invocation,
                )
                status, headers, body = kept
                start_response(status, headers)
                return [body]
            return app(environ, start_response)  # the first attempt ended without an answer
        answer: dict[str, Any] = {}

        def keep_status(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer["status"], answer["headers"] = status, list(headers)
            return start_response(status, headers, exc_info)

        try:
            result = app(environ, keep_status)
            try:
                body = b"".join(result)
            finally:
                getattr(result, "close", lambda: None)()
            if "status" in answer and len(body) <= REPLAY_MAX_BODY:
                with lock:
                    answered[invocation] = (answer["status"], answer["headers"], body)
                    while len(answered) > REPLAY_KEEP:
                        answered.popitem(last=False)
            return [body]
        finally:
            with lock:
                running.pop(invocation).set()

    return replaying_app


def apply_all(port: int) -> None:
    """Install every workaround (the server calls this once, before it serves)."""
    import moto

    if moto.__version__ != MOTO_VERSION:
        import logging

        logging.getLogger(__name__).warning(
            "moto %s is installed; the sandbox workarounds were tested with %s (run the compat tests)",
            moto.__version__,
            MOTO_VERSION,
        )
    add_validate_state_machine_definition()
    add_list_state_machine_versions()
    fill_normalisation_hooks()
    set_callback_port(port)
    keep_states_errors_in_map_iterations()
    make_describe_jobs_thread_safe()
    conditional_deny_needs_its_condition()
    accept_integer_tolerated_failure_percentage()
    publish_execution_status_change_events()
    deliver_rule_targets_to_sns_topics()
    keep_job_state_time_limit_actions()
    stopped_executions_end_aborted()
    refuse_listing_map_run_children()
    refuse_redrive_execution()
    write_map_run_result_files()
    list_moto_modules_once()
    parse_managed_policies_once()
    look_up_access_keys_in_existing_iam_backends()
