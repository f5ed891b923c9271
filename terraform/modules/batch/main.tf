# AWS Batch: one compute environment (Fargate by default), one queue, one job definition whose
# command receives the item through Batch parameters (Ref::item / Ref::items_uri), and the roles
# and log group the jobs need.

locals {
  compute_types = [for type in local.contract.compute_types : type.name]
  fargate_types = [for type in local.contract.compute_types : type.name if type.fargate]

  fargate = contains(local.fargate_types, var.compute_type)

  job_queue_name      = "${var.name}-queue"
  job_definition_name = "${var.name}-job"
  log_group_name      = "/aws/batch/${var.name}"
  job_role_name       = "${var.name}-batch-job"
  execution_role_name = "${var.name}-batch-execution"
  # Role ARNs from names (known at plan time) so the job definition, and checkov's view of it, is
  # complete in the plan; the job definition depends_on the roles so they exist first.
  job_role_arn       = "arn:${local.partition}:iam::${local.account_id}:role/${local.job_role_name}"
  execution_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${local.execution_role_name}"
  log_group_arn      = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  # The order matters: Batch applies the first matching condition. Infrastructure failures and the
  # listed exit codes are retried; any other exit code ends the job (the catch-all comes last).
  evaluate_on_exit = concat(
    [for reason in var.job_retry_status_reasons : { action = "RETRY", on_status_reason = reason, on_exit_code = null }],
    [for code in var.job_retry_exit_codes : { action = "RETRY", on_status_reason = null, on_exit_code = code }],
    [{ action = "EXIT", on_status_reason = null, on_exit_code = "*" }],
  )

  container_properties = merge(
    {
      image            = var.container_image
      command          = var.job_command
      jobRoleArn       = local.job_role_arn
      executionRoleArn = local.execution_role_arn
      resourceRequirements = [
        { type = "VCPU", value = tostring(var.job_vcpus) },
        { type = "MEMORY", value = tostring(var.job_memory_mib) },
      ]
      environment = [for key in sort(keys(var.job_environment)) : { name = key, value = var.job_environment[key] }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.jobs.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "job"
        }
      }
    },
    local.fargate ? {
      fargatePlatformConfiguration = { platformVersion = "LATEST" }
      networkConfiguration         = { assignPublicIp = var.assign_public_ip ? "ENABLED" : "DISABLED" }
    } : {},
  )
}

# --- roles --------------------------------------------------------------------------------------

data "aws_iam_policy_document" "batch_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["batch.amazonaws.com"]
    }

    # Confused-deputy guard: only Batch acting for this account's resources may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:batch:${local.region}:${local.account_id}:*"]
    }
  }
}

