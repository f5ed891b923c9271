"""IAM derived from the definition: exactly the actions and resources each mode needs."""

from __future__ import annotations

import copy
import json

import pytest
from fanout_tools import iam, render

P = "arn:${partition}"
RA = "${region}:${account_id}"
COMMON = {
    "InvokeGeneratorFunction": (["lambda:InvokeFunction"], ["${generator_function_arn}"]),
    "SubmitBatchJobs": (
        ["batch:SubmitJob"],
        [
            "${job_queue_arn}",
            f"{P}:batch:{RA}:job-definition/${{job_definition_name}}",
            f"{P}:batch:{RA}:job-definition/${{job_definition_name}}:*",
            f"{P}:batch:{RA}:job/*",
        ],
    ),
    "TerminateBatchJobs": (["batch:TerminateJob"], [f"{P}:batch:{RA}:job/*"]),
    "ManageBatchJobEventsRule": (
        ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
        [f"{P}:events:{RA}:rule/StepFunctionsGetEventsForBatchJobsRule"],
    ),
}
UNSCOPED = {
    "DescribeBatchJobs": ["batch:DescribeJobs"],
    "DeliverExecutionLogs": [
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:DescribeLogGroups",
        "logs:DescribeResourcePolicies",
        "logs:GetLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:UpdateLogDelivery",
    ],
    "SendTraces": [
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    ],
}
DISTRIBUTED = {
    "ReadItemManifest": (["s3:GetObject"], [f"{P}:s3:::${{bucket_name}}/${{runs_prefix}}*"]),
    "WriteMapResults": (
        ["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"],
        [f"{P}:s3:::${{bucket_name}}/${{runs_prefix}}results*"],
    ),
    "StartMapRunChildren": (
        ["states:StartExecution"],
        [f"{P}:states:{RA}:stateMachine:${{state_machine_name}}"],
    ),
    "ManageMapRunChildren": (
        ["states:DescribeExecution", "states:StopExecution"],
        [
            f"{P}:states:{RA}:execution:${{state_machine_name}}/FanOut:*",
            f"{P}:states:{RA}:execution:${{state_machine_name}}:*",
        ],
    ),
    "RedriveMapRunChildren": (
        ["states:RedriveExecution"],
        [f"{P}:states:{RA}:execution:${{state_machine_name}}/FanOut:*"],
    ),
}


def template_definition(mode: str) -> dict:
    text = render.render_template(mode)
    from fanout_tools.asl_validate import templatefile

    return json.loads(templatefile(text, {**render.placeholder_context(), **render.DEFAULT_NUMBERS}))


def by_sid(policy: dict) -> dict:
    return {s["Sid"]: (s["Action"], s["Resource"]) for s in policy["Statement"]}


@pytest.mark.parametrize("mode", render.MODES)
def test_each_mode_gets_exactly_the_expected_statements(mode):
    policy = iam.derive_policy(template_definition(mode), render.placeholder_context())
    expected = dict(COMMON)
    if mode in render.DISTRIBUTED_MODES:
        expected.update(DISTRIBUTED)
    expected.update({sid: (actions, "*") for sid, actions in UNSCOPED.items()})
    assert by_sid(policy) == expected
    assert policy["Version"] == "2012-10-17"
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])


@pytest.mark.parametrize("mode", render.MODES)
def test_committed_policy_template_is_the_derived_policy(mode):
    committed = json.loads((render.definitions_dir() / f"{mode}.policy.json.tftpl").read_text())
    assert committed == iam.derive_policy(template_definition(mode), render.placeholder_context())


def test_star_resources_only_for_actions_without_resource_level_permissions():
    policy = iam.derive_policy(template_definition("distributed"), render.placeholder_context())
    for statement in policy["Statement"]:
        if statement["Resource"] == "*" or "*" in statement["Resource"]:
            assert set(statement["Action"]) <= iam.unscoped_actions()


