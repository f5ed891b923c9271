"""CKV_FANOUT_1: the state machine's role grants exactly what its definition needs.

The expected policy is ``fanout_tools.iam.derive_policy`` of the state machine's real definition
(from the plan), with the context read from the plan: partition/region/account from its data
sources, the state machine's name, and the generator's FANOUT_RUNS_PREFIX. A missing action or
resource fails (the execution would break); an extra action or a wider resource fails (least
privilege). Extra grants that _role_scopes.py allows (the bucket's KMS key) are accepted.
"""

from __future__ import annotations

from typing import Any

from fanout_tools.checks._plan import (
    PlanCheck,
    PlanIndex,
    Resource,
    as_list,
    compare,
    grants,
    load_json,
    role_context,
    scope_of,
    scoped_grants,
)

ID = "CKV_FANOUT_1"
NAME = "State machine role grants exactly the policy derived from its definition"


class StateMachinePolicyMatchesDefinition(PlanCheck):
    def __init__(self) -> None:
        super().__init__(ID, NAME, ["aws_sfn_state_machine"])

    def problems(self, index: PlanIndex, resource: Resource) -> list[str] | None:
        from fanout_tools.errors import FanoutError
        from fanout_tools.iam import derive_policy

        definition = load_json(resource.values.get("definition"))
        if not isinstance(definition, dict):
            return ["the definition is unknown at plan time: build it from names and data sources"]
        role = index.role_of(resource, "role_arn")
        if role is None:
            return ["cannot find the aws_iam_role this state machine uses in the plan"]
        ctx = role_context(index, role)
        ctx["state_machine_name"] = str(resource.values.get("name") or "")
        logging_block = _first(resource.values.get("logging_configuration"))
        tracing_block = _first(resource.values.get("tracing_configuration"))
        try:
            derived = derive_policy(
                definition,
                ctx,
                logging=str(logging_block.get("level") or "OFF") != "OFF",
                tracing=bool(tracing_block.get("enabled")),
            )
        except FanoutError as err:
            return [f"cannot derive the policy: {err}"]
        expected, _ = grants([derived])
        scope = scope_of(role) or {}
        allowed_extra, _ = scoped_grants(scope, ctx)
        documents, managed = index.role_grants(role)
        actual, problems = grants([doc for _, doc in documents])
        problems += compare(actual - allowed_extra, expected)
        if managed:
            problems.append(
                f"managed policies attached (not derived from the definition): {', '.join(managed)}"
            )
        return problems


def _first(value: Any) -> dict[str, Any]:
    items = as_list(value)
    return items[0] if items and isinstance(items[0], dict) else {}


check = StateMachinePolicyMatchesDefinition()
