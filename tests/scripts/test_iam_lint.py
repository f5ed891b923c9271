"""parliament and cloudsplaining on the stack's policies: each fails a broad policy, the derived
policies pass with only the justified exceptions, and every exception explains itself."""

from __future__ import annotations

import json

import pytest
from fanout_tools import iam, iam_lint, render

ACCOUNT = "arn:aws:batch:us-east-1:123456789012"
BROAD = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["iam:*", "s3:*"], "Resource": "*"}],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        }
    ],
}


def resource(address: str, rtype: str, **values) -> dict:
    return {
        "address": address,
        "mode": "managed",
        "type": rtype,
        "name": address.split(".")[-1],
        "values": values,
    }


def plan(*resources: dict, unknown: dict | None = None) -> dict:
    return {
        "planned_values": {"root_module": {"child_modules": [{"resources": list(resources)}]}},
        "resource_changes": [
            {"address": address, "change": {"after_unknown": attrs}}
            for address, attrs in (unknown or {}).items()
        ],
    }


def role_policy(document: dict, address: str = "module.x.aws_iam_role_policy.definition") -> dict:
    return resource(address, "aws_iam_role_policy", policy=json.dumps(document))


def outcomes(the_plan: dict) -> dict[str, iam_lint.LintOutcome]:
    return {o.tool: o for o in iam_lint.lint_plan(the_plan, "plan test")}


def derived_policy(mode: str) -> dict:
    values = dict(render.EXAMPLE_STRINGS)
    definition = json.loads(render.render_concrete(mode, values))
    context = {
        k: values[k] for k in ("partition", "region", "account_id", "state_machine_name", "runs_prefix")
    }
    return iam.derive_policy(definition, context)


@pytest.mark.parametrize("tool", iam_lint.TOOLS)
def test_each_tool_fails_a_deliberately_broad_policy(tool):
    result = outcomes(plan(role_policy(BROAD)))[tool]
    assert not result.ok
    assert result.unexplained and all(f.tool == tool for f in result.unexplained)


def test_the_broad_policy_findings_name_what_is_wrong():
    by_tool = outcomes(plan(role_policy(BROAD)))
    assert {"PERMISSIONS_MANAGEMENT_ACTIONS", "PRIVILEGE_ESCALATION"} & {
        f.issue for f in by_tool["parliament"].findings
    }
    assert "PrivilegeEscalation" in {f.issue for f in by_tool["cloudsplaining"].findings}


@pytest.mark.parametrize("mode", render.MODES)
def test_derived_state_machine_policies_pass_with_only_justified_exceptions(mode):
    result = outcomes(plan(role_policy(derived_policy(mode))))
    assert result["parliament"].ok, [f.describe() for f in result["parliament"].unexplained]
    assert result["cloudsplaining"].findings == []
    excepted = {f.exception["id"] for f in result["parliament"].findings if f.exception}
    assert "step-functions-log-delivery" in excepted
    assert ("distributed-map-children-are-standard-executions" in excepted) == (
        mode in render.DISTRIBUTED_MODES
    )


def test_parliament_flags_submit_job_on_every_revision_only_and_accepts_the_derived_grant():
    """Submitting by name needs job-definition/<name>: parliament's resource format has no revision."""
    policy = derived_policy("inline")
    (submit,) = [s for s in policy["Statement"] if s["Sid"] == "SubmitBatchJobs"]
    assert f"{ACCOUNT}:job-definition/fanout" in submit["Resource"]
    revisions_only = json.loads(json.dumps(policy))
    (narrow,) = [s for s in revisions_only["Statement"] if s["Sid"] == "SubmitBatchJobs"]
    narrow["Resource"] = [r for r in narrow["Resource"] if r != f"{ACCOUNT}:job-definition/fanout"]
    findings = outcomes(plan(role_policy(revisions_only)))["parliament"].unexplained
    assert [f.issue for f in findings] == ["RESOURCE_MISMATCH"]
    assert findings[0].detail["action"] == "batch:SubmitJob"


