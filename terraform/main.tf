# Fan out AWS Batch jobs with Step Functions: the generator Lambda produces the items, the state
# machine fans them out (inline Map, Batch array jobs, or Distributed Map), Batch runs the jobs.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  # The one place the AWS limits live (shared with the Python tooling and the tests).
  limits = { for key, value in jsondecode(file("${path.module}/aws_limits.json")) : key => value if !startswith(key, "_") }
  # The one place the modes, defaults and ranges live (shared with the Python tooling); every
  # module that validates an input reads it the same way and applies the same rule.
  contract          = jsondecode(file("${path.module}/contract.json"))
  settings          = local.contract.settings
  modes             = [for mode in local.contract.modes : mode.name]
  array_modes       = [for mode in local.contract.modes : mode.name if mode.array]
  distributed_modes = [for mode in local.contract.modes : mode.name if mode.distributed]
  compute_types     = [for type in local.contract.compute_types : type.name]
  fargate_types     = [for type in local.contract.compute_types : type.name if type.fargate]

  # Fargate's valid memory sizes (MiB) per vCPU count:
  # https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html
  fargate_memory_mib = {
    "0.25" = [512, 1024, 2048]
    "0.5"  = range(1024, 4096 + 1, 1024)
    "1"    = range(2048, 8192 + 1, 1024)
    "2"    = range(4096, 16384 + 1, 1024)
    "4"    = range(8192, 30720 + 1, 1024)
    "8"    = range(16384, 61440 + 1, 4096)
    "16"   = range(32768, 122880 + 1, 8192)
  }

  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.id

  array_mode  = contains(local.array_modes, var.fanout_mode)
  uses_bucket = local.array_mode || contains(local.distributed_modes, var.fanout_mode)
  runs_prefix = "runs/"

  create_network     = length(var.subnet_ids) == 0
  subnet_ids         = local.create_network ? module.network[0].subnet_ids : var.subnet_ids
  security_group_ids = local.create_network ? [module.network[0].security_group_id] : var.security_group_ids

  # Known at plan time (names + data sources), so the policies and the definition render in full.
  bucket_name             = local.uses_bucket ? coalesce(var.bucket_name, "${lower(replace(var.name, "_", "-"))}-${local.account_id}-${local.region}") : null
  generator_function_name = "${var.name}-generator"
  # Names taken from module outputs (values known at plan time) order the resources: the bucket
  # and the function exist before the state machine that uses them, without module depends_on
  # (which would defer every data source and hide the policies from the plan).
  created_bucket_name = local.uses_bucket ? module.storage[0].bucket_name : null

  package_path = coalesce(var.generator_package_path, "${path.root}/../.fanout/build/generator.zip")

  # Array children read their line with the standard-library reader lambda/job/fanout_item.py, carried
  # inline (zlib + base64, ~6.7 KB) so any image with python3 >= 3.8 runs it unchanged, with no
  # site-packages (-I -S). Regenerate: python3 lambda/job/inline.py --write
  item_reader         = "import binascii,zlib;exec(zlib.decompress(binascii.a2b_base64('eNqtO2tz2ki23/kVnQ8pSQnIYOxkhjtsFbFJ4kniZA2eTYblqgQIo1hIjCQSOxT72/ec0w91S8LxrTtTlbFodZ9Xn3e3lmmyZp633ObbNPA8Fq43SZozP46T3M/DJM4aYihRT1mebue5+nWvXuThOmjk6X2vweC/JYHOVv6xhIrPpy8awd082OTsggaHaZqkfIFaaa4+fVFaj68PwVBLV362isJZaen1aPBmyPrM2mb+TdBjm/t8lcRd1lqzpR8n29wL82DNsm7v6OjV9dm74fjo3fALa7XY2YdzNhlcvRm5rju1GheX58PP3uj69euLzwjPDRd3VmN4Ob76Aj+5hNwR/bGtf/zTchqfBhdXda/w3fDDp/EXb/R2gMz2BbH2zLIcdxXcLcKbIMttp3F9eTUcDa/+GJ7DJODyRxBnQQ7zBq/Ozoev37y9+P3d+w+XHz/982o0vv7jX5+//OnP5otgebMKv95G6zjZ/JVm+fbb97v7H+3Ocffk9MXLX35tee5/joCKs4+X48HF5fDKe/txNEauVnm+AUl0XvzqHp+euJ2XbfcYeP9wPjo4hf+1dGDj8SeaPoL5thUlcz9aJVluNZllQi4PdHFkuWi3e8H8uNfjv3u9DtA6GI9RaAjypNGYR36WsQvYusskf51s4wWphD0kLQEtdrh2bGCanH0V+A/OArExP039ey+MF8GdHcTf+pdJHIhJqf8d2UkyF16EaRKzcMngkYUZw2ksiLIABxz3BvbIGvxr5L0ajM/eer9/fOUNrq4GXzxSIuSpbTksSfEvwSaEAD2McxvwOHxwKcZ/Y+1C11M/BDR/+NE24MwsD2Pq7wDYHgmMgxsw7m+BxUGnAVh/zMFzxuN85UVhHNj4v6zJXwnOl0BpvF3PgrTJ8DW8BD636yD1c7HAKQgEsvlk1u9zMMU7DTcuc0E303AD+vzv9N8x6P4imCeLwLa2+bL1i6SVGK5u9dLKV0AKjGcsmX0N5jm6ABYnnMYdod4DEOKPfnm3wb0N/+SOckpggD1nun3zJds0yjZRmNvwIFZk81WwDprMa8LiLIcdg3fuxk/zENXJtsAwBNlxkIPiN1kGurdqgorlK5iOq/T5cjaaB0xCxwU6JteS9kld4INulsPq7HuYr2xrYmly5yCAstwPI4DC5086vamOcCoQktpzdDgfp6FCIkbubqMC5RyEDgrdA52FLe2UUQowkj4SGU7WZWxLyfElqOe4zEHGaD0ZD2IXEoMdQZGJ3ftrm4Cm0YCxdZblfk3C2Lbnq9SeEbQZaqfmNwnw0nq6m/Xax5/3FmkzTUJwYMukcY4jMHlZFAQb289Brza5wCZCSurHi2TNIxcEPpdP5aPuNg4B8tpuNxk4MvaMwb9nTMJxpBM6S+IYVBX2otcgSIQUPE6Ye56dBdGyyUxZIeo+lwxihZDV77bdtm5xIuIl89sgV6MIy+WbAruDsJSwDY+1tHb4ct/b4bu9VVYPngukzD456SIETh1qAoWCzOJgfmkXioWUYFQjgtx5GoCf8OaKc9tGhC63fWsCKsm5dBSHju5NKghNfyK5zyJjWNKQRZIAkLS/jXIkJA/uILy631N/43EqbfwDog/Sb0HqIX2xvw76ZUIdU7xyETwuwygQj5BqzKIADVm8h/+7a/82wDm2lc6Q4XG6BdtWKpAGf20x5nMNWAeQpSy41wA9gMAVpLqPxRGAv7MorPb0vW6C2okFe12KHCR7AlJ8MxyXZIgLJhYJJs5bURDf5CtritG+XegDOXoYm4DGcGh7tkMK9wwj/lHH7UBoewaOeXe777HdN2FsIIFvaG+IxCV/DeYGMRDjoDWtCtTNgnjhR5HNowK3cB5lpLlaEUSzuNUxNgTS1y3Sp7bDhX1fUFB7cXrafekI38Rt6djQMWDZ5gAcCLfHpYhFEejjiMcdCjtcT9g8SrJgwXCkUG/Nw4K730BGjbpwJR5t9H0c1aQzdbjKFCu+r4BwUg6TBoppD/BmmsRSxWkZW5sMHvgfPWjI/2YA7tYYRfWncPINUw1ATQFbBmglfyP4WU4p0nOWXaGPE4QprMlxo+R7kNoOahmhkC8apURBQilshaROlqJxYlreax98Uo1q8aVOkRJy2A/4YtqpJm1vGZt8Rz9wgngU7JID0JY32W6vWbwXBcu8zAU3PbnRAhDPJ0vWWZETeXSuygjC8PGoc3zccDn+oop/CSEHFYyoRyI4nY7GJilgyXyWFFWghiSspoLNksU91i9SbW2cXqxHCn+ywNSrgpAD+41Bo05+0kDR8SgFpMBCelFyij9FIwSP1BZSJUdVJ1a5qUKedeKriu4+DKIFr29pMZcGd2Qc0y3kIOAvsz4PKNVMu+RaCNc/9Iqi7F7UFhc+xtwwmZDCZuPbqjcpIVYSaPXJ0eIip4ZNHOdZGMZ5b44xQEZCyLNVICxlQ8cqGaomTirxNpJ5moxswosiIbPrlhsJidGv0Hw7SUxGcD12U413ZCnK8Tc6gZIG2cpTSn+hBviG8xXLMAaRaCQQXuXSyKkAxPTeRtFpxZvIQjEeQLZ6E9iymNZU1OCtiKdNaYy0G5rR8naMCIoMCq8gTR8EIOIueHkbpjpF5m2YLQ/imithkF7L4d/YabtdW03aOjIDouT9OevAesm4CaSU9DcOA+ZChoRyAa449CPvawaKg+8wzdum88AsGfB1VXUWfu6DRPAleCF/kdkm2QL3zoLSFLI7nD6xBvN5kGXvgvuLhTUFD5YFQEauXo/op5pEU/LkNojFDO4ExzTi7PWWml00E5oMloqn8f2GDzrl5kPRSIFUj3O9FzRDMgQFeCGfDGpG8l5UWJL0MI75YOmpB25rk2BowqaJrOsi6lOAdGCwaKQUzaWzq+H58HJ8MXg/8q6G7wfjiz+G3vXVhaUKZQmjVzGzUr/ruZraVFa53EbR45C/vn7/3kSMKovrq4i56hflvOlpIMnydBeFMBRQUf08KcotNAgbcdm8qItZbesNrFJUL0XDoHP80oWc+YEdfQTDbL0FtLOAvDS5NJ9FSbKZ+fPbo+HZ6Gj4bsT8xQJ8WCbbGyoj2nHVI830RJ5xQNiD6/Hbj1cXf8IWf7z0xh/fDS+91xfvh4XACygFQ8goSyAk2sVbB/3TCuQWBdW6BxNTa7AFp52GP6gDTpUPn64CrpabUmvk8TRbpbrtAD4AOHkEsKnhnFBTivpQeKdwDQ4FwMnyEcjsq4AqiJn5FLhsg43h2bH3YTgenA/GAw/bJxdnQ294ef7p48XlmDcsVSfYkb27ooVV3mPpOWkfYFjEpshfzxZ+jxHaT9djrEmQmucQKcEaIYQe+ZvwiPsuMEzrc8v/nrWC+XELQquPvqxFL1t5HrXACyaQ/YCTs7rttrV3CsMR9WCfHetBQ23BIbC0G/Qkqx2nURPO6rjBwlpxY9buZbKelMiqetYwhqnxPGCSPFFs96jaZjsOaG/22XguqtQAXCxmrgvDw3LVObzz5xejwav3w3PRotYyZXRCOaSZlvDkhZtXzfJ6dcM2eZ/9vHUuhWQQNzg7G45G3rvhF+8CiUL/Z0wYDcFNjbV5uslJ7SutGI00AzU6nzUBWNmmSYoRhdWcKjV6KKa/3D70lJYnkXVxUYoEZvcaB1Krw7qo46jNtMp6WK+LijZ9z5mks6SRbIdkTXoAd7qv1qkHsidLNFEewFM4/kPKzQ9zKOFXzgTNp4X2cxT66yPYr20a5vctDcFR0eNKE4pIdT5UnU7IPpIhTozHuPhhSfIjC2nY4rjiYvCBlj5CVCW6MIOBhZP2lFMopKgQbNIEw59xkKIRY2Zq2EXMWUXLj2p1Gi3mBvM0xPc1mUEKIFho8NbCDRZUf6NTWOLBT9mMr4ZvwIq5/RovzoevB9fvx2qCkaERJHQiD2lRpRySBGhbUKNim8ifQ7oW50dcBFZFdUpNLpmDq21pyprKqcev/JTQET6OjnoL0czP8lZHuGdvtfbneNwFITi4k2cZeNrVx/+70VfI4+wXJ9QavIPgKcQUo/0VZ9L3wKJtz9j/stOT4vAET9Ec0D+EXJRyrjq51iisAvr1uAqI0GoAiIUsvIlVQS3Kcj2sNkmBqV5GaXu8aemvf3iwGwFv54fzoG9leJK88e+x2urrh++ycwCIAmqpU49SBDxIKpjoP2PZSm1KZf0OPxcljLxHKnrc2HESbe69BtzdbpAoWzXtOT/WXQvoRe0JYKwgXYzLrh8XIswQTOyVTpMEuOrzIKO3KQnzRMBSvq/Ic2jxRCzkuSVyRG10qF/BLDgI0TLx4yQOwYTRv6rW/MQ8rbAA8HM6JEBI+95OEIG/puJIAJ9RXISLptNpwP8IiDTsqA2byqIJ0npsC1o7KaZJ75fp/min7T78Epu+P4L87sQTbRlLlB0eUmOSjx7jpPX2w+CsxXXCMlQIsTalEisJaDqvXdgQlHIbI1d0YgF3QsoiV5gWvQ/VocEuOrXrdc5Kai34AjkZjGnbzfFqdo9gHaWDPl75MScIgRATttPQdcavlCgVQbEzFT76O5D8vslGtPqtaNTJEcIMvywXz0j93BYSueWNCiHjyv4rok1/QihkC19eCnjw6seoe7jDfyBICdciXmkbod8J+T+HMdVX5gDpRoCCjF68iJw8cpiriCRptji9lILXrZHZUzl4ysIOSvr33qhbE0X1GTVJsuCDtBCJaptvyN97KT+pLL3zRPOVd4XUxoimgdiY2RYPZpusuLBhpHdoWPxeAE6o9P5Vcmr2JCsXOIzJ9Vc51JGYeaVD1NCHrnRUOpQCtYRiy3sOCMcop6kURva4BNRVCMXEdrkM7+gSmr/2fyQx+AN3nqzdeWwp/rkiGd2fedwC4KSPpZWWLj7LtdAVceT13VbRisL6p+sipbpOPxcENh/mogJLzbPcB6GKeyFKa/C4uKoydcfm5S0QusRVUiqfrnYVreKKK00bIxlklMUbeVIEL7RB2AKwKSy1SkpQSvF+dglILzf4ZZtU3bZpso4zaXWmbphBMML8pOgTisl4SsQVAS8yVE9t6tCXMWClgZVp/dvO1Kk5qfMec9JyaJ0UXlV2aoEMmdi2CfkB8xIfbOvpl6frp4vx07dPPzwd/Wnx0xz3Zk1v9asDMvujfFOUzrqSaAln4Yebun4WKYNzwEE+77PO4fJCxraCcXmeJMjhZOjZmF4+iJqhqV0MdHqHRCpPjB644zDqahca2NKHKnJhtvKV+VGv9VHm99ijqFoBlY7cODtk+rVYjbWPOKzSwTeJYZ4rlU6tKoaoSDp4+l2a6KqzrG6573Lo4kPlsgbv+pTOCCvT1sk3UuryNQwe4HlJwGXXEsWq8xjC+3120j45QDlpkUrJlhbdq95xLJAgwhbtH4+l8+IhLNUboRZpFHfJkLVmyxCdcT0+Lhx0kfzpSd+INuQ7yzRhft5td5rAf7vOgVaTO4JdOw/rujDeVje3UL2lxdtqJTJUfw30Z/ok1S7sPahtp+02cVV+A4yfHP9az0z1VtAjD1QPHarWdxfBwbEaRemxnRAG3eKVDge01+Ouo8bpLMMUIwpkVrm2QcJguM8gf2Us2llXCA+K66VFWWt/R3D2rR0C2lt7p2xj5Qz3Ob/ZUHuMe+h+yKEMt+LlaijeOzUJ9aF7Kuh35X0wtf2cjrogUWXr5xc2KA/wtmlow78HLkuH9Rm2ZM5rihr2UFJtXgel5mb1tJWPixuGlIKqXM48UM26lszhRPKJ91zxJ/XHiozcefD+/Q74AkOUIcCPuTZzkEfIUHFMrGikjpS2qQY60cBD+XoYc6G2g4DYpCtbNGpe0BcXGGkS3l/EL0/cLPwRlMn+f9yiF8cOeCcmoEYkIdnGG39+KzA3tJtEilJbW9SCJLE44lmw3/ocpNwEumKo0lS6sOg8loVkucT+Nf9iYpEEfC/Wfj5fUZN6Rk9+XseX9knCpIdJdPk7hIa8L0dfC6GOiw2AzKCrNwSkzmsbi2ZsWIe4y6McFWYZnOxnjL4noq0TCIwx0GS1tYYwD9uEaHonmcuvu9+FkIva5tcQJSdQnKCTr6H7yocO0DXpqS9I+DypoTUH8yZ2DUO4AIHWYMbWeunS9+LOzYLg1iY5iuigrtegm8WPjmwfdqImUNN9GFruO4fYoTnk9Wcgah/DXW1drxkpEkUr1CYBc0SIIYysCzs+6tr0uQL8MBpFWbd6XYisC9Wo6xbBT2pYWZh6BDQ+nCvbzd/nG7SyQEMoYfV+WvQozQEGeVjSA2NFkUrwa9P5wyztYO6+cBBkEBUWqnsrHDA/YmWoV736/SDNJb1ThJP3WPthbEMtK5uNwV0w95ZxHxuH8PhtU3YlMDeja9f4VcB95uJa+kwHczB4NvUGRxw9GOByjAVduqADP6A6p6DXamnuYZNiNU8fSfJrv31EleULLHbKgfXFiTi3DvFC83rtUxwgTNQYoIfj3rTmsiR9ZNkvu1D9azts93YNjbUr29dUm64XusWJWUUVOHtLS/vUE7JK1ADrEewaH56qhPXvRfLylPsEPgPWu8tom63sGhkKjbGF6Enkk2fiV5NEPDUE+BpwHzD5WprlnqpTUmCjQPYYbjrHL3X7aTfwrJ56255H0cnz0A48T6ggggILzG2yDsf5L5ZUMz0=')))"
  default_job_command = local.array_mode ? ["python3", "-I", "-S", "-c", local.item_reader, "Ref::items_uri", "--", "echo"] : ["echo", "Ref::item"]
  job_command         = var.job_command == null ? local.default_job_command : var.job_command
  # Defaults for the Ref:: placeholders; every SubmitJob overrides them.
  job_parameters = local.array_mode ? { items_uri = "none", batch = "0" } : { item = "{}", index = "0" }

  generator_environment = merge(
    {
      FANOUT_ITEMS_PER_BATCH = tostring(var.items_per_batch)
      FANOUT_MAX_CONCURRENCY = tostring(var.max_concurrency)
      FANOUT_LIMITS          = jsonencode(local.limits)
      FANOUT_MODES           = jsonencode(local.modes)
    },
    var.max_items == null ? {} : { FANOUT_MAX_ITEMS = tostring(var.max_items) },
  )

  # Marks every resource of the stack (cost allocation, clean-up) without changing when the mode does.
  tags = merge(var.tags, { "fanout:stack" = var.name })
}

