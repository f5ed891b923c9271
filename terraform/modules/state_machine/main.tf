# The Step Functions state machine. Its definition and its IAM policy are rendered by
# `fanout render` into definitions/<mode>.{asl,policy}.json.tftpl; Terraform fills in the names
# and ARNs. Every ARN is built from names and data sources, so a plan shows the full policy.

locals {
  modes             = [for mode in local.contract.modes : mode.name]
  distributed_modes = [for mode in local.contract.modes : mode.name if mode.distributed]

  state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${var.name}"
  log_group_name    = "/aws/vendedlogs/states/${var.name}"

  # Exactly the variables both templates are rendered against (see the contract in templates/).
  template_vars = {
    partition                         = local.partition
    region                            = local.region
    account_id                        = local.account_id
    state_machine_name                = var.name
    generator_function_name           = var.generator_function_name
    generator_function_arn            = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${var.generator_function_name}"
    job_queue_name                    = var.job_queue_name
    job_queue_arn                     = "arn:${local.partition}:batch:${local.region}:${local.account_id}:job-queue/${var.job_queue_name}"
    job_definition_name               = var.job_definition_name
    bucket_name                       = var.bucket_name
    runs_prefix                       = var.runs_prefix
    max_concurrency                   = var.max_concurrency
    items_per_batch                   = var.items_per_batch
    tolerated_failure_percentage      = var.tolerated_failure_percentage
    tolerated_failure_count           = var.tolerated_failure_count
    execution_timeout_seconds         = var.execution_timeout_seconds
    batch_api_retry_max_attempts      = var.batch_api_retry.max_attempts
    batch_api_retry_interval_seconds  = var.batch_api_retry.interval_seconds
    batch_api_retry_backoff_rate      = var.batch_api_retry.backoff_rate
    batch_api_retry_max_delay_seconds = var.batch_api_retry.max_delay_seconds
  }

  # The mode's definition, or a comparison design's (the AWS sample) on the same resources.
  design     = coalesce(var.comparison_design, var.fanout_mode)
  definition = templatefile("${path.module}/definitions/${local.design}.asl.json.tftpl", local.template_vars)
  policy     = templatefile("${path.module}/definitions/${local.design}.policy.json.tftpl", local.template_vars)
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.state_machine_arn]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-state-machine"
  description        = "Execution role of the ${var.name} state machine"
  assume_role_policy = data.aws_iam_policy_document.trust.json

  tags = var.tags
}

# What the definition needs (and the logging and tracing configuration), derived by `fanout render`.
resource "aws_iam_role_policy" "definition" {
  name   = "definition"
  role   = aws_iam_role.this.id
  policy = local.policy
}

# With a customer-managed key on the bucket, Distributed Map's ItemReader and ResultWriter also
# need the key (everything else the role may do is in the rendered policy).
data "aws_iam_policy_document" "kms" {
  count = var.kms_key_arn == null ? 0 : 1

  statement {
    sid       = "UseBucketKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "kms" {
  count = var.kms_key_arn == null ? 0 : 1

  name   = "kms"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.kms[0].json
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:Encrypted with AWS-owned keys by default; a customer-managed key is opt-in through var.kms_key_arn (its key policy must allow CloudWatch Logs)
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_sfn_state_machine" "this" {
  name       = var.name
  type       = "STANDARD"
  role_arn   = aws_iam_role.this.arn
  definition = local.definition

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this.arn}:*"
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  tags = var.tags

  # Creating or updating a state machine with a .sync Batch task makes Step Functions create its
  # managed EventBridge rule as the role: the policy must exist first.
  depends_on = [aws_iam_role_policy.definition, aws_iam_role_policy.kms]
}
