"""CKV_FANOUT_6: the Lambda traces actively and logs to its own log group declared with a retention.

A log group the stack does not declare would be created by Lambda on first use, without retention.
"""

from __future__ import annotations

from fanout_tools.checks._plan import PlanCheck, PlanIndex, Resource, as_list

ID = "CKV_FANOUT_6"
NAME = "Lambda X-Ray tracing Active and its log group declared with a retention"


class LambdaObservability(PlanCheck):
    def __init__(self) -> None:
        super().__init__(ID, NAME, ["aws_lambda_function"])

    def problems(self, index: PlanIndex, resource: Resource) -> list[str] | None:
        problems = []
        tracing = as_list(resource.values.get("tracing_config"))
        if not (tracing and tracing[0].get("mode") == "Active"):
            problems.append("tracing_config mode is not Active")
        name = resource.values.get("function_name")
        wanted = f"/aws/lambda/{name}"
        logging_config = as_list(resource.values.get("logging_config"))
        if logging_config and logging_config[0].get("log_group"):
            wanted = logging_config[0]["log_group"]
        groups = [g for g in index.of_type("aws_cloudwatch_log_group") if g.values.get("name") == wanted]
        if not groups:
            problems.append(f"no aws_cloudwatch_log_group named {wanted} in the stack")
        elif not groups[0].values.get("retention_in_days"):
            problems.append(f"log group {wanted} has no retention")
        return problems


check = LambdaObservability()
