variable "name" {
  description = "Name of the state machine (also names its role and log group)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.name))
    error_message = "name must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "fanout_mode" {
  description = "Selects the rendered definition and policy: definitions/<fanout_mode>.asl.json.tftpl and .policy.json.tftpl."
  type        = string

  validation {
    condition     = contains(["inline", "array", "distributed", "distributed_array"], var.fanout_mode)
    error_message = "fanout_mode must be one of inline, array, distributed, distributed_array."
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
}

variable "items_per_batch" {
  description = "Items per batch (array and distributed modes)."
  type        = number
}

variable "tolerated_failure_percentage" {
  description = "ToleratedFailurePercentage of the Distributed Map."
  type        = number
}

variable "execution_timeout_seconds" {
  description = "TimeoutSeconds of the whole execution."
  type        = number
}

variable "batch_api_retry" {
  description = "Retrier for Batch API errors (throttling, server errors) around SubmitJob."
  type = object({
    max_attempts      = number
    interval_seconds  = number
    backoff_rate      = number
    max_delay_seconds = number
  })
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
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
