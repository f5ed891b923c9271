variable "name" {
  description = "Prefix for the names of the network resources."
  type        = string

  validation {
    condition     = can(regex(local.limits.batch_name_pattern, var.name)) && length(var.name) >= local.settings.name.min_length && length(var.name) <= local.settings.name.max_length
    error_message = "name must be ${local.settings.name.min_length}-${local.settings.name.max_length} characters: letters, digits, hyphens and underscores, starting and ending with a letter or digit (it prefixes Batch, IAM, Lambda and S3 names)."
  }
}

variable "cidr_block" {
  description = "CIDR block of the VPC; two /24-or-smaller public subnets are carved from it."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 24
    error_message = "cidr_block must be an IPv4 CIDR such as 10.42.0.0/16 with a prefix length of /24 or shorter."
  }
}

variable "subnet_count" {
  description = "Number of public subnets, each in its own availability zone."
  type        = number
  default     = 2

  validation {
    condition     = var.subnet_count >= 1 && var.subnet_count <= 6 && floor(var.subnet_count) == var.subnet_count
    error_message = "subnet_count must be a whole number from 1 to 6."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