# Explicit service role: real AWS would fall back to the service-linked role, but an emulated
# account (moto) rejects a MANAGED compute environment without one.
resource "aws_iam_role" "service" {
  name               = "${var.name}-batch-service"
  description        = "AWS Batch service role for the ${var.name} compute environment"
  assume_role_policy = data.aws_iam_policy_document.batch_trust.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "service" {
  role       = aws_iam_role.service.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSBatchServiceRole"
}

data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# Used by the container agent to start the task: write the job's logs, nothing else.
resource "aws_iam_role" "execution" {
  name               = local.execution_role_name
  description        = "ECS task execution role of the ${var.name} jobs (logs only)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json

  tags = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "WriteJobLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "job-logs"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# The role the job's code runs as. Array modes read their JSONL batch from S3; single-item modes
# receive the item as a parameter and get no permissions at all.
resource "aws_iam_role" "job" {
  name               = local.job_role_name
  description        = "Role of the ${var.name} job containers"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json

  tags = var.tags
}

data "aws_iam_policy_document" "job" {
  count = var.items_bucket_name == null ? 0 : 1

  statement {
    sid       = "ReadItemBatches"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${var.items_bucket_name}/${var.runs_prefix}*/items/*"]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "DecryptItemBatches"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "job" {
  count = var.items_bucket_name == null ? 0 : 1

  name   = "read-item-batches"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job[0].json
}

# EC2/SPOT only: the role of the container instances.
data "aws_iam_policy_document" "ec2_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  #checkov:skip=CKV_FANOUT_3:The ECS container-instance role is assumed by EC2 for instances launched with its instance profile; AWS documents no aws:SourceAccount/aws:SourceArn for that, and who may attach the profile is governed by iam:PassRole in this account
  count = local.fargate ? 0 : 1

  name               = "${var.name}-batch-instance"
  description        = "ECS container instance role of the ${var.name} compute environment"
  assume_role_policy = data.aws_iam_policy_document.ec2_trust.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "instance" {
  count = local.fargate ? 0 : 1

  role       = aws_iam_role.instance[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
}

resource "aws_iam_instance_profile" "instance" {
  count = local.fargate ? 0 : 1

  name = "${var.name}-batch-instance"
  role = aws_iam_role.instance[0].name

  tags = var.tags
}

# --- logs ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "jobs" {
  #checkov:skip=CKV_AWS_158:Encrypted with AWS-owned keys by default; a customer-managed key is opt-in through var.kms_key_arn (its key policy must allow CloudWatch Logs)
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

# --- compute environment, queue, job definition ----------------------------------------------

resource "aws_batch_compute_environment" "this" {
  # A changed compute environment is replaced: create the new one first so the queue never
  # points at nothing.
  compute_environment_name_prefix = "${var.name}-"
  type                            = "MANAGED"
  service_role                    = aws_iam_role.service.arn

  compute_resources {
    type               = var.compute_type
    max_vcpus          = var.max_vcpus
    subnets            = var.subnet_ids
    security_group_ids = var.security_group_ids

    min_vcpus           = local.fargate ? null : 0
    instance_type       = local.fargate ? null : var.instance_types
    instance_role       = local.fargate ? null : aws_iam_instance_profile.instance[0].arn
    allocation_strategy = local.fargate ? null : (var.compute_type == "SPOT" ? "SPOT_PRICE_CAPACITY_OPTIMIZED" : "BEST_FIT_PROGRESSIVE")
    bid_percentage      = var.compute_type == "SPOT" ? var.spot_bid_percentage : null
    tags                = local.fargate ? null : merge(var.tags, { Name = "${var.name}-batch" })
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }

  # Batch needs the service role's permissions while it creates (and deletes) the environment.
  depends_on = [aws_iam_role_policy_attachment.service]
}

resource "aws_batch_job_queue" "this" {
  name     = local.job_queue_name
  state    = "ENABLED"
  priority = 1

  compute_environment_order {
    order               = 1
    compute_environment = aws_batch_compute_environment.this.arn
  }

  dynamic "job_state_time_limit_action" {
    for_each = var.job_state_time_limit_seconds == null ? [] : [
      "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
      "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
      "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
    ]

    content {
      action           = "CANCEL"
      state            = "RUNNABLE"
      reason           = job_state_time_limit_action.value
      max_time_seconds = var.job_state_time_limit_seconds
    }
  }

  tags = var.tags
}

resource "aws_batch_job_definition" "this" {
  name                  = local.job_definition_name
  type                  = "container"
  platform_capabilities = [local.fargate ? "FARGATE" : "EC2"]
  parameters            = var.job_parameters
  propagate_tags        = true
  container_properties  = jsonencode(local.container_properties)

  retry_strategy {
    attempts = var.job_attempts

    dynamic "evaluate_on_exit" {
      for_each = local.evaluate_on_exit

      content {
        action           = evaluate_on_exit.value.action
        on_status_reason = evaluate_on_exit.value.on_status_reason
        on_exit_code     = evaluate_on_exit.value.on_exit_code
      }
    }
  }

  timeout {
    attempt_duration_seconds = var.job_attempt_timeout_seconds
  }

  depends_on = [aws_iam_role.job, aws_iam_role.execution]

  tags = var.tags
}