module "network" {
  source = "./modules/network"
  count  = local.create_network ? 1 : 0

  name       = var.name
  cidr_block = var.vpc_cidr
  tags       = local.tags
}

module "storage" {
  source = "./modules/storage"
  count  = local.uses_bucket ? 1 : 0

  bucket_name     = local.bucket_name
  runs_prefix     = local.runs_prefix
  expiration_days = var.runs_expiration_days
  kms_key_arn     = var.kms_key_arn
  force_destroy   = var.bucket_force_destroy
  tags            = local.tags
}

module "batch" {
  source = "./modules/batch"

  name                         = var.name
  compute_type                 = var.compute_type
  max_vcpus                    = var.max_vcpus
  instance_types               = var.instance_types
  spot_bid_percentage          = var.spot_bid_percentage
  subnet_ids                   = local.subnet_ids
  security_group_ids           = local.security_group_ids
  assign_public_ip             = var.assign_public_ip
  container_image              = var.container_image
  job_command                  = local.job_command
  job_parameters               = local.job_parameters
  job_environment              = var.job_environment
  job_vcpus                    = var.job_vcpus
  job_memory_mib               = var.job_memory_mib
  job_attempts                 = var.job_attempts
  job_retry_status_reasons     = var.job_retry_status_reasons
  job_retry_exit_codes         = var.job_retry_exit_codes
  job_attempt_timeout_seconds  = var.job_attempt_timeout_seconds
  job_state_time_limit_seconds = var.job_state_time_limit_seconds
  items_bucket_name            = local.array_mode ? local.bucket_name : null
  runs_prefix                  = local.runs_prefix
  log_retention_days           = var.log_retention_days
  kms_key_arn                  = var.kms_key_arn
  tags                         = local.tags
}

