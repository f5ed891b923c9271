output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "subnet_ids" {
  description = "IDs of the public subnets, one per availability zone."
  value       = aws_subnet.public[*].id
}

output "security_group_id" {
  description = "ID of the security group for the jobs (HTTPS egress only)."
  value       = aws_security_group.jobs.id
}
