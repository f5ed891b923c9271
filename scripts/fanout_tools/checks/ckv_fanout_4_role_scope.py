"""CKV_FANOUT_4: the Lambda, Batch execution, job (and service/instance) roles hold only what they use.

Exactly the grants and managed policies ``_role_scopes.py`` lists for the role, filled with values
from the plan. The state machine's role is CKV_FANOUT_1's (derived from the definition).
"""

from __future__ import annotations

from fanout_tools.checks._plan import (
    PlanCheck,
    PlanIndex,
    Resource,
    compare,
    grants,
    role_context,
    scope_of,
    scoped_grants,
)

ID = "CKV_FANOUT_4"
NAME = "Lambda, Batch execution and job roles hold exactly the grants they use"


class RoleHoldsOnlyWhatItUses(PlanCheck):
    def __init__(self) -> None:
        super().__init__(ID, NAME, ["aws_iam_role"])

    def problems(self, index: PlanIndex, resource: Resource) -> list[str] | None:
        scope = scope_of(resource)
        if scope is None:
            return ["the role is not described in checks/_role_scopes.py: say what it may do there"]
        if scope.get("derived"):
            return None  # CKV_FANOUT_1
        ctx = role_context(index, resource)
        expected, expected_managed = scoped_grants(scope, ctx)
        documents, managed = index.role_grants(resource)
        actual, problems = grants([doc for _, doc in documents])
        problems += compare(actual, expected)
        if set(managed) != expected_managed:
            problems.append(f"managed policies {sorted(managed)}, expected {sorted(expected_managed)}")
        return problems


check = RoleHoldsOnlyWhatItUses()