module "generator" {
  source = "./modules/generator"

  function_name        = local.generator_function_name
  package_path         = local.package_path
  fanout_mode          = var.fanout_mode
  bucket_name          = local.created_bucket_name
  runs_prefix          = local.runs_prefix
  environment          = local.generator_environment
  timeout_seconds      = var.generator_timeout_seconds
  memory_mib           = var.generator_memory_mib
  reserved_concurrency = var.generator_reserved_concurrency
  log_retention_days   = var.log_retention_days
  kms_key_arn          = var.kms_key_arn
  tags                 = local.tags
}

module "state_machine" {
  source = "./modules/state_machine"

  name                         = var.name
  fanout_mode                  = var.fanout_mode
  comparison_design            = var.comparison_design
  generator_function_name      = module.generator.function_name
  job_queue_name               = module.batch.job_queue_name
  job_definition_name          = module.batch.job_definition_name
  bucket_name                  = local.uses_bucket ? local.created_bucket_name : ""
  runs_prefix                  = local.runs_prefix
  max_concurrency              = var.max_concurrency
  items_per_batch              = var.items_per_batch
  tolerated_failure_percentage = var.tolerated_failure_percentage
  tolerated_failure_count      = var.tolerated_failure_count
  execution_timeout_seconds    = var.execution_timeout_seconds
  batch_api_retry              = var.batch_api_retry
  kms_key_arn                  = local.uses_bucket ? var.kms_key_arn : null
  log_retention_days           = var.log_retention_days
  tags                         = local.tags
}

module "alerts" {
  source = "./modules/alerts"

  name               = var.name
  state_machine_name = module.state_machine.state_machine_name
  alert_emails       = var.alert_emails
  kms_key_arn        = var.kms_key_arn
  tags               = local.tags
}

module "dashboard" {
  source = "./modules/dashboard"

  name                         = var.name
  region                       = local.region
  state_machine_arn            = module.state_machine.state_machine_arn
  map_run_label                = module.state_machine.map_run_label
  generator_function_name      = module.generator.function_name
  job_queue_name               = module.batch.job_queue_name
  state_machine_log_group_name = module.state_machine.log_group_name
}
