output "state_machine_arn" {
  description = "ARN of the state machine (start executions here)."
  value       = module.state_machine.state_machine_arn
}

output "state_machine_name" {
  description = "Name of the state machine."
  value       = module.state_machine.state_machine_name
}

output "generator_function_name" {
  description = "Name of the generator Lambda function."
  value       = module.generator.function_name
}

output "generator_function_arn" {
  description = "ARN of the generator Lambda function."
  value       = module.generator.function_arn
}

output "job_queue_arn" {
  description = "ARN of the Batch job queue."
  value       = module.batch.job_queue_arn
}

output "job_queue_name" {
  description = "Name of the Batch job queue."
  value       = module.batch.job_queue_name
}

output "job_definition_name" {
  description = "Name of the Batch job definition."
  value       = module.batch.job_definition_name
}

output "job_definition_arn" {
  description = "ARN of the current Batch job definition revision."
  value       = module.batch.job_definition_arn
}

output "bucket_name" {
  description = "S3 bucket of the manifests and results; null in inline mode."
  value       = local.created_bucket_name
}

output "fanout_mode" {
  description = "The fan-out mode the stack was deployed with."
  value       = var.fanout_mode
}

output "state_machine_log_group_name" {
  description = "CloudWatch log group of the state machine's executions."
  value       = module.state_machine.log_group_name
}

output "batch_log_group_name" {
  description = "CloudWatch log group of the Batch jobs."
  value       = module.batch.log_group_name
}

output "alerts_topic_arn" {
  description = "SNS topic of the alerts: failed, timed-out and aborted executions and the ExecutionsFailed/ExecutionsTimedOut alarm (subscribe endpoints here)."
  value       = module.alerts.topic_arn
}

output "region" {
  description = "AWS Region of the stack."
  value       = local.region
}

output "dashboard_name" {
  description = "Name of the stack's CloudWatch dashboard (executions, Map Runs, generator, failed items)."
  value       = module.dashboard.dashboard_name
}
