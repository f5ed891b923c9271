"""What each IAM role of the stack may hold: the ONE place the checks read.

Used by CKV_FANOUT_3 (trust principal) and CKV_FANOUT_4 (grants); CKV_FANOUT_1 adds a derived role's
``grants`` to derive_policy's statements. (A Python module, not JSON: checkov would try to load a JSON
file in this folder as a custom policy.)

Roles are keyed by plan address (module indexes stripped). ``derived``: the grants are
``derive_policy(definition)`` (CKV_FANOUT_1) plus ``grants``. ``grants``: exactly these (action, resource)
pairs, each present only when every ``${placeholder}`` it uses (and its ``when`` key) has a value.
Placeholders: partition, region, account_id (plan data sources); module_log_group (the log group in the
role's module); function_name (the Lambda in the role's module); bucket (the stack's bucket);
items_bucket (the bucket when the definition submits Batch array jobs); runs_prefix (the generator's
FANOUT_RUNS_PREFIX); kms_key_arn (root variable). Actions granted on ``*`` must also be in
iam_integrations.json's ``unscoped`` list (CKV_FANOUT_2).
"""

from __future__ import annotations

from typing import Any

ROLE_SCOPES: dict[str, Any] = {
    "roles": {
        "module.state_machine.aws_iam_role.this": {
            "purpose": "state machine execution role",
            "principal": "states.amazonaws.com",
            "derived": True,
            "grants": [
                {
                    "actions": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                    "resources": ["${kms_key_arn}"],
                    "when": "bucket",
                }
            ],
            "managed_policies": [],
        },
        "module.generator.aws_iam_role.this": {
            "purpose": (
                "generator Lambda: its own logs, X-Ray, run objects in the bucket, "
                "and reading Batch jobs to name a run's failed items"
            ),
            "principal": "lambda.amazonaws.com",
            "grants": [
                {
                    "actions": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "resources": [
                        "arn:${partition}:logs:${region}:${account_id}:log-group:${module_log_group}:*"
                    ],
                },
                {"actions": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "resources": ["*"]},
                {"actions": ["batch:DescribeJobs", "batch:ListJobs"], "resources": ["*"]},
                {
                    "actions": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                    "resources": ["arn:${partition}:s3:::${bucket}/${runs_prefix}*"],
                },
                {"actions": ["kms:Decrypt", "kms:GenerateDataKey"], "resources": ["${kms_key_arn}"]},
            ],
            "managed_policies": [],
        },
        "module.batch.aws_iam_role.execution": {
            "purpose": "ECS task execution role of the jobs: write the job logs",
            "principal": "ecs-tasks.amazonaws.com",
            "grants": [
                {
                    "actions": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "resources": [
                        "arn:${partition}:logs:${region}:${account_id}:log-group:${module_log_group}:*"
                    ],
                }
            ],
            "managed_policies": [],
        },
        "module.batch.aws_iam_role.job": {
            "purpose": "the job's code: read its JSONL item batch (array modes only)",
            "principal": "ecs-tasks.amazonaws.com",
            "grants": [
                {
                    "actions": ["s3:GetObject"],
                    "resources": ["arn:${partition}:s3:::${items_bucket}/${runs_prefix}*/items/*"],
                },
                {"actions": ["kms:Decrypt"], "resources": ["${kms_key_arn}"], "when": "items_bucket"},
            ],
            "managed_policies": [],
        },
        "module.batch.aws_iam_role.service": {
            "purpose": "AWS Batch service role of the compute environment",
            "principal": "batch.amazonaws.com",
            "grants": [],
            "managed_policies": ["arn:${partition}:iam::aws:policy/service-role/AWSBatchServiceRole"],
        },
        "module.batch.aws_iam_role.instance": {
            "purpose": "ECS container instance role (EC2/SPOT compute only)",
            "principal": "ec2.amazonaws.com",
            "grants": [],
            "managed_policies": [
                "arn:${partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
            ],
        },
    }
}
