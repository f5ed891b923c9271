# Small runs: one Batch job per item on Fargate, fanned out by an inline Map.
# A minimal VPC (public subnets, internet gateway, no NAT gateway) is created for the jobs.
#   make plan VARS=terraform/examples/fargate-inline.tfvars

name            = "fanout-inline"
fanout_mode     = "inline"
compute_type    = "FARGATE"
max_concurrency = 20
max_vcpus       = 8

container_image = "public.ecr.aws/docker/library/python:3.12-slim"
job_command     = ["echo", "Ref::item"]
job_vcpus       = 0.25
job_memory_mib  = 512
job_attempts    = 3

job_attempt_timeout_seconds = 600
execution_timeout_seconds   = 3600

tags = {
  project = "fanout-example"
}
