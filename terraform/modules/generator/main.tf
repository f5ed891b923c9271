# The generator Lambda: validates the execution input and produces the items (inline) or writes
# them to S3 (array and distributed modes). Deployed from the reproducible zip of `fanout package`,
# so an unchanged zip means an unchanged source_code_hash and no redeploy.

locals {
  modes             = [for mode in local.contract.modes : mode.name]
  array_modes       = [for mode in local.contract.modes : mode.name if mode.array]
  distributed_modes = [for mode in local.contract.modes : mode.name if mode.distributed]

  writes_s3      = contains(local.array_modes, var.fanout_mode) || contains(local.distributed_modes, var.fanout_mode)
  log_group_name = "/aws/lambda/${var.function_name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  package_exists = fileexists(var.package_path)

  environment = merge(
    var.environment,
    {
      FANOUT_MODE        = var.fanout_mode
      FANOUT_RUNS_PREFIX = var.runs_prefix
    },
    local.writes_s3 ? { FANOUT_BUCKET = var.bucket_name } : {},
  )
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.function_name
  description        = "Execution role of the ${var.function_name} Lambda function"
  assume_role_policy = data.aws_iam_policy_document.trust.json

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  # X-Ray's write actions have no resource-level permissions.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # Naming a run's failed items (the summarize action): DescribeJobs and ListJobs (failed array
  # children) have no resource-level permissions:
  # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsbatch.html
  statement {
    sid       = "ReadBatchJobs"
    actions   = ["batch:DescribeJobs", "batch:ListJobs"]
    resources = ["*"]
  }

  # Items, Map Run result files and the failed-item list of a run; a rerun reads the list back.
  dynamic "statement" {
    for_each = local.writes_s3 ? [var.bucket_name] : []

    content {
      sid       = "WriteRunObjects"
      actions   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"]
      resources = ["arn:${local.partition}:s3:::${statement.value}/${var.runs_prefix}*"]
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "UseKmsKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "generator"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# Created before the function, so Lambda never creates it itself without retention.
resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:Encrypted with AWS-owned keys by default; a customer-managed key is opt-in through var.kms_key_arn (its key policy must allow CloudWatch Logs)
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by the state machine (lambda:invoke); a DLQ only receives failed asynchronous invocations, and a failure already fails the execution with the error's name
  #checkov:skip=CKV_AWS_117:The generator calls only S3 and CloudWatch public endpoints; running it in the VPC would need a NAT gateway or VPC endpoints, which the stack deliberately does not create
  #checkov:skip=CKV_AWS_272:Deployed from the reproducible zip of `fanout package`, pinned by source_code_hash; code signing needs an AWS Signer profile, outside this stack
  function_name    = var.function_name
  description      = "Generates the fan-out items (${var.fanout_mode} mode)"
  role             = aws_iam_role.this.arn
  runtime          = "python3.12"
  handler          = "handler.handler"
  filename         = var.package_path
  source_code_hash = local.package_exists ? filebase64sha256(var.package_path) : null
  timeout          = var.timeout_seconds
  memory_size      = var.memory_mib
  architectures    = ["x86_64"]
  kms_key_arn      = var.kms_key_arn

  reserved_concurrent_executions = var.reserved_concurrency == null ? -1 : var.reserved_concurrency

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = "Active"
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = local.package_exists
      error_message = "The generator package ${var.package_path} does not exist: build it with `make package` (fanout package), or set generator_package_path to an existing zip."
    }
  }

  depends_on = [aws_iam_role_policy.this, aws_cloudwatch_log_group.this]
}
