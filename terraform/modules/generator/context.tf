# Linked into a module as its context.tf: where the module runs, for partition- and region-aware
# ARNs built from names (so a plan shows whole policies), and the root's contract and limits, so an
# input the module shares with the root is validated with the root's condition and message.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id
  account_id = data.aws_caller_identity.current.account_id

  limits   = { for key, value in jsondecode(file("${path.module}/../../aws_limits.json")) : key => value if !startswith(key, "_") }
  contract = jsondecode(file("${path.module}/../../contract.json"))
  settings = local.contract.settings
}
