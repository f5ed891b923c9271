"""CKV_FANOUT_7: every log group keeps its events for the stack's promised retention.

When the root module has a ``log_retention_days`` variable, every log group uses exactly that value;
otherwise any retention (never "forever", which is also never cleaned up) passes.
"""

from __future__ import annotations

from fanout_tools.checks._plan import PlanCheck, PlanIndex, Resource

ID = "CKV_FANOUT_7"
NAME = "Log groups use the stack's log_retention_days"


class LogRetention(PlanCheck):
    def __init__(self) -> None:
        super().__init__(ID, NAME, ["aws_cloudwatch_log_group"])

    def problems(self, index: PlanIndex, resource: Resource) -> list[str] | None:
        retention = resource.values.get("retention_in_days")
        promised = index.variables.get("log_retention_days")
        if not retention:
            return ["retention_in_days is not set (events kept forever)"]
        if promised is not None and retention != promised:
            return [f"retention_in_days is {retention}, the stack's log_retention_days is {promised}"]
        return []


check = LogRetention()
