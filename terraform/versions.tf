terraform {
  # State lives in S3 (partial configuration): `fanout` passes the bucket, region and a key derived
  # from the stack's name to `terraform init -backend-config=...` for the target in use; the local
  # sandbox account holds its own state bucket. https://developer.hashicorp.com/terraform/language/backend/s3
  backend "s3" {}

  # 1.9: variable validations may refer to other variables and locals (the limits below).
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7"
    }
  }
}
