output "state_machine_arn" {
  description = "ARN of the state machine."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_name" {
  description = "Name of the state machine, known at plan time: what depends on it (the alerts) need not wait until the state machine exists."
  # From the input, not the resource: the alerts' KMS key waits ~12 s after it is created, and would
  # otherwise be created only after the state machine, at the end of the apply's longest chain.
  value = var.name
}

output "role_arn" {
  description = "ARN of the state machine's execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the executions."
  value       = aws_cloudwatch_log_group.this.name
}

output "definition" {
  description = "The rendered ASL definition."
  value       = local.definition
}

output "map_run_label" {
  description = "Label of the definition's Distributed Map (its Map Run child executions are named by it); null when it has none."
  value       = one([for state in values(jsondecode(local.definition).States) : state.Label if can(state.Label)])
}
