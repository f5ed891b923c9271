# Fan out AWS Batch jobs with Step Functions: the generator Lambda produces the items, the state
# machine fans them out (inline Map, Batch array jobs, or Distributed Map), Batch runs the jobs.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  # The one place the AWS limits live (shared with the Python tooling and the tests).
  limits = { for key, value in jsondecode(file("${path.module}/aws_limits.json")) : key => value if !startswith(key, "_") }

  # Fargate's valid memory sizes (MiB) per vCPU count:
  # https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html
  fargate_memory_mib = {
    "0.25" = [512, 1024, 2048]
    "0.5"  = range(1024, 4096 + 1, 1024)
    "1"    = range(2048, 8192 + 1, 1024)
    "2"    = range(4096, 16384 + 1, 1024)
    "4"    = range(8192, 30720 + 1, 1024)
    "8"    = range(16384, 61440 + 1, 4096)
    "16"   = range(32768, 122880 + 1, 8192)
  }

  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.id

  array_mode  = contains(["array", "distributed_array"], var.fanout_mode)
  uses_bucket = var.fanout_mode != "inline"
  runs_prefix = "runs/"

  create_network     = length(var.subnet_ids) == 0
  subnet_ids         = local.create_network ? module.network[0].subnet_ids : var.subnet_ids
  security_group_ids = local.create_network ? [module.network[0].security_group_id] : var.security_group_ids

  # Known at plan time (names + data sources), so the policies and the definition render in full.
  bucket_name             = local.uses_bucket ? coalesce(var.bucket_name, "${lower(replace(var.name, "_", "-"))}-${local.account_id}-${local.region}") : null
  generator_function_name = "${var.name}-generator"
  # Names taken from module outputs (values known at plan time) order the resources: the bucket
  # and the function exist before the state machine that uses them, without module depends_on
  # (which would defer every data source and hide the policies from the plan).
  created_bucket_name = local.uses_bucket ? module.storage[0].bucket_name : null

  package_path = coalesce(var.generator_package_path, "${path.root}/../.fanout/build/generator.zip")

  default_job_command = local.array_mode ? ["python3", "-m", "fanout_item", "Ref::items_uri", "--", "echo"] : ["echo", "Ref::item"]
  job_command         = var.job_command == null ? local.default_job_command : var.job_command
  # Defaults for the Ref:: placeholders; every SubmitJob overrides them.
  job_parameters = local.array_mode ? { items_uri = "none", batch = "0" } : { item = "{}", index = "0" }

  generator_environment = merge(
    {
      FANOUT_ITEMS_PER_BATCH = tostring(var.items_per_batch)
      FANOUT_MAX_CONCURRENCY = tostring(var.max_concurrency)
      FANOUT_LIMITS          = jsonencode(local.limits)
    },
    var.max_items == null ? {} : { FANOUT_MAX_ITEMS = tostring(var.max_items) },
  )

  # Marks every resource of the stack (cost allocation, clean-up) without changing when the mode does.
  tags = merge(var.tags, { "fanout:stack" = var.name })
}

module "network" {
  source = "./modules/network"
  count  = local.create_network ? 1 : 0

  name       = var.name
  cidr_block = var.vpc_cidr
  tags       = local.tags
}

module "storage" {
  source = "./modules/storage"
  count  = local.uses_bucket ? 1 : 0

  bucket_name     = local.bucket_name
  runs_prefix     = local.runs_prefix
  expiration_days = var.runs_expiration_days
  kms_key_arn     = var.kms_key_arn
  force_destroy   = var.bucket_force_destroy
  tags            = local.tags
}

module "batch" {
  source = "./modules/batch"

  name                         = var.name
  compute_type                 = var.compute_type
  max_vcpus                    = var.max_vcpus
  instance_types               = var.instance_types
  spot_bid_percentage          = var.spot_bid_percentage
  subnet_ids                   = local.subnet_ids
  security_group_ids           = local.security_group_ids
  assign_public_ip             = var.assign_public_ip
  container_image              = var.container_image
  job_command                  = local.job_command
  job_parameters               = local.job_parameters
  job_environment              = var.job_environment
  job_vcpus                    = var.job_vcpus
  job_memory_mib               = var.job_memory_mib
  job_attempts                 = var.job_attempts
  job_retry_status_reasons     = var.job_retry_status_reasons
  job_retry_exit_codes         = var.job_retry_exit_codes
  job_attempt_timeout_seconds  = var.job_attempt_timeout_seconds
  job_state_time_limit_seconds = var.job_state_time_limit_seconds
  items_bucket_name            = local.array_mode ? local.bucket_name : null
  runs_prefix                  = local.runs_prefix
  log_retention_days           = var.log_retention_days
  kms_key_arn                  = var.kms_key_arn
  tags                         = local.tags
}

module "generator" {
  source = "./modules/generator"

  function_name        = local.generator_function_name
  package_path         = local.package_path
  fanout_mode          = var.fanout_mode
  bucket_name          = local.created_bucket_name
  runs_prefix          = local.runs_prefix
  environment          = local.generator_environment
  timeout_seconds      = var.generator_timeout_seconds
  memory_mib           = var.generator_memory_mib
  reserved_concurrency = var.generator_reserved_concurrency
  log_retention_days   = var.log_retention_days
  kms_key_arn          = var.kms_key_arn
  tags                 = local.tags
}

module "state_machine" {
  source = "./modules/state_machine"

  name                         = var.name
  fanout_mode                  = var.fanout_mode
  generator_function_name      = module.generator.function_name
  job_queue_name               = module.batch.job_queue_name
  job_definition_name          = module.batch.job_definition_name
  bucket_name                  = local.uses_bucket ? local.created_bucket_name : ""
  runs_prefix                  = local.runs_prefix
  max_concurrency              = var.max_concurrency
  items_per_batch              = var.items_per_batch
  tolerated_failure_percentage = var.tolerated_failure_percentage
  execution_timeout_seconds    = var.execution_timeout_seconds
  batch_api_retry              = var.batch_api_retry
  kms_key_arn                  = local.uses_bucket ? var.kms_key_arn : null
  log_retention_days           = var.log_retention_days
  tags                         = local.tags
}
