# Inputs the root declares too are validated here with the root's conditions and messages (from
# contract.json and aws_limits.json, see the locals in main.tf); the rest are checked by the root.

variable "name" {
  description = "Prefix for every name in this module (compute environment, queue, job definition, roles, log group)."
  type        = string

  validation {
    condition     = can(regex(local.limits.batch_name_pattern, var.name)) && length(var.name) >= local.settings.name.min_length && length(var.name) <= local.settings.name.max_length
    error_message = "name must be ${local.settings.name.min_length}-${local.settings.name.max_length} characters: letters, digits, hyphens and underscores, starting and ending with a letter or digit (it prefixes Batch, IAM, Lambda and S3 names)."
  }
}

variable "compute_type" {
  description = "Compute environment type: FARGATE, FARGATE_SPOT, EC2 or SPOT."
  type        = string
  default     = "FARGATE"

  validation {
    condition     = contains(local.compute_types, var.compute_type)
    error_message = "compute_type must be one of ${join(", ", local.compute_types)}."
  }
}

variable "max_vcpus" {
  description = "Upper bound of vCPUs the compute environment may run at once."
  type        = number
  default     = 16
}

variable "instance_types" {
  description = "EC2/SPOT only: instance types or families (\"optimal\" lets Batch choose)."
  type        = list(string)
  default     = ["optimal"]
}

variable "spot_bid_percentage" {
  description = "SPOT only: maximum price as a percentage of On-Demand (null = up to 100%)."
  type        = number
  default     = null
}

variable "subnet_ids" {
  description = "Subnets the jobs run in."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the jobs."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Fargate only: give each task a public IP (needed in public subnets without a NAT gateway)."
  type        = bool
  default     = true
}

variable "container_image" {
  description = "Container image of the job."
  type        = string
}

variable "job_command" {
  description = "Command of the job container; Ref::<parameter> placeholders receive the SubmitJob parameters."
  type        = list(string)
}

variable "job_parameters" {
  description = "Default values of the job definition's parameters (overridden by each SubmitJob)."
  type        = map(string)
  default     = {}
}

variable "job_environment" {
  description = "Environment variables of the job container."
  type        = map(string)
  default     = {}
}

variable "job_vcpus" {
  description = "vCPUs per job (Fargate: 0.25, 0.5, 1, 2, 4, 8 or 16; EC2/SPOT: a whole number)."
  type        = number
  default     = 0.25
}

variable "job_memory_mib" {
  description = "Memory per job in MiB."
  type        = number
  default     = 512
}

variable "job_attempts" {
  description = "Attempts per job (Batch retry strategy)."
  type        = number
  default     = 3
}

variable "job_retry_status_reasons" {
  description = "Status-reason patterns (infrastructure failures) after which a job attempt is retried."
  type        = list(string)
  default     = ["Host EC2*", "CannotPullContainerError*", "ResourceInitializationError*"]
}

variable "job_retry_exit_codes" {
  description = "Container exit codes (digits, optionally ending in *) after which a job attempt is retried; every other exit code ends the job."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for code in var.job_retry_exit_codes : can(regex(local.settings.job_retry_exit_codes.pattern, code))])
    error_message = "job_retry_exit_codes entries must be digits, optionally ending in *, for example \"137\" or \"1*\"."
  }

  validation {
    condition     = length(var.job_retry_status_reasons) + length(var.job_retry_exit_codes) <= 4
    error_message = "job_retry_status_reasons and job_retry_exit_codes together may hold at most 4 entries (Batch allows 5 retry conditions and the last one is the catch-all EXIT)."
  }
}

variable "job_attempt_timeout_seconds" {
  description = "Seconds after which Batch stops a job attempt (for array jobs: each child)."
  type        = number
  default     = 3600
}

variable "job_state_time_limit_seconds" {
  description = "Cancel jobs stuck RUNNABLE for capacity or misconfiguration reasons after this many seconds (600-86400); null keeps them waiting."
  type        = number
  default     = null

  validation {
    condition     = var.job_state_time_limit_seconds == null || try(var.job_state_time_limit_seconds >= local.settings.job_state_time_limit_seconds.min && var.job_state_time_limit_seconds <= local.settings.job_state_time_limit_seconds.max && floor(var.job_state_time_limit_seconds) == var.job_state_time_limit_seconds, false)
    error_message = "job_state_time_limit_seconds must be null or a whole number from ${local.settings.job_state_time_limit_seconds.min} to ${local.settings.job_state_time_limit_seconds.max} seconds (Batch's range)."
  }
}

variable "items_bucket_name" {
  description = "Array modes: bucket holding the JSONL item batches the jobs read (null = the jobs read nothing from S3)."
  type        = string
  default     = null
}

variable "runs_prefix" {
  description = "Key prefix of the runs in items_bucket_name; jobs may read <runs_prefix>*/items/* only."
  type        = string
  default     = "runs/"
}

variable "log_retention_days" {
  description = "Retention of the job log group in days."
  type        = number
  default     = 365

  validation {
    condition     = contains(local.settings.log_retention_days.values, var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts: ${join(", ", local.settings.log_retention_days.values)}."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the log group and for reading SSE-KMS item objects; null = AWS-owned keys."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
