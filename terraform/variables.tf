# Every input a user could get wrong is checked here, with a message that says what to do.
# AWS limits come from aws_limits.json (local.limits, see main.tf), never from literals; modes,
# defaults and ranges from contract.json (local.contract). A module that declares the same input
# validates it with the same condition and message (tests/terraform/test_contract.py). Defaults
# must be literals; the same test checks they equal the contract's.

# --- naming, placement ----------------------------------------------------------------------

variable "name" {
  description = "Name of the stack: the state machine's name and the prefix of every other resource name."
  type        = string
  default     = "fanout"

  validation {
    condition     = can(regex(local.limits.batch_name_pattern, var.name)) && length(var.name) >= local.settings.name.min_length && length(var.name) <= local.settings.name.max_length
    error_message = "name must be ${local.settings.name.min_length}-${local.settings.name.max_length} characters: letters, digits, hyphens and underscores, starting and ending with a letter or digit (it prefixes Batch, IAM, Lambda and S3 names)."
  }
}

variable "region" {
  description = "AWS Region to deploy to."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$", var.region))
    error_message = "region must be an AWS Region code such as us-east-1 or eu-west-1."
  }
}

variable "tags" {
  description = "Tags added to every resource that supports tags."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for key in keys(var.tags) : length(key) <= 128 && !startswith(lower(key), "aws:")]) && alltrue([for value in values(var.tags) : length(value) <= 256])
    error_message = "tags keys must be at most 128 characters and not start with \"aws:\"; values at most 256 characters."
  }
}

# --- fan-out ----------------------------------------------------------------------------------

variable "fanout_mode" {
  description = "How items fan out: inline (Map, one job per item, small runs), array (one Batch array job per batch), distributed (Distributed Map, one job per item), distributed_array (Distributed Map of array jobs: 1,000,000+ items)."
  type        = string
  default     = "inline"

  validation {
    condition     = contains(local.modes, var.fanout_mode)
    error_message = "fanout_mode must be one of ${join(", ", local.modes)}."
  }
}

variable "max_concurrency" {
  description = "MaxConcurrency of the fan-out Map: parallel items (inline), batches (array) or child workflows (distributed modes)."
  type        = number
  default     = 10

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
  description = "Items per batch: per Batch array job (array, distributed_array) or per child workflow (distributed). Ignored in inline mode."
  type        = number
  default     = 1000

  validation {
    condition     = var.items_per_batch >= local.settings.items_per_batch.min && var.items_per_batch <= local.limits[local.settings.items_per_batch.max_aws_limit] && floor(var.items_per_batch) == var.items_per_batch
    error_message = "items_per_batch must be a whole number from ${local.settings.items_per_batch.min} to ${local.limits[local.settings.items_per_batch.max_aws_limit]} (the largest Batch array job)."
  }
}

variable "max_items" {
  description = "Optional cap on the items one execution may request (FANOUT_MAX_ITEMS); null = only the mode's AWS-limit capacity applies."
  type        = number
  default     = null

  validation {
    condition     = var.max_items == null || try(var.max_items >= 1 && floor(var.max_items) == var.max_items, false)
    error_message = "max_items must be null or a whole number >= 1."
  }
}

variable "tolerated_failure_percentage" {
  description = "Failed items (a whole-number percentage of the run's items) a run tolerates: the run fails with ItemsFailed only when its failed items exceed both this and tolerated_failure_count. Every item is attempted either way."
  type        = number
  default     = 0

  validation {
    condition     = var.tolerated_failure_percentage >= local.settings.tolerated_failure_percentage.min && var.tolerated_failure_percentage <= local.settings.tolerated_failure_percentage.max && floor(var.tolerated_failure_percentage) == var.tolerated_failure_percentage
    error_message = "tolerated_failure_percentage must be a whole number from ${local.settings.tolerated_failure_percentage.min} to ${local.settings.tolerated_failure_percentage.max}."
  }
}

variable "tolerated_failure_count" {
  description = "Failed items a run tolerates: the run fails with ItemsFailed only when its failed items exceed both this and tolerated_failure_percentage. Every item is attempted either way."
  type        = number
  default     = 0

  validation {
    condition     = var.tolerated_failure_count >= local.settings.tolerated_failure_count.min && floor(var.tolerated_failure_count) == var.tolerated_failure_count
    error_message = "tolerated_failure_count must be a whole number >= ${local.settings.tolerated_failure_count.min}."
  }
}

variable "execution_timeout_seconds" {
  description = "TimeoutSeconds of a whole execution; running jobs are terminated when it expires."
  type        = number
  default     = 86400

  validation {
    condition     = var.execution_timeout_seconds >= local.settings.execution_timeout_seconds.min && var.execution_timeout_seconds <= local.limits[local.settings.execution_timeout_seconds.max_aws_limit] && floor(var.execution_timeout_seconds) == var.execution_timeout_seconds
    error_message = "execution_timeout_seconds must be a whole number from ${local.settings.execution_timeout_seconds.min} to ${local.limits[local.settings.execution_timeout_seconds.max_aws_limit]} (a Standard execution's maximum)."
  }
}

