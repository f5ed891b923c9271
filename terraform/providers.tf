provider "aws" {
  region = var.region

  # Nothing here knows about the local sandbox account: it is reached like any AWS endpoint, through
  # the standard AWS_ENDPOINT_URL and credential variables the tooling sets for TARGET=sandbox.
  # https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html
}
