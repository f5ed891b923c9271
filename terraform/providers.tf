locals {
  # Services the stack calls. With aws_endpoint_url set (the local sandbox account, or any
  # emulator), each of them is pointed at that URL.
  emulated = var.aws_endpoint_url != null
}

provider "aws" {
  region = var.region

  # An emulator answers neither the EC2 metadata service nor region or credential checks.
  s3_use_path_style           = local.emulated
  skip_credentials_validation = local.emulated
  skip_metadata_api_check     = local.emulated
  skip_region_validation      = local.emulated

  # Primary endpoint names only (logs, not its alias cloudwatchlogs; setting both is an error in
  # newer providers).
  dynamic "endpoints" {
    for_each = local.emulated ? [var.aws_endpoint_url] : []

    content {
      batch  = endpoints.value
      ec2    = endpoints.value
      events = endpoints.value
      iam    = endpoints.value
      kms    = endpoints.value
      lambda = endpoints.value
      logs   = endpoints.value
      s3     = endpoints.value
      sfn    = endpoints.value
      sts    = endpoints.value
    }
  }
}
