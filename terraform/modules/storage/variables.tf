variable "bucket_name" {
  description = "Name of the S3 bucket for manifests, item batches and Distributed Map results."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "..")
    error_message = "bucket_name must be 3-63 characters of lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit."
  }
}

variable "runs_prefix" {
  description = "Key prefix under which every execution writes its objects (runs/<execution>/...)."
  type        = string
  default     = "runs/"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/$", var.runs_prefix))
    error_message = "runs_prefix must be one path segment ending in \"/\", for example \"runs/\"."
  }
}

variable "expiration_days" {
  description = "Days after which objects under runs_prefix expire."
  type        = number
  default     = 30

  validation {
    condition     = var.expiration_days >= 1 && floor(var.expiration_days) == var.expiration_days
    error_message = "expiration_days must be a whole number of days, at least 1."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which overwritten or deleted object versions are removed."
  type        = number
  default     = 7

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "kms_key_arn" {
  description = "KMS key ARN for SSE-KMS; null uses SSE-S3 (AES256)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key or alias ARN (arn:aws:kms:<region>:<account>:key/<id>) or null."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy delete the bucket even when it still holds objects (for sandboxes)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
