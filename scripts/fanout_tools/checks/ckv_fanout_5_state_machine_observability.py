"""CKV_FANOUT_5: the state machine logs everything (level ALL, execution data) and traces with X-Ray.

The log destination must be a log group of the stack with a retention.
"""

from __future__ import annotations

from fanout_tools.checks._plan import PlanCheck, PlanIndex, Resource, as_list

ID = "CKV_FANOUT_5"
NAME = "State machine logging level ALL with execution data to a retained log group, and X-Ray tracing"


class StateMachineObservability(PlanCheck):
    def __init__(self) -> None:
        super().__init__(ID, NAME, ["aws_sfn_state_machine"])

    def problems(self, index: PlanIndex, resource: Resource) -> list[str] | None:
        problems = []
        logging_blocks = as_list(resource.values.get("logging_configuration"))
        block = logging_blocks[0] if logging_blocks else {}
        if block.get("level") != "ALL":
            problems.append(f"logging level is {block.get('level')!r}, expected ALL")
        if block.get("include_execution_data") is not True:
            problems.append("include_execution_data is not true")
        group = index.referenced(
            resource, "logging_configuration.log_destination", "aws_cloudwatch_log_group"
        )
        if group is None:
            # planned value (or a reference found in the block's expressions)
            for expr in as_list(resource.expressions.get("logging_configuration")):
                for ref in (expr.get("log_destination") or {}).get("references", []):
                    parts = ref.split(".")
                    if parts[0] == "aws_cloudwatch_log_group":
                        target = f"{resource.module}.{parts[0]}.{parts[1]}".lstrip(".")
                        group = index.resources.get(target)
        if group is None:
            problems.append("logs do not go to a log group declared in the stack")
        elif not group.values.get("retention_in_days"):
            problems.append(f"log group {group.address} has no retention")
        tracing = as_list(resource.values.get("tracing_configuration"))
        if not (tracing and tracing[0].get("enabled") is True):
            problems.append("X-Ray tracing is not enabled")
        return problems


check = StateMachineObservability()
