variable "function_name" {
  description = "Name of the generator Lambda function (also names its role and log group)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "package_path" {
  description = "Path of the generator zip built by `fanout package` (make package)."
  type        = string
}

variable "fanout_mode" {
  description = "Fan-out mode the function writes its output for (inline, array, distributed, distributed_array)."
  type        = string

  validation {
    condition     = contains(local.modes, var.fanout_mode)
    error_message = "fanout_mode must be one of ${join(", ", local.modes)}."
  }
}

variable "bucket_name" {
  description = "Bucket the function writes manifests and item batches to (null in inline mode)."
  type        = string
  default     = null
}

variable "runs_prefix" {
  description = "Key prefix the function writes under (runs/<execution>/...)."
  type        = string
  default     = "runs/"
}

variable "environment" {
  description = "Settings passed as environment variables (FANOUT_ITEMS_PER_BATCH, FANOUT_LIMITS, ...), added to FANOUT_MODE, FANOUT_BUCKET and FANOUT_RUNS_PREFIX."
  type        = map(string)
  default     = {}
}

variable "timeout_seconds" {
  description = "Function timeout in seconds."
  type        = number
  default     = 300

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be from 1 to 900 (the Lambda maximum)."
  }
}

variable "memory_mib" {
  description = "Function memory in MiB."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_mib >= 128 && var.memory_mib <= 10240 && floor(var.memory_mib) == var.memory_mib
    error_message = "memory_mib must be a whole number from 128 to 10240."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions; null leaves the function on the account's unreserved pool."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= 0 && floor(var.reserved_concurrency) == var.reserved_concurrency, false)
    error_message = "reserved_concurrency must be null or a whole number >= 0."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group in days."
  type        = number
  default     = 365

  validation {
    condition     = contains(local.settings.log_retention_days.values, var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts: ${join(", ", local.settings.log_retention_days.values)}."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the log group, the environment variables and SSE-KMS objects; null = AWS-owned keys."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
