"""CKV_FANOUT_8: a topic policy admits exactly the plan's publishers of the topic, each by aws:SourceArn.

The publishers are read from the plan: every EventBridge rule with a target on the topic
(``events.amazonaws.com``) and every CloudWatch alarm with the topic among its actions
(``cloudwatch.amazonaws.com``). Each Allow statement must name one service principal, allow only
``sns:Publish`` on the topic, and carry an ``aws:SourceArn`` condition (exact ARNs, no wildcard) naming
publishers of that service; every publisher must be admitted (or it could not publish). Without the
condition any rule or alarm of any account could publish to the topic (confused deputy):
https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html
"""

from __future__ import annotations

from fanout_tools.checks._plan import PlanCheck, PlanIndex, Resource, as_list, load_json, statements

ID = "CKV_FANOUT_8"
NAME = "SNS topic policy admits only the topic's rules and alarms, each bounded by aws:SourceArn"
EXACT_OPERATORS = ("arnequals", "stringequals", "arnlike", "stringlike")
ACTION_REFS = ("alarm_actions", "ok_actions", "insufficient_data_actions")


def publishers(index: PlanIndex, topic: Resource) -> set[tuple[str, str]]:
    """(service principal, source ARN) of every rule and alarm of the plan that publishes to ``topic``."""
    ctx = index.context()
    prefix = f"arn:{ctx['partition']}:{{service}}:{ctx['region']}:{ctx['account_id']}:"
    found: set[tuple[str, str]] = set()
    for target in index.of_type("aws_cloudwatch_event_target"):
        if index.referenced(target, "arn", "aws_sns_topic") is not topic:
            continue
        rule = index.referenced(target, "rule", "aws_cloudwatch_event_rule")
        name = str((rule.values if rule else target.values).get("name") or target.values.get("rule") or "")
        bus = str((rule.values if rule else {}).get("event_bus_name") or "default")
        path = f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}"
        found.add(("events.amazonaws.com", prefix.format(service="events") + path))
    for alarm in index.of_type("aws_cloudwatch_metric_alarm"):
        if any(index.referenced(alarm, attr, "aws_sns_topic") is topic for attr in ACTION_REFS):
            name = str(alarm.values.get("alarm_name") or "")
            found.add(("cloudwatch.amazonaws.com", prefix.format(service="cloudwatch") + f"alarm:{name}"))
    return found


class TopicPolicyBoundedBySourceArn(PlanCheck):
    def __init__(self) -> None:
        super().__init__(ID, NAME, ["aws_sns_topic_policy"])

    def problems(self, index: PlanIndex, resource: Resource) -> list[str] | None:
        document = load_json(resource.values.get("policy"))
        if not isinstance(document, dict):
            return ["the topic policy is unknown at plan time"]
        topic = index.referenced(resource, "arn", "aws_sns_topic")
        if topic is None:
            return ["the policy is not attached to a topic of this plan"]
        ctx = index.context()
        name = topic.values.get("name")
        topic_arn = f"arn:{ctx['partition']}:sns:{ctx['region']}:{ctx['account_id']}:{name}"
        expected = publishers(index, topic)
        admitted: set[tuple[str, str]] = set()
        problems: list[str] = []
        for number, st in enumerate(statements(document)):
            sid = st.get("Sid") or f"#{number}"
            if st.get("Effect") != "Allow":
                continue  # a Deny only narrows
            principal = st.get("Principal")
            services = as_list(principal.get("Service")) if isinstance(principal, dict) else []
            if not isinstance(principal, dict) or set(principal) != {"Service"} or len(services) != 1:
                problems.append(
                    f"statement {sid}: the principal must be exactly one service, found {principal!r}"
                )
                continue
            service = str(services[0])
            actions = [str(a) for a in as_list(st.get("Action"))]
            if actions != ["sns:Publish"] or "NotAction" in st:
                problems.append(f"statement {sid}: must allow only sns:Publish, found {actions}")
            resources = [str(r) for r in as_list(st.get("Resource"))]
            if resources != [topic_arn]:
                problems.append(
                    f"statement {sid}: the resource must be the topic {topic_arn}, found {resources}"
                )
            sources: list[str] = []
            for operator, conditions in (st.get("Condition") or {}).items():
                for key, values in (conditions or {}).items():
                    if key.lower() != "aws:sourcearn":
                        continue
                    if operator.lower() not in EXACT_OPERATORS:
                        problems.append(
                            f"statement {sid}: {operator} on aws:SourceArn does not bound the source"
                        )
                    sources += [str(v) for v in as_list(values)]
            if not sources:
                problems.append(
                    f"statement {sid}: {service} has no aws:SourceArn condition (confused deputy)"
                )
            for source in sources:
                if "*" in source or "?" in source:
                    problems.append(f"statement {sid}: aws:SourceArn {source} has a wildcard")
                elif (service, source) not in expected:
                    problems.append(
                        f"statement {sid}: aws:SourceArn {source} is no {service} publisher of this topic "
                        "in the plan"
                    )
                else:
                    admitted.add((service, source))
        for service, source in sorted(expected - admitted):
            problems.append(f"missing: {service} from {source} may not publish (its alerts would be lost)")
        return problems


check = TopicPolicyBoundedBySourceArn()
