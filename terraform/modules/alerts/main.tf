# Alerts: an EventBridge rule on the state machine's failed, timed-out and aborted executions and a
# CloudWatch alarm on its ExecutionsFailed + ExecutionsTimedOut metrics, both publishing to one
# KMS-encrypted SNS topic whose policy admits exactly those two publishers (aws:SourceArn).
# Every ARN is built from names and data sources, so the plan shows the full policies and pattern.

locals {
  state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${var.state_machine_name}"
  topic_name        = "${var.name}-alerts"
  topic_arn         = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.topic_name}"
  rule_name         = "${var.name}-execution-failed"
  rule_arn          = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.rule_name}"
  alarm_name        = "${var.name}-executions-failed"
  alarm_arn         = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.alarm_name}"

  create_key  = var.kms_key_arn == null
  kms_key_arn = local.create_key ? aws_kms_key.this[0].arn : var.kms_key_arn
  # What the topic names: the created key by its alias (known at plan time, so checkov's CKV_AWS_26
  # and the plan tests see the topic encrypted; the key ARN is only known after apply), else your key.
  topic_key_id = local.create_key ? aws_kms_alias.this[0].name : var.kms_key_arn

  # The terminal statuses that need a human. SUCCEEDED (and RUNNING) executions do not match.
  # https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html
  alert_statuses = ["FAILED", "TIMED_OUT", "ABORTED"]
}

# --- encryption ---------------------------------------------------------------------------------
# EventBridge and CloudWatch alarms can publish to an encrypted topic only when the key policy lets
# their service principals use the key; the AWS managed key alias/aws/sns has a key policy nobody can
# change, so a topic encrypted with it silently drops their messages. Hence a customer managed key:
# https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-troubleshooting.html

resource "aws_kms_key" "this" {
  count = local.create_key ? 1 : 0

  description             = "Encrypts the ${local.topic_name} SNS topic (execution alerts of ${var.state_machine_name})"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # The default key policy: the account (its IAM policies) administers and uses the key.
        # https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
        Sid       = "AccountAdministersTheKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # The two publishers, for this topic's messages only (SNS's encryption context).
        Sid       = "PublishersEncryptForTheTopic"
        Effect    = "Allow"
        Principal = { Service = ["events.amazonaws.com", "cloudwatch.amazonaws.com"] }
        Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource  = "*"
        Condition = {
          StringEquals = { "kms:EncryptionContext:aws:sns:topicArn" = local.topic_arn }
        }
      },
    ]
  })

  tags = merge(var.tags, { Name = "${var.name}-alerts" })
}

resource "aws_kms_alias" "this" {
  count = local.create_key ? 1 : 0

  name          = "alias/${var.name}-alerts"
  target_key_id = aws_kms_key.this[0].key_id
}

# --- the topic ----------------------------------------------------------------------------------

resource "aws_sns_topic" "this" {
  name              = local.topic_name
  kms_master_key_id = local.topic_key_id

  tags = merge(var.tags, { Name = local.topic_name })
}

data "aws_iam_policy_document" "topic" {
  # EventBridge may publish only for this rule.
  # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions
  statement {
    sid       = "RulePublishesExecutionEvents"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [local.topic_arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.rule_arn]
    }
  }

  # CloudWatch may publish only for this alarm.
  # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html
  statement {
    sid       = "AlarmPublishesStateChanges"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [local.topic_arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.alarm_arn]
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  arn    = aws_sns_topic.this.arn
  policy = data.aws_iam_policy_document.topic.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alert_emails)

  topic_arn = aws_sns_topic.this.arn
  protocol  = "email"
  endpoint  = each.value
}

# --- the publishers -----------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "this" {
  name        = local.rule_name
  description = "Executions of ${var.state_machine_name} that ended ${join(", ", local.alert_statuses)}"
  # "Step Functions Execution Status Change" events on the default bus:
  # https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html
  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      status          = local.alert_statuses
      stateMachineArn = [local.state_machine_arn]
    }
  })

  tags = merge(var.tags, { Name = local.rule_name })
}

resource "aws_cloudwatch_event_target" "topic" {
  rule      = aws_cloudwatch_event_rule.this.name
  target_id = "alerts-topic"
  arn       = aws_sns_topic.this.arn

  # The topic policy must exist before EventBridge publishes.
  depends_on = [aws_sns_topic_policy.this]
}

# The metrics Step Functions publishes (namespace AWS/States, dimension StateMachineArn):
# https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html
resource "aws_cloudwatch_metric_alarm" "this" {
  alarm_name          = local.alarm_name
  alarm_description   = "At least one execution of ${var.state_machine_name} failed or timed out within ${var.alarm_period_seconds} s (ExecutionsFailed + ExecutionsTimedOut)."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this.arn]

  metric_query {
    id          = "failed_or_timed_out"
    expression  = "failed + timed_out"
    label       = "Executions failed or timed out"
    return_data = true
  }

  metric_query {
    id = "failed"

    metric {
      namespace   = "AWS/States"
      metric_name = "ExecutionsFailed"
      dimensions  = { StateMachineArn = local.state_machine_arn }
      period      = var.alarm_period_seconds
      stat        = "Sum"
    }
  }

  metric_query {
    id = "timed_out"

    metric {
      namespace   = "AWS/States"
      metric_name = "ExecutionsTimedOut"
      dimensions  = { StateMachineArn = local.state_machine_arn }
      period      = var.alarm_period_seconds
      stat        = "Sum"
    }
  }

  tags = merge(var.tags, { Name = local.alarm_name })

  depends_on = [aws_sns_topic_policy.this]
}
