"""Derive the state-machine role's IAM policy from an ASL definition.

One table (``iam_integrations.json`` beside this module) maps each Step Functions integration to the
actions and resource ARN patterns it needs; :func:`derive_policy` walks a definition and returns the
policy document. It is pure (no AWS calls, no files other than the table) so that:

* ``fanout render`` writes ``<mode>.policy.json.tftpl`` from the templated definition, where the context
  values are Terraform placeholders themselves (``{"partition": "${partition}", ...}``);
* the compliance checks call it on a plan's real definition with the real context and compare.

Context keys: ``partition``, ``region``, ``account_id``, ``state_machine_name`` (required) and
``runs_prefix`` (required only when S3 keys/prefixes come from the execution's data, as in the
distributed modes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from fanout_tools.errors import ConfigError

TABLE_PATH = Path(__file__).with_name("iam_integrations.json")
REQUIRED_CONTEXT = ("partition", "region", "account_id", "state_machine_name")
_INTEGRATION = re.compile(r"^arn:[^:]+:states:::(?P<name>.+)$")


class PolicyDerivationError(ConfigError):
    """The definition uses something the integration table cannot scope."""


@cache
def integration_table() -> dict[str, Any]:
    """The parsed ``iam_integrations.json``."""
    return json.loads(TABLE_PATH.read_text())


def unscoped_actions() -> set[str]:
    """Every action the table lists as having no resource-level permissions (``Resource: "*"``)."""
    return {a for group in integration_table()["unscoped"].values() for a in group["actions"]}


def derive_policy(
    definition: dict[str, Any],
    context: dict[str, str],
    *,
    logging: bool = True,
    tracing: bool = True,
) -> dict[str, Any]:
    """Return the IAM policy document (``Version`` + ``Statement``) the definition needs.

    ``definition``: the parsed ASL (top-level dict with ``States``); states are walked recursively
    (Map ``ItemProcessor``/``Iterator``, Parallel ``Branches``). ``context``: see the module doc.
    ``logging``/``tracing``: the state machine logs to CloudWatch Logs / traces with X-Ray, which adds
    the (unscoped) delivery and tracing actions. Statements come in table order with fixed Sids;
    actions and resources are sorted and de-duplicated. Raises :class:`PolicyDerivationError` for a
    Task integration the table does not know or a parameter that cannot be scoped.
    """
    missing = [k for k in REQUIRED_CONTEXT if not context.get(k)]
    if missing:
        raise PolicyDerivationError(
            f"derive_policy context lacks {', '.join(missing)}",
            "pass partition, region, account_id and state_machine_name (placeholders for a template)",
        )
    table = integration_table()
    # sid -> (actions, resources); dict keeps first-seen order, re-sorted by table order below.
    grants: dict[str, tuple[set[str], set[str]]] = {}
    unscoped: set[str] = set()

    def grant(integration: str, values: dict[str, str]) -> None:
        spec = table["integrations"][integration]
        for statement in spec["statements"]:
            actions, resources = grants.setdefault(statement["sid"], (set(), set()))
            actions.update(statement["actions"])
            resources.update(_fill(p, {**context, **values}) for p in statement["resources"])
        unscoped.update(spec.get("unscoped_groups", []))

    for path, state in _walk(definition.get("States", {}), "States"):
        _derive_state(path, state, context, grant)

    if logging:
        unscoped.add("logging")
    if tracing:
        unscoped.add("tracing")

    order = [s["sid"] for spec in table["integrations"].values() for s in spec["statements"]]
    statements = [
        {"Sid": sid, "Effect": "Allow", "Action": sorted(grants[sid][0]), "Resource": sorted(grants[sid][1])}
        for sid in order
        if sid in grants
    ]
    for group_name, group in table["unscoped"].items():
        if group_name in unscoped:
            statements.append(
                {"Sid": group["sid"], "Effect": "Allow", "Action": sorted(group["actions"]), "Resource": "*"}
            )
    return {"Version": "2012-10-17", "Statement": statements}


def _walk(states: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        here = f"{path}.{name}"
        yield here, state
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from _walk(state[key].get("States", {}), f"{here}.{key}")
        for i, branch in enumerate(state.get("Branches", []) or []):
            yield from _walk(branch.get("States", {}), f"{here}.Branches[{i}]")


def _derive_state(path: str, state: dict[str, Any], context: dict[str, str], grant) -> None:  # type: ignore[no-untyped-def]
    kind = state.get("Type")
    if kind == "Task":
        name = _integration(path, state.get("Resource", ""))
        params = state.get("Parameters") or state.get("Arguments") or {}
        if name == "lambda:invoke":
            grant(name, {"function_arn": _function_arn(path, params, context)})
        elif name in ("batch:submitJob.sync", "batch:submitJob"):
            grant(
                "batch:submitJob.sync",
                {
                    "job_queue_arn": _job_queue_arn(path, params, context),
                    "job_definition_name": _job_definition_name(path, params),
                },
            )
            if any(k.split(".$")[0] in ("Tags", "PropagateTags") for k in params):
                grant("batch:submitJob.sync+tags", {})
        else:
            raise PolicyDerivationError(
                f"{path}: integration {name!r} is not in {TABLE_PATH.name}",
                "add it to the table (actions and resource patterns) before using it in a definition",
            )
    elif kind == "Map":
        processor = state.get("ItemProcessor") or {}
        config = processor.get("ProcessorConfig") or {}
        if config.get("Mode") == "DISTRIBUTED":
            grant("distributed_map", {"label": state.get("Label") or "*"})
        reader = state.get("ItemReader")
        if reader:
            if _integration(f"{path}.ItemReader", reader.get("Resource", "")) != "s3:getObject":
                raise PolicyDerivationError(
                    f"{path}.ItemReader: only the s3:getObject reader is in {TABLE_PATH.name}",
                    "add the reader's integration to the table",
                )
            params = reader.get("Parameters") or reader.get("Arguments") or {}
            grant(
                "s3:getObject",
                {
                    "bucket": _static(f"{path}.ItemReader", params, "Bucket"),
                    "key": _key_or_prefix(f"{path}.ItemReader", params, "Key", context, wildcard="*"),
                },
            )
        writer = state.get("ResultWriter")
        if writer:
            params = writer.get("Parameters") or writer.get("Arguments") or {}
            grant(
                "s3:putObject",
                {
                    "bucket": _static(f"{path}.ResultWriter", params, "Bucket"),
                    "prefix": _key_or_prefix(f"{path}.ResultWriter", params, "Prefix", context, wildcard=""),
                },
            )


def _integration(path: str, resource: str) -> str:
    match = _INTEGRATION.match(resource)
    if not match:
        raise PolicyDerivationError(
            f"{path}: Resource {resource!r} is not a Step Functions service integration",
            "use an arn:<partition>:states:::<service>:<action> resource",
        )
    return match["name"]


def _static(path: str, params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise PolicyDerivationError(
            f"{path}: {key} must be a fixed string so the policy can name it",
            f"set {key} in the definition (not {key}.$)",
        )
    return value


def _key_or_prefix(
    path: str, params: dict[str, Any], key: str, context: dict[str, str], wildcard: str
) -> str:
    if isinstance(params.get(key), str):
        return params[key] + wildcard
    if f"{key}.$" in params:
        prefix = context.get("runs_prefix")
        if not prefix:
            raise PolicyDerivationError(
                f"{path}: {key}.$ is resolved at run time; context['runs_prefix'] is needed to scope it",
                "pass runs_prefix (the S3 prefix the generator writes under) in the context",
            )
        return prefix + "*" if wildcard else prefix
    raise PolicyDerivationError(f"{path}: no {key} given", f"set {key} or {key}.$")


def _function_arn(path: str, params: dict[str, Any], context: dict[str, str]) -> str:
    name = _static(path, params, "FunctionName")
    if name.startswith(("arn:", "${")):
        return name
    return _fill("arn:${partition}:lambda:${region}:${account_id}:function:" + name, context)


def _job_queue_arn(path: str, params: dict[str, Any], context: dict[str, str]) -> str:
    queue = _static(path, params, "JobQueue")
    if queue.startswith(("arn:", "${")):
        return queue
    return _fill("arn:${partition}:batch:${region}:${account_id}:job-queue/" + queue, context)


def _job_definition_name(path: str, params: dict[str, Any]) -> str:
    """The job definition's name: revisions (``name:3``) and ARNs reduce to the name.

    The table allows both ``job-definition/<name>`` (a submission by name, the latest revision, is
    authorized against the revision-less ARN) and ``job-definition/<name>:*`` (any revision).
    """
    value = _static(path, params, "JobDefinition")
    if value.startswith("arn:"):
        value = value.split("job-definition/", 1)[-1]
    return value.split(":", 1)[0]


def _fill(pattern: str, values: dict[str, str]) -> str:
    try:
        return Template(pattern).substitute(values)
    except KeyError as err:
        raise PolicyDerivationError(
            f"resource pattern {pattern!r} needs {err.args[0]!r}", "pass it in the context"
        ) from None