variable "batch_api_retry" {
  description = "Retry of Batch API errors (AWSBatchException, ServerException, TooManyRequestsException: Batch allows 50 SubmitJob/s) with exponential backoff and full jitter."
  type = object({
    max_attempts      = optional(number, 8)
    interval_seconds  = optional(number, 2)
    backoff_rate      = optional(number, 2)
    max_delay_seconds = optional(number, 60)
  })
  default = {}

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

variable "comparison_design" {
  description = "Deploy a comparison design's definition instead of fanout_mode's: null = the mode's (default); \"sample\" = the AWS sample's design unchanged (every job identical, no Retry, untrimmed .sync results), on an inline-mode stack, as `fanout bench` measures it. Not for production."
  type        = string
  default     = null

  validation {
    condition     = var.comparison_design == null || try(var.comparison_design == "sample" && var.fanout_mode == "inline", false)
    error_message = "comparison_design must be null or \"sample\" (with fanout_mode = \"inline\": the sample fans out the items the inline generator returns)."
  }
}

# --- compute and network --------------------------------------------------------------------

variable "compute_type" {
  description = "Batch compute: FARGATE (default), FARGATE_SPOT, EC2 or SPOT (EC2 Spot, SPOT_PRICE_CAPACITY_OPTIMIZED)."
  type        = string
  default     = "FARGATE"

  validation {
    condition     = contains(local.compute_types, var.compute_type)
    error_message = "compute_type must be one of ${join(", ", local.compute_types)}."
  }
}

variable "max_vcpus" {
  description = "Most vCPUs the compute environment runs at once (bounds parallel jobs and cost)."
  type        = number
  default     = 16

  validation {
    condition     = var.max_vcpus >= 1 && floor(var.max_vcpus) == var.max_vcpus
    error_message = "max_vcpus must be a whole number >= 1."
  }

  validation {
    condition     = var.max_vcpus >= var.job_vcpus
    error_message = "max_vcpus (${var.max_vcpus}) must be at least job_vcpus (${var.job_vcpus}), or no job can ever start."
  }
}

variable "instance_types" {
  description = "EC2/SPOT only: instance types or families for Batch to choose from (\"optimal\" = C, M and R families)."
  type        = list(string)
  default     = ["optimal"]

  validation {
    condition     = length(var.instance_types) >= 1 && alltrue([for t in var.instance_types : can(regex("^[a-z0-9.-]+$", t))])
    error_message = "instance_types must list at least one instance type or family such as \"optimal\", \"c6i\" or \"m6i.large\"."
  }
}

variable "spot_bid_percentage" {
  description = "SPOT only: highest price as a percentage of the On-Demand price; null = up to 100%."
  type        = number
  default     = null

  validation {
    condition     = var.spot_bid_percentage == null || try(var.spot_bid_percentage >= 1 && var.spot_bid_percentage <= 100, false)
    error_message = "spot_bid_percentage must be null or from 1 to 100."
  }
}

variable "subnet_ids" {
  description = "Existing subnets for the jobs. Empty: a minimal VPC is created (public subnets, internet gateway, no NAT gateway)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", id))])
    error_message = "subnet_ids must be subnet IDs such as subnet-0123456789abcdef0."
  }
}

variable "security_group_ids" {
  description = "Security groups for the jobs in the existing subnets (required with subnet_ids; ignored without)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.security_group_ids : can(regex("^sg-[0-9a-f]+$", id))])
    error_message = "security_group_ids must be security group IDs such as sg-0123456789abcdef0."
  }

  validation {
    condition     = length(var.subnet_ids) == 0 || length(var.security_group_ids) > 0
    error_message = "security_group_ids must name at least one security group when subnet_ids is set (the jobs need outbound access to pull images and write logs)."
  }
}

variable "assign_public_ip" {
  description = "Fargate: give each task a public IP. Keep true in public subnets without a NAT gateway (the created VPC); false in private subnets with NAT or VPC endpoints."
  type        = bool
  default     = true
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC created when subnet_ids is empty."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) <= 24, false)
    error_message = "vpc_cidr must be an IPv4 CIDR block such as 10.42.0.0/16, /24 or larger."
  }
}

# --- the job ----------------------------------------------------------------------------------

variable "container_image" {
  description = "Container image of the Batch job. Array modes with the default job_command need only python3 >= 3.8 in the image (the reader runs inline, standard library only); no image build."
  type        = string
  default     = "public.ecr.aws/docker/library/python:3.12-slim"

  validation {
    condition     = length(var.container_image) > 0 && !strcontains(var.container_image, " ")
    error_message = "container_image must be an image reference such as public.ecr.aws/docker/library/python:3.12-slim."
  }
}

