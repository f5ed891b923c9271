variable "name" {
  description = "Name of the state machine (also names its role and log group)."
  type        = string

  validation {
    condition     = can(regex(local.limits.batch_name_pattern, var.name)) && length(var.name) >= local.settings.name.min_length && length(var.name) <= local.settings.name.max_length
    error_message = "name must be ${local.settings.name.min_length}-${local.settings.name.max_length} characters: letters, digits, hyphens and underscores, starting and ending with a letter or digit (it prefixes Batch, IAM, Lambda and S3 names)."
  }
}

variable "fanout_mode" {
  description = "Selects the rendered definition and policy: definitions/<fanout_mode>.asl.json.tftpl and .policy.json.tftpl."
  type        = string

  validation {
    condition     = contains(local.modes, var.fanout_mode)
    error_message = "fanout_mode must be one of ${join(", ", local.modes)}."
  }
}

variable "comparison_design" {
  description = "Deploy definitions/<comparison_design>.{asl,policy}.json.tftpl instead of the mode's: null = the mode's; \"sample\" = the AWS sample's design (inline mode only)."
  type        = string
  default     = null

  validation {
    condition     = var.comparison_design == null || try(var.comparison_design == "sample" && var.fanout_mode == "inline", false)
    error_message = "comparison_design must be null or \"sample\" (with fanout_mode = \"inline\": the sample fans out the items the inline generator returns)."
  }
}

variable "generator_function_name" {
  description = "Name of the generator Lambda function the state machine invokes."
  type        = string
}

variable "job_queue_name" {
  description = "Name of the Batch job queue jobs are submitted to."
  type        = string
}

variable "job_definition_name" {
  description = "Name of the Batch job definition (without revision)."
  type        = string
}

variable "bucket_name" {
  description = "Bucket of the manifests and results (\"\" in inline mode)."
  type        = string
  default     = ""
}

variable "runs_prefix" {
  description = "Key prefix of the runs in bucket_name."
  type        = string
  default     = "runs/"
}

variable "max_concurrency" {
  description = "MaxConcurrency of the fan-out Map."
  type        = number

  validation {
    condition     = var.max_concurrency >= local.settings.max_concurrency.min && floor(var.max_concurrency) == var.max_concurrency
    error_message = "max_concurrency must be a whole number >= ${local.settings.max_concurrency.min} (0, unbounded, overwhelms Batch's ${local.limits.batch_submit_job_tps} SubmitJob/s and the local account)."
  }

  validation {
    condition     = contains(local.distributed_modes, var.fanout_mode) || var.max_concurrency <= local.limits.inline_map_max_concurrency
    error_message = "max_concurrency must be at most ${local.limits.inline_map_max_concurrency} in ${var.fanout_mode} mode (an inline Map runs at most that many iterations at once); use a distributed mode (${join(", ", local.distributed_modes)}) for more."
  }

  validation {
    condition     = var.max_concurrency <= local.limits.distributed_map_max_concurrency
    error_message = "max_concurrency must be at most ${local.limits.distributed_map_max_concurrency} (parallel child workflows of a Distributed Map)."
  }
}

variable "items_per_batch" {
  description = "Items per batch (array and distributed modes)."
  type        = number

  validation {
    condition     = var.items_per_batch >= local.settings.items_per_batch.min && var.items_per_batch <= local.limits[local.settings.items_per_batch.max_aws_limit] && floor(var.items_per_batch) == var.items_per_batch
    error_message = "items_per_batch must be a whole number from ${local.settings.items_per_batch.min} to ${local.limits[local.settings.items_per_batch.max_aws_limit]} (the largest Batch array job)."
  }
}

