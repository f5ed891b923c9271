variable "name" {
  description = "Name of the dashboard (the stack's name)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.name))
    error_message = "name must be 1-255 letters, digits, hyphens or underscores (CloudWatch dashboard names)."
  }
}

variable "region" {
  description = "AWS Region of the metrics and the log groups."
  type        = string
}

variable "state_machine_arn" {
  description = "ARN of the state machine whose executions the dashboard shows."
  type        = string
}

variable "map_run_label" {
  description = "Label of the Distributed Map state (its child executions' metrics are published under <state machine ARN>/<label>); null when the mode has no Distributed Map."
  type        = string
  default     = null
}

variable "generator_function_name" {
  description = "Name of the generator Lambda function."
  type        = string
}

variable "job_queue_name" {
  description = "Name of the Batch job queue (named in the dashboard; Batch publishes no queue-depth metric)."
  type        = string
}

variable "state_machine_log_group_name" {
  description = "Log group of the state machine's execution history (the Logs Insights widget queries it)."
  type        = string
}

variable "period_seconds" {
  description = "Period of the metric widgets, in seconds."
  type        = number
  default     = 300

  validation {
    condition     = var.period_seconds >= 60 && var.period_seconds % 60 == 0
    error_message = "period_seconds must be a multiple of 60, at least 60."
  }
}
