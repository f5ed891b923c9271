output "state_machine_arn" {
  description = "ARN of the state machine."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_name" {
  description = "Name of the state machine."
  value       = aws_sfn_state_machine.this.name
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