variable "job_command" {
  description = "Command of the job. Ref::item (inline, distributed) or Ref::items_uri (array modes) receives the work. null = [\"echo\", \"Ref::item\"] or, in array modes, [\"python3\", \"-I\", \"-S\", \"-c\", <inline reader>, \"Ref::items_uri\", \"--\", \"echo\"] (the reader appends the child's item to the command after --; keep that prefix and replace echo with your command)."
  type        = list(string)
  default     = null

  validation {
    condition     = var.job_command == null || try(length(var.job_command) > 0, false)
    error_message = "job_command must be null (the mode's default) or a non-empty list of strings."
  }

  validation {
    condition = var.job_command == null || anytrue([
      for arg in coalesce(var.job_command, ["-"]) : strcontains(arg, contains(local.array_modes, var.fanout_mode) ? "Ref::items_uri" : "Ref::item")
    ])
    error_message = "job_command must contain ${contains(local.array_modes, var.fanout_mode) ? "Ref::items_uri" : "Ref::item"} in ${var.fanout_mode} mode, or every job would run without its work."
  }
}

variable "job_environment" {
  description = "Environment variables of the job container."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for key in keys(var.job_environment) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", key)) && !startswith(key, "AWS_BATCH")])
    error_message = "job_environment names must be shell variable names and must not start with AWS_BATCH (reserved by Batch)."
  }
}

variable "job_vcpus" {
  description = "vCPUs per job. Fargate: 0.25, 0.5, 1, 2, 4, 8 or 16. EC2/SPOT: a whole number."
  type        = number
  default     = 0.25

  validation {
    condition     = contains(local.fargate_types, var.compute_type) ? contains(keys(local.fargate_memory_mib), tostring(var.job_vcpus)) : (var.job_vcpus >= 1 && floor(var.job_vcpus) == var.job_vcpus)
    error_message = "job_vcpus must be one of 0.25, 0.5, 1, 2, 4, 8, 16 on Fargate, or a whole number >= 1 on EC2/SPOT (got ${var.job_vcpus} with compute_type ${var.compute_type})."
  }
}

variable "job_memory_mib" {
  description = "Memory per job in MiB. Fargate accepts only certain sizes per vCPU count (0.25 vCPU: 512, 1024, 2048; 1 vCPU: 2048-8192 in 1024 steps; ...)."
  type        = number
  default     = 512

  validation {
    condition     = var.job_memory_mib >= 4 && floor(var.job_memory_mib) == var.job_memory_mib
    error_message = "job_memory_mib must be a whole number of MiB, at least 4."
  }

  validation {
    condition     = !contains(local.fargate_types, var.compute_type) || contains(lookup(local.fargate_memory_mib, tostring(var.job_vcpus), []), var.job_memory_mib)
    error_message = "job_memory_mib ${var.job_memory_mib} is not a Fargate size for ${var.job_vcpus} vCPU; allowed: ${join(", ", [for m in lookup(local.fargate_memory_mib, tostring(var.job_vcpus), []) : tostring(m)])}."
  }
}

variable "job_attempts" {
  description = "Attempts per job (Batch retry strategy; infrastructure failures and job_retry_exit_codes are retried)."
  type        = number
  default     = 3

  validation {
    condition     = var.job_attempts >= 1 && var.job_attempts <= local.limits.batch_retry_attempts_max && floor(var.job_attempts) == var.job_attempts
    error_message = "job_attempts must be a whole number from 1 to ${local.limits.batch_retry_attempts_max}."
  }
}

variable "job_retry_status_reasons" {
  description = "Status-reason patterns of infrastructure failures that are retried (Spot reclaim, image pull, task start)."
  type        = list(string)
  default     = ["Host EC2*", "CannotPullContainerError*", "ResourceInitializationError*"]

  validation {
    condition     = alltrue([for reason in var.job_retry_status_reasons : can(regex("^[A-Za-z0-9 .:]*\\*?$", reason)) && length(reason) <= 512])
    error_message = "job_retry_status_reasons entries may hold letters, digits, spaces, periods and colons, optionally ending in *, at most 512 characters."
  }
}

variable "job_retry_exit_codes" {
  description = "Container exit codes (digits, optionally ending in *) that are retried; every other exit code fails the job at once."
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
  description = "Seconds after which Batch stops a job attempt (array jobs: each child). Timed-out attempts are not retried."
  type        = number
  default     = 3600

  validation {
    condition     = var.job_attempt_timeout_seconds >= local.limits.batch_attempt_timeout_min_seconds && floor(var.job_attempt_timeout_seconds) == var.job_attempt_timeout_seconds
    error_message = "job_attempt_timeout_seconds must be a whole number of seconds, at least ${local.limits.batch_attempt_timeout_min_seconds} (Batch's minimum)."
  }
}