variable "tolerated_failure_percentage" {
  description = "Failed items (percent of the run's items) a run tolerates; the run fails when its failed items exceed both this and tolerated_failure_count."
  type        = number

  validation {
    condition     = var.tolerated_failure_percentage >= local.settings.tolerated_failure_percentage.min && var.tolerated_failure_percentage <= local.settings.tolerated_failure_percentage.max && floor(var.tolerated_failure_percentage) == var.tolerated_failure_percentage
    error_message = "tolerated_failure_percentage must be a whole number from ${local.settings.tolerated_failure_percentage.min} to ${local.settings.tolerated_failure_percentage.max}."
  }
}

variable "tolerated_failure_count" {
  description = "Failed items a run tolerates; the run fails when its failed items exceed both this and tolerated_failure_percentage."
  type        = number

  validation {
    condition     = var.tolerated_failure_count >= local.settings.tolerated_failure_count.min && floor(var.tolerated_failure_count) == var.tolerated_failure_count
    error_message = "tolerated_failure_count must be a whole number >= ${local.settings.tolerated_failure_count.min}."
  }
}

variable "execution_timeout_seconds" {
  description = "TimeoutSeconds of the whole execution."
  type        = number

  validation {
    condition     = var.execution_timeout_seconds >= local.settings.execution_timeout_seconds.min && var.execution_timeout_seconds <= local.limits[local.settings.execution_timeout_seconds.max_aws_limit] && floor(var.execution_timeout_seconds) == var.execution_timeout_seconds
    error_message = "execution_timeout_seconds must be a whole number from ${local.settings.execution_timeout_seconds.min} to ${local.limits[local.settings.execution_timeout_seconds.max_aws_limit]} (a Standard execution's maximum)."
  }
}

variable "batch_api_retry" {
  description = "Retrier for Batch API errors (throttling, server errors) around SubmitJob."
  type = object({
    max_attempts      = number
    interval_seconds  = number
    backoff_rate      = number
    max_delay_seconds = number
  })

  validation {
    condition     = var.batch_api_retry.max_attempts >= local.settings.batch_api_retry.max_attempts.min && var.batch_api_retry.max_attempts <= local.settings.batch_api_retry.max_attempts.max && floor(var.batch_api_retry.max_attempts) == var.batch_api_retry.max_attempts
    error_message = "batch_api_retry.max_attempts must be a whole number from ${local.settings.batch_api_retry.max_attempts.min} (no retry) to ${local.settings.batch_api_retry.max_attempts.max}."
  }

  validation {
    condition     = var.batch_api_retry.interval_seconds >= local.settings.batch_api_retry.interval_seconds.min && var.batch_api_retry.interval_seconds <= local.settings.batch_api_retry.interval_seconds.max && floor(var.batch_api_retry.interval_seconds) == var.batch_api_retry.interval_seconds
    error_message = "batch_api_retry.interval_seconds must be a whole number of seconds from ${local.settings.batch_api_retry.interval_seconds.min} to ${local.settings.batch_api_retry.interval_seconds.max}."
  }

  validation {
    condition     = var.batch_api_retry.backoff_rate >= local.settings.batch_api_retry.backoff_rate.min
    error_message = "batch_api_retry.backoff_rate must be at least ${local.settings.batch_api_retry.backoff_rate.min} (1 = constant interval)."
  }

  validation {
    condition     = var.batch_api_retry.max_delay_seconds >= max(var.batch_api_retry.interval_seconds, local.settings.batch_api_retry.max_delay_seconds.min) && var.batch_api_retry.max_delay_seconds <= local.settings.batch_api_retry.max_delay_seconds.max && floor(var.batch_api_retry.max_delay_seconds) == var.batch_api_retry.max_delay_seconds
    error_message = "batch_api_retry.max_delay_seconds must be a whole number from interval_seconds to ${local.settings.batch_api_retry.max_delay_seconds.max}."
  }
}

variable "kms_key_arn" {
  description = "KMS key of the log group and of the SSE-KMS bucket; null = AWS-owned keys."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the state machine's log group in days."
  type        = number
  default     = 365

  validation {
    condition     = contains(local.settings.log_retention_days.values, var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts: ${join(", ", local.settings.log_retention_days.values)}."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
