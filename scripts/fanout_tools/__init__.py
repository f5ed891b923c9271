"""Tooling for the Step Functions -> AWS Batch fan-out stack (one CLI: ``fanout``)."""
