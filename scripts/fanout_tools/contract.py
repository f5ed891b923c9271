"""Modes, defaults and ranges, read from ``terraform/contract.json`` (the single source Terraform reads too).

The only place the Python tooling learns which fan-out modes exist, which are array modes (each batch is
one Batch array job) and which are distributed (a Distributed Map), and the default and range of every
setting Terraform and the tooling share. Bounds that are AWS limits are named in the contract
(``max_aws_limit``) and resolved from :func:`fanout_tools.limits.aws_limits`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from fanout_tools.limits import aws_limits
from fanout_tools.paths import terraform_dir


@dataclass(frozen=True)
class Mode:
    name: str
    array: bool  # each batch of items is one Batch array job reading its items from S3
    distributed: bool  # the fan-out is a Distributed Map reading a manifest from S3

    @property
    def uses_bucket(self) -> bool:
        """Items (batches or a manifest) travel through S3 rather than the execution's payload."""
        return self.array or self.distributed


@dataclass(frozen=True)
class Setting:
    """Default and inclusive range of one setting; ``maximum`` already resolved from the AWS limits."""

    name: str
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    values: tuple[Any, ...] | None = None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None

    def bounds(self) -> tuple[float, float]:
        """(low, high) with a missing bound as -inf / +inf."""
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum
        return low, high


@dataclass(frozen=True)
class Contract:
    modes: tuple[Mode, ...]
    compute_types: tuple[str, ...]
    fargate_compute_types: tuple[str, ...]
    settings: dict[str, Setting]  # batch_api_retry fields flattened as batch_api_retry_<field>

    @property
    def mode_names(self) -> tuple[str, ...]:
        """Every fan-out mode, cheapest first."""
        return tuple(m.name for m in self.modes)

    @property
    def array_modes(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modes if m.array)

    @property
    def distributed_modes(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modes if m.distributed)

    def mode(self, name: str) -> Mode:
        for mode in self.modes:
            if mode.name == name:
                return mode
        raise KeyError(f"unknown fan-out mode {name!r}; use one of {', '.join(self.mode_names)}")

    def is_array(self, mode: str) -> bool:
        return self.mode(mode).array

    def is_distributed(self, mode: str) -> bool:
        return self.mode(mode).distributed

    def default(self, name: str) -> Any:
        return self.settings[name].default


def _setting(name: str, raw: dict[str, Any], limits: dict[str, Any]) -> Setting:
    maximum = raw.get("max")
    if "max_aws_limit" in raw:
        maximum = limits[raw["max_aws_limit"]]
    values = raw.get("values")
    return Setting(
        name=name,
        default=raw.get("default"),
        minimum=raw.get("min"),
        maximum=maximum,
        integer=bool(raw.get("integer", False)),
        values=None if values is None else tuple(values),
        pattern=raw.get("pattern"),
        min_length=raw.get("min_length"),
        max_length=raw.get("max_length"),
    )


def load(raw: dict[str, Any], limits: dict[str, Any]) -> Contract:
    """A :class:`Contract` from the decoded ``contract.json`` and ``aws_limits.json``."""
    settings: dict[str, Setting] = {}
    for name, spec in raw["settings"].items():
        if "default" in spec:
            settings[name] = _setting(name, spec, limits)
        else:  # an object setting (batch_api_retry): one entry per field
            for field_name, field_spec in spec.items():
                flat = f"{name}_{field_name}"
                settings[flat] = _setting(flat, field_spec, limits)
    return Contract(
        modes=tuple(Mode(m["name"], bool(m["array"]), bool(m["distributed"])) for m in raw["modes"]),
        compute_types=tuple(t["name"] for t in raw["compute_types"]),
        fargate_compute_types=tuple(t["name"] for t in raw["compute_types"] if t["fargate"]),
        settings=settings,
    )


def contract_json() -> dict[str, Any]:
    """The decoded ``terraform/contract.json``, as Terraform's ``jsondecode`` sees it."""
    return json.loads((terraform_dir() / "contract.json").read_text())


@cache
def contract() -> Contract:
    return load(contract_json(), asdict(aws_limits()))
