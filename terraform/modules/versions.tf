# The provider and Terraform versions every module needs, in one place: each module's versions.tf is a
# symbolic link to this file (the root module's own terraform/versions.tf adds the backend).
terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7"
    }
  }
}
