# 1,000,000+ items: a Distributed Map over a manifest of batches, each child workflow running
# one Batch array job of up to 10,000 items, on EC2 Spot (SPOT_PRICE_CAPACITY_OPTIMIZED).
#   make plan VARS=terraform/examples/spot-distributed-array.tfvars

name                         = "fanout-spot"
fanout_mode                  = "distributed_array"
compute_type                 = "SPOT"
spot_bid_percentage          = 60
max_vcpus                    = 256
instance_types               = ["optimal"]
items_per_batch              = 10000
max_concurrency              = 50
tolerated_failure_percentage = 5

container_image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fanout-worker:latest"
job_vcpus       = 1
job_memory_mib  = 1024
job_attempts    = 5

job_attempt_timeout_seconds  = 1800
execution_timeout_seconds    = 172800
job_state_time_limit_seconds = 7200
generator_timeout_seconds    = 900
generator_memory_mib         = 1024
runs_expiration_days         = 14