def test_real_values_give_concrete_arns():
    values = {**render.EXAMPLE_STRINGS}
    definition = json.loads(render.render_concrete("distributed_array", values))
    context = {
        k: values[k] for k in ("partition", "region", "account_id", "state_machine_name", "runs_prefix")
    }
    grants = by_sid(iam.derive_policy(definition, context, logging=False, tracing=False))
    assert grants["SubmitBatchJobs"][1] == [
        "arn:aws:batch:us-east-1:123456789012:job-definition/fanout",
        "arn:aws:batch:us-east-1:123456789012:job-definition/fanout:*",
        "arn:aws:batch:us-east-1:123456789012:job-queue/fanout",
        "arn:aws:batch:us-east-1:123456789012:job/*",
    ]
    assert grants["ReadItemManifest"][1] == ["arn:aws:s3:::fanout-123456789012-us-east-1/runs/*"]
    assert "DeliverExecutionLogs" not in grants and "SendTraces" not in grants
    assert "DescribeBatchJobs" in grants


def test_deterministic_output():
    definition = template_definition("array")
    ctx = render.placeholder_context()
    assert json.dumps(iam.derive_policy(definition, ctx)) == json.dumps(
        iam.derive_policy(copy.deepcopy(definition), ctx)
    )


def batch_task(**params) -> dict:
    base = {"JobName": "j", "JobQueue": "q", "JobDefinition": "arn:aws:batch:r:1:job-definition/defn:7"}
    base.update(params)
    return {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::batch:submitJob.sync",
                "Parameters": base,
                "End": True,
            }
        },
    }


CTX = {"partition": "aws", "region": "eu-west-1", "account_id": "123456789012", "state_machine_name": "sm"}


def test_job_definition_by_name_needs_the_revision_less_arn_too():
    """Submitting by name (latest revision) is authorized against job-definition/<name>, not only :*
    (https://github.com/aws/aws-cdk/issues/25574, https://github.com/aws/aws-sdk-js/issues/4280)."""
    for mode in render.MODES:
        submit = by_sid(iam.derive_policy(template_definition(mode), render.placeholder_context()))
        resources = submit["SubmitBatchJobs"][1]
        assert f"{P}:batch:{RA}:job-definition/${{job_definition_name}}" in resources
        assert f"{P}:batch:{RA}:job-definition/${{job_definition_name}}:*" in resources
        assert not [r for r in resources if r.endswith("job-definition/*")]


def test_job_queue_name_and_definition_revision_are_normalised():
    grants = by_sid(iam.derive_policy(batch_task(), CTX))
    assert grants["SubmitBatchJobs"][1] == [
        "arn:aws:batch:eu-west-1:123456789012:job-definition/defn",
        "arn:aws:batch:eu-west-1:123456789012:job-definition/defn:*",
        "arn:aws:batch:eu-west-1:123456789012:job-queue/q",
        "arn:aws:batch:eu-west-1:123456789012:job/*",
    ]
    assert "TagBatchJobs" not in grants


def test_tags_need_tag_resource():
    grants = by_sid(iam.derive_policy(batch_task(Tags={"team": "x"}), CTX))
    assert grants["TagBatchJobs"] == (["batch:TagResource"], ["arn:aws:batch:eu-west-1:123456789012:job/*"])


@pytest.mark.parametrize(
    ("definition", "words"),
    [
        (batch_task(**{"JobQueue.$": "$.queue", "JobQueue": None}), "JobQueue must be a fixed string"),
        (
            {
                "StartAt": "T",
                "States": {
                    "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}
                },
            },
            "'sqs:sendMessage' is not in iam_integrations.json",
        ),
        (
            {
                "StartAt": "T",
                "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:r:1:function:f", "End": True}},
            },
            "not a Step Functions service integration",
        ),
    ],
)
def test_what_cannot_be_scoped_is_an_error(definition, words):
    for state in definition["States"].values():
        params = state.get("Parameters", {})
        for key in [k for k, v in params.items() if v is None]:
            del params[key]
    with pytest.raises(iam.PolicyDerivationError, match=words):
        iam.derive_policy(definition, CTX)


def test_dynamic_s3_key_needs_runs_prefix_in_context():
    with pytest.raises(iam.PolicyDerivationError, match="runs_prefix"):
        iam.derive_policy(
            template_definition("distributed"), {**render.placeholder_context(), "runs_prefix": ""}
        )


def test_missing_context_is_an_error():
    with pytest.raises(iam.PolicyDerivationError, match="account_id"):
        iam.derive_policy(
            template_definition("inline"), {"partition": "aws", "region": "r", "state_machine_name": "s"}
        )