variable "job_state_time_limit_seconds" {
  description = "Cancel jobs stuck RUNNABLE (no capacity, or a job that can never fit the compute environment) after this many seconds; null = wait forever."
  type        = number
  default     = null

  validation {
    condition     = var.job_state_time_limit_seconds == null || try(var.job_state_time_limit_seconds >= local.settings.job_state_time_limit_seconds.min && var.job_state_time_limit_seconds <= local.settings.job_state_time_limit_seconds.max && floor(var.job_state_time_limit_seconds) == var.job_state_time_limit_seconds, false)
    error_message = "job_state_time_limit_seconds must be null or a whole number from ${local.settings.job_state_time_limit_seconds.min} to ${local.settings.job_state_time_limit_seconds.max} seconds (Batch's range)."
  }
}

# --- generator Lambda ------------------------------------------------------------------------

variable "generator_package_path" {
  description = "Path of the generator Lambda zip built by `make package`; null = <repo>/.fanout/build/generator.zip."
  type        = string
  default     = null

  validation {
    condition     = var.generator_package_path == null || try(endswith(var.generator_package_path, ".zip"), false)
    error_message = "generator_package_path must be the path of a .zip file (build it with `make package`) or null."
  }
}

variable "generator_timeout_seconds" {
  description = "Timeout of the generator Lambda in seconds (large distributed manifests take longer)."
  type        = number
  default     = 300

  validation {
    condition     = var.generator_timeout_seconds >= 3 && var.generator_timeout_seconds <= 900 && floor(var.generator_timeout_seconds) == var.generator_timeout_seconds
    error_message = "generator_timeout_seconds must be a whole number from 3 to 900 (Lambda's maximum)."
  }
}

variable "generator_memory_mib" {
  description = "Memory of the generator Lambda in MiB (also scales its CPU)."
  type        = number
  default     = 512

  validation {
    condition     = var.generator_memory_mib >= 128 && var.generator_memory_mib <= 10240 && floor(var.generator_memory_mib) == var.generator_memory_mib
    error_message = "generator_memory_mib must be a whole number from 128 to 10240."
  }
}

variable "generator_reserved_concurrency" {
  description = "Reserved concurrency of the generator Lambda; null = none (new accounts with a concurrency quota of 10 cannot reserve any)."
  type        = number
  default     = null

  validation {
    condition     = var.generator_reserved_concurrency == null || try(var.generator_reserved_concurrency >= 1 && floor(var.generator_reserved_concurrency) == var.generator_reserved_concurrency, false)
    error_message = "generator_reserved_concurrency must be null or a whole number >= 1 (0 would stop every execution)."
  }
}

# --- storage, logs, encryption ---------------------------------------------------------------

variable "bucket_name" {
  description = "S3 bucket for manifests and results (array and distributed modes); null = <name>-<account id>-<region>."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || try(can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, ".."), false)
    error_message = "bucket_name must be null or 3-63 characters of lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit."
  }
}

variable "runs_expiration_days" {
  description = "Days after which a run's objects (manifest, item batches, results) expire from the bucket."
  type        = number
  default     = 30

  validation {
    condition     = var.runs_expiration_days >= 1 && floor(var.runs_expiration_days) == var.runs_expiration_days
    error_message = "runs_expiration_days must be a whole number of days, at least 1."
  }
}

variable "bucket_force_destroy" {
  description = "Let `terraform destroy` delete the bucket while it still holds run objects (sandboxes, tests)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the Lambda, state machine and job log groups in days."
  type        = number
  default     = 365

  validation {
    condition     = contains(local.settings.log_retention_days.values, var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts: ${join(", ", local.settings.log_retention_days.values)}."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the bucket, log groups, Lambda environment and alerts topic; null = AWS-owned keys (and a dedicated key for the alerts topic). Its key policy must allow CloudWatch Logs in the Region, and events.amazonaws.com and cloudwatch.amazonaws.com to kms:GenerateDataKey* and kms:Decrypt."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || try(can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn)), false)
    error_message = "kms_key_arn must be null or a KMS key ARN such as arn:aws:kms:us-east-1:111122223333:key/<key-id> (not an alias: log groups need the key ARN)."
  }
}

# --- alerts -----------------------------------------------------------------------------------

variable "alert_emails" {
  description = "E-mail addresses subscribed to the alerts topic (failed, timed-out and aborted executions); each must confirm the subscription SNS sends."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.alert_emails : can(regex(local.settings.alert_emails.pattern, address))]) && length(distinct(var.alert_emails)) == length(var.alert_emails)
    error_message = "alert_emails entries must be distinct e-mail addresses such as ops@example.com."
  }
}
