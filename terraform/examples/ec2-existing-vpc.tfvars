# Batch array jobs on EC2 On-Demand instances in subnets you already have (private subnets with
# a NAT gateway or VPC endpoints for ECR, S3 and CloudWatch Logs). One array job per batch of
# up to items_per_batch items; each child reads its line of the batch from S3.
#   make plan VARS=terraform/examples/ec2-existing-vpc.tfvars

name               = "fanout-ec2"
fanout_mode        = "array"
compute_type       = "EC2"
subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
security_group_ids = ["sg-0123456789abcdef0"]
instance_types     = ["c6i", "m6i"]
max_vcpus          = 64

items_per_batch = 5000
max_concurrency = 10

# Any image with python3 >= 3.8 runs the default array-mode command: it carries the item reader inline.
container_image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fanout-worker:latest"
job_vcpus       = 1
job_memory_mib  = 2048

job_attempts         = 3
job_retry_exit_codes = ["137"]

job_state_time_limit_seconds = 3600
