"""CKV_FANOUT_2: ``"*"`` as Resource only for actions without resource-level permissions.

The list of such actions is the ``unscoped`` section of ``fanout_tools/iam_integrations.json`` (the
one table). Action wildcards (``s3:*``) and NotAction/NotResource also fail.
"""

from __future__ import annotations

from fanout_tools.checks._plan import PlanCheck, PlanIndex, Resource, as_list, load_json, statements

ID = "CKV_FANOUT_2"
NAME = "IAM statements use Resource '*' only for actions without resource-level permissions"


class WildcardOnlyForUnscopedActions(PlanCheck):
    def __init__(self) -> None:
        super().__init__(ID, NAME, ["aws_iam_role_policy", "aws_iam_policy"])

    def problems(self, index: PlanIndex, resource: Resource) -> list[str] | None:
        from fanout_tools.iam import unscoped_actions

        document = load_json(resource.values.get("policy"))
        if not isinstance(document, dict):
            return ["the policy is unknown at plan time: build its ARNs from names and data sources"]
        unscoped = unscoped_actions()
        problems = []
        for st in statements(document):
            sid = st.get("Sid", "(no Sid)")
            if "NotAction" in st or "NotResource" in st:
                problems.append(f"{sid}: NotAction/NotResource grant everything not listed")
            actions = [str(a) for a in as_list(st.get("Action"))]
            wild_actions = [a for a in actions if "*" in a or "?" in a]
            if wild_actions:
                problems.append(f"{sid}: wildcard actions {', '.join(wild_actions)}")
            if "*" in [str(r) for r in as_list(st.get("Resource"))]:
                scoped = sorted(a for a in actions if a not in unscoped)
                if scoped:
                    problems.append(
                        f"{sid}: Resource '*' for actions that support resource-level permissions: "
                        f"{', '.join(scoped)}"
                    )
        return problems


check = WildcardOnlyForUnscopedActions()
