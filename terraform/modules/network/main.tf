# A minimal network for accounts with nothing prepared: public subnets with an internet gateway,
# so Fargate tasks and EC2 instances reach ECR/CloudWatch through public IPs. No NAT gateway (no
# hourly cost). The security group allows HTTPS egress only: nothing needs to reach the jobs.

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first two zones (sorted) are used; a zone added later does not change them
  state = "available"
}

locals {
  # The root's contract and limits (../../contract.json, ../../aws_limits.json): inputs this module
  # shares with the root are validated with the root's conditions and messages.
  limits   = { for key, value in jsondecode(file("${path.module}/../../aws_limits.json")) : key => value if !startswith(key, "_") }
  contract = jsondecode(file("${path.module}/../../contract.json"))
  settings = local.contract.settings

  azs = slice(data.aws_availability_zones.available.names, 0, min(var.subnet_count, length(data.aws_availability_zones.available.names)))
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:Created only when no subnet_ids are given, for the jobs' outbound HTTPS; flow logs belong to the VPC you bring for production
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, { Name = var.name })
}

# Take over the VPC's default security group and leave it without rules, so nothing that lands
# in it by accident is reachable or can reach out.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-default-deny" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  #checkov:skip=CKV_AWS_130:The minimal VPC has public subnets and no NAT gateway by design (cost); jobs need a public IP to pull images; pass subnet_ids of private subnets for production
  count = length(local.azs)

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.cidr_block, 24 - tonumber(split("/", var.cidr_block)[1]), count.index)
  map_public_ip_on_launch = true

  tags = merge(var.tags, { Name = "${var.name}-public-${local.azs[count.index]}" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = length(aws_subnet.public)

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_security_group" "jobs" {
  #checkov:skip=CKV2_AWS_5:Attached to the Batch compute environment through the module's security_group_id output, which checkov's graph does not follow
  name_prefix = "${var.name}-jobs-"
  description = "Batch jobs of ${var.name}: outbound only"
  vpc_id      = aws_vpc.this.id

  # Everything the jobs and the Batch/ECS agents reach is HTTPS: image registries, S3,
  # CloudWatch Logs, the ECS and Batch endpoints. DNS and time go to link-local addresses that
  # security groups do not filter. Jobs that need more run in your own subnets and groups.
  egress {
    description = "HTTPS out (image pulls, S3, CloudWatch Logs, AWS APIs)"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(var.tags, { Name = "${var.name}-jobs" })

  lifecycle {
    create_before_destroy = true
  }
}
