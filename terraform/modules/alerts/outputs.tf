output "topic_arn" {
  description = "ARN of the alerts topic (subscribe endpoints here)."
  value       = aws_sns_topic.this.arn
}

output "topic_name" {
  description = "Name of the alerts topic."
  value       = aws_sns_topic.this.name
}

output "rule_name" {
  description = "Name of the EventBridge rule on the state machine's failed, timed-out and aborted executions."
  value       = aws_cloudwatch_event_rule.this.name
}

output "alarm_name" {
  description = "Name of the CloudWatch alarm on ExecutionsFailed + ExecutionsTimedOut."
  value       = aws_cloudwatch_metric_alarm.this.alarm_name
}

output "kms_key_arn" {
  description = "The KMS key that encrypts the topic (the dedicated one, or kms_key_arn)."
  value       = local.kms_key_arn
}
