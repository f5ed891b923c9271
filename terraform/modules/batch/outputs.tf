output "compute_environment_arn" {
  description = "ARN of the compute environment."
  value       = aws_batch_compute_environment.this.arn
}

output "job_queue_name" {
  description = "Name of the job queue."
  value       = aws_batch_job_queue.this.name
}

output "job_queue_arn" {
  description = "ARN of the job queue."
  value       = aws_batch_job_queue.this.arn
}

output "job_definition_name" {
  description = "Name of the job definition (SubmitJob may name it without a revision: the latest active one runs)."
  value       = aws_batch_job_definition.this.name
}

output "job_definition_arn" {
  description = "ARN of the current job definition revision."
  value       = aws_batch_job_definition.this.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the jobs."
  value       = aws_cloudwatch_log_group.jobs.name
}

output "job_role_arn" {
  description = "ARN of the role the job containers run as."
  value       = aws_iam_role.job.arn
}