def test_trust_policies_go_to_parliament_only_and_its_malformed_report_is_excepted():
    role = resource("module.x.aws_iam_role.this", "aws_iam_role", assume_role_policy=json.dumps(TRUST))
    result = outcomes(plan(role))
    assert result["cloudsplaining"].documents == 0
    assert result["parliament"].documents == 1 and result["parliament"].ok
    (finding,) = result["parliament"].findings
    assert finding.issue == "MALFORMED" and finding.exception["id"] == "trust-policy-has-no-resource"


def test_an_exception_matches_only_what_it_names():
    """The Express-ARN exception does not hide a resource mismatch of another action."""
    mismatch = iam_lint.Finding(
        "parliament",
        "RESOURCE_MISMATCH",
        "module.state_machine.aws_iam_role_policy.definition",
        "policy",
        "identity",
        "MEDIUM",
        {"action": "batch:SubmitJob", "required_format": "arn:*:batch:*:*:job-definition/*"},
    )
    assert iam_lint.exception_for(mismatch) is None
    mismatch.detail = {
        "action": "states:DescribeExecution",
        "required_format": "arn:*:states:*:*:express:*:*:*",
    }
    assert iam_lint.exception_for(mismatch)["id"] == "distributed-map-children-are-standard-executions"
    mismatch.address = "module.batch.aws_iam_role_policy.job[0]"
    assert iam_lint.exception_for(mismatch) is None


def test_documents_of_every_kind_are_found_and_an_unknown_policy_fails():
    bucket_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    the_plan = plan(
        role_policy(BROAD, "module.a.aws_iam_role_policy.p"),
        resource("module.a.aws_iam_role.r", "aws_iam_role", assume_role_policy=json.dumps(TRUST)),
        resource(
            "module.s.aws_s3_bucket_policy.this", "aws_s3_bucket_policy", policy=json.dumps(bucket_policy)
        ),
        resource("module.n.aws_sns_topic_policy.this", "aws_sns_topic_policy"),
        resource("module.s.aws_s3_bucket.this", "aws_s3_bucket"),
        unknown={
            "module.n.aws_sns_topic_policy.this": {"policy": True},
            "module.s.aws_s3_bucket.this": {"policy": True},
        },
    )
    documents = {(d.address, d.kind, bool(d.text)) for d in iam_lint.policy_documents(the_plan)}
    assert documents == {
        ("module.a.aws_iam_role_policy.p", "identity", True),
        ("module.a.aws_iam_role.r", "trust", True),
        ("module.s.aws_s3_bucket_policy.this", "resource", True),
        ("module.n.aws_sns_topic_policy.this", "resource", False),
    }
    result = outcomes(
        plan(
            resource("module.n.aws_sns_topic_policy.this", "aws_sns_topic_policy"),
            unknown={"module.n.aws_sns_topic_policy.this": {"policy": True}},
        )
    )
    for tool in iam_lint.TOOLS:
        assert [f.issue for f in result[tool].unexplained] == ["UNKNOWN_AT_PLAN_TIME"]


def test_every_exception_gives_a_reason_and_an_aws_documentation_link():
    entries = iam_lint.exceptions()
    assert entries
    for entry in entries:
        assert len(entry["reason"]) > 80, entry["id"]
        assert entry["url"].startswith("https://docs.aws.amazon.com/"), entry["id"]
        assert entry["tool"] in iam_lint.TOOLS
    assert len({e["id"] for e in entries}) == len(entries)


def test_reports_are_written_beside_checkovs(tmp_path, capsys):
    where = tmp_path / "plan-test"
    where.mkdir()
    (where / "plan.json").write_text(json.dumps(plan(role_policy(BROAD))))
    assert iam_lint.lint_plan_dirs([where]) is False
    out = capsys.readouterr().out
    assert "parliament plan test:" in out and "cloudsplaining plan test:" in out and "FAILED" in out
    assert "what to do:" in out
    for tool in iam_lint.TOOLS:
        report = json.loads((where / f"{tool}.json").read_text())
        assert report["unexplained"] > 0 and report["documents"] == 1
