terraform {
  # 1.9: variable validations may refer to other variables and locals (the limits below).
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7"
    }
  }
}
