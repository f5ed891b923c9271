"""What the same run would cost in AWS: an estimate from ``prices.json`` and what the run did.

Lines (each low..high; equal where the price is fixed):

* Step Functions Standard: billed per state transition (https://aws.amazon.com/step-functions/pricing/);
* Lambda: requests and GB-seconds of the generator (https://aws.amazon.com/lambda/pricing/);
* Batch compute: Fargate per vCPU-hour and GB-hour from the job definition, per second with a
  one-minute minimum per task (https://aws.amazon.com/fargate/pricing/); Fargate Spot, EC2 and EC2
  Spot as a range;
* S3 requests (https://aws.amazon.com/s3/pricing/).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fanout_tools.report.collect import RunData

PRICES = Path(__file__).with_name("prices.json")


@cache
def load_prices(path: Path = PRICES) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def region_prices(region: str, prices: dict[str, Any] | None = None) -> dict[str, Any]:
    prices = prices or load_prices()
    merged = dict(prices["default"])
    merged.update(prices.get("regions", {}).get(region, {}))
    return merged


def _range(value: Any) -> tuple[float, float]:
    if isinstance(value, (list, tuple)):
        return float(value[0]), float(value[1])
    return float(value), float(value)


@dataclass
class Line:
    service: str
    quantity: str
    low: float
    high: float
    source: str


@dataclass
class Estimate:
    lines: list[Line]
    region: str
    region_listed: bool
    as_of: str
    basis: list[str]

    @property
    def low(self) -> float:
        return sum(line.low for line in self.lines)

    @property
    def high(self) -> float:
        return sum(line.high for line in self.lines)


def job_seconds(data: RunData, minimum: float = 0.0) -> tuple[float, bool]:
    """Summed run time of every item (started -> stopped), and whether it was scaled from a sample.

    Listed rows give exact times; items without a listed row (array batches not listed in a large
    run) get the mean of the listed ones.
    """
    rows = [r for r in data.item_rows() if r.started is not None and r.stopped is not None]
    seconds = [max(minimum, r.stopped - r.started) for r in rows]  # type: ignore[operator]
    total = sum(seconds)
    items = data.items
    if rows and len(rows) < items:
        return total * items / len(rows), True
    return total, False


def estimate(data: RunData, prices: dict[str, Any] | None = None) -> Estimate:
    prices = prices or load_prices()
    p = region_prices(data.region, prices)
    sources = prices["sources"]
    lines: list[Line] = []

    transitions = data.transitions
    cost = transitions * p["sfn_standard_per_transition"]
    lines.append(
        Line(
            "Step Functions (Standard)",
            f"{transitions:,} state transitions" + (" (estimated)" if data.transitions_estimated else ""),
            cost,
            cost,
            sources["step_functions"],
        )
    )

    gb_seconds = data.lambda_seconds * data.lambda_memory_mib / 1024
    cost = gb_seconds * p["lambda_per_gb_second"] + data.lambda_invocations * p["lambda_per_request"]
    lines.append(
        Line(
            "Lambda (generator)",
            f"{data.lambda_invocations} requests, {gb_seconds:,.2f} GB-s ({data.lambda_memory_mib} MB)",
            cost,
            cost,
            sources["lambda"],
        )
    )

    compute = data.compute_type.upper()
    fargate = compute.startswith("FARGATE")
    seconds, scaled = job_seconds(data, float(p["fargate_minimum_seconds"]) if fargate else 0.0)
    vcpu_hours = seconds / 3600 * data.job_vcpus
    gb_hours = seconds / 3600 * data.job_memory_mib / 1024
    what = f"{vcpu_hours:,.3f} vCPU-h, {gb_hours:,.3f} GB-h" + (" (scaled from a sample)" if scaled else "")
    if compute == "FARGATE":
        cost = vcpu_hours * p["fargate_per_vcpu_hour"] + gb_hours * p["fargate_per_gb_hour"]
        lines.append(Line("Batch on Fargate", what, cost, cost, sources["fargate"]))
    elif compute == "FARGATE_SPOT":
        vcpu, gb = _range(p["fargate_spot_per_vcpu_hour"]), _range(p["fargate_spot_per_gb_hour"])
        lines.append(
            Line(
                "Batch on Fargate Spot",
                what,
                vcpu_hours * vcpu[0] + gb_hours * gb[0],
                vcpu_hours * vcpu[1] + gb_hours * gb[1],
                sources["fargate"],
            )
        )
    else:
        key, source = (
            ("ec2_spot_per_vcpu_hour", "ec2_spot") if compute == "SPOT" else ("ec2_per_vcpu_hour", "ec2")
        )
        low, high = _range(p[key])
        lines.append(
            Line(
                f"Batch on {'EC2 Spot' if compute == 'SPOT' else 'EC2'}",
                f"{vcpu_hours:,.3f} vCPU-h" + (" (scaled from a sample)" if scaled else ""),
                vcpu_hours * low,
                vcpu_hours * high,
                sources[source],
            )
        )

    cost = data.s3_puts * p["s3_per_put"] + data.s3_gets * p["s3_per_get"]
    lines.append(
        Line("S3 requests", f"{data.s3_puts:,} PUT, {data.s3_gets:,} GET", cost, cost, sources["s3"])
    )

    listed = data.region in prices.get("regions", {})
    basis = [
        f"list prices for {data.region if listed else 'the default Region set (us-east-1)'} "
        f"as of {prices['as_of']} ({PRICES.name})",
        f"job definition: {data.job_vcpus:g} vCPU, {data.job_memory_mib} MiB; compute: {data.compute_type}",
        *prices.get("notes", {}).values(),
    ]
    return Estimate(lines, data.region, listed, str(prices["as_of"]), basis)
