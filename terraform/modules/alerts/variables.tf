variable "name" {
  description = "Name of the stack: prefixes the topic, rule, alarm and key alias names."
  type        = string

  validation {
    condition     = can(regex(local.limits.batch_name_pattern, var.name)) && length(var.name) >= local.settings.name.min_length && length(var.name) <= local.settings.name.max_length
    error_message = "name must be ${local.settings.name.min_length}-${local.settings.name.max_length} characters: letters, digits, hyphens and underscores, starting and ending with a letter or digit (it prefixes Batch, IAM, Lambda and S3 names)."
  }
}

variable "state_machine_name" {
  description = "Name of the state machine whose failed, timed-out and aborted executions raise alerts (the ARN is built from it, so the rule's pattern is known at plan time)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,80}$", var.state_machine_name))
    error_message = "state_machine_name must be 1-80 letters, digits, hyphens or underscores (a Step Functions state machine name)."
  }
}

variable "alert_emails" {
  description = "E-mail addresses subscribed to the alerts topic (each must confirm the subscription from the message SNS sends)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.alert_emails : can(regex(local.settings.alert_emails.pattern, address))]) && length(distinct(var.alert_emails)) == length(var.alert_emails)
    error_message = "alert_emails entries must be distinct e-mail addresses such as ops@example.com."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the alerts topic; null = a dedicated key created here. A key of your own must let events.amazonaws.com and cloudwatch.amazonaws.com use it (kms:GenerateDataKey*, kms:Decrypt)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || try(can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn)), false)
    error_message = "kms_key_arn must be null or a KMS key ARN such as arn:aws:kms:us-east-1:111122223333:key/<key-id> (not an alias: log groups need the key ARN)."
  }
}

variable "alarm_period_seconds" {
  description = "Period of the alarm on ExecutionsFailed + ExecutionsTimedOut: it goes to ALARM when at least one execution failed or timed out within one period."
  type        = number
  default     = 300

  validation {
    condition     = var.alarm_period_seconds >= 60 && floor(var.alarm_period_seconds / 60) * 60 == var.alarm_period_seconds
    error_message = "alarm_period_seconds must be a multiple of 60 (Step Functions publishes its metrics once a minute)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
