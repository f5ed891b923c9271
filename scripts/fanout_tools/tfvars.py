"""Reading what the user passes to Terraform: var files (``.tfvars`` HCL or ``.tfvars.json``) and
backend files, checked against the variables the stack declares.

Terraform only *warns* about a value for an undeclared variable, so a typo in a var file would
silently deploy the default. Here it is an error that names the variable and the closest declared
name, before anything is planned.
"""

from __future__ import annotations

import difflib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from fanout_tools.errors import ConfigError
from fanout_tools.paths import terraform_dir


def _unwrap(value: Any) -> Any:
    """python-hcl2 wraps each attribute in a list and expressions in ``${...}``."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return value


def read_var_file(path: Path) -> dict[str, Any]:
    """The top-level values of a ``.tfvars``/``.tfbackend`` (HCL) or ``.json`` file."""
    import hcl2

    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}", "pass an existing file") from None
    try:
        if path.suffix == ".json":
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise ValueError("the top level must be an object")
            return raw
        return {key: _unwrap(value) for key, value in hcl2.loads(text).items()}
    except Exception as err:  # lark and json raise many kinds; the message is what matters
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(
            f"{path} is not a valid Terraform variables file: {first}", "fix its syntax"
        ) from None


@cache
def declared_variables(tf_dir: Path | None = None) -> dict[str, Any]:
    """The root module's variables and their defaults (None when a variable has none)."""
    import hcl2

    declared: dict[str, Any] = {}
    for path in sorted((tf_dir or terraform_dir()).glob("*.tf")):
        for block in hcl2.loads(path.read_text()).get("variable", []):
            for name, body in block.items():
                declared[name] = _unwrap(body.get("default"))
    return declared


def stack_settings(var_files: list[Path], tf_dir: Path | None = None) -> dict[str, Any]:
    """Every declared variable's value as Terraform will see it from defaults, ``TF_VAR_*`` and the
    var files (later files win); raises ConfigError for a name the stack does not declare."""
    declared = declared_variables(tf_dir)
    values = dict(declared)
    for key, raw in os.environ.items():
        if key.startswith("TF_VAR_") and key[7:] in declared:
            values[key[7:]] = raw
    for path in var_files:
        for name, value in read_var_file(path).items():
            if name not in declared:
                close = difflib.get_close_matches(name, list(declared), n=1)
                raise ConfigError(
                    f"{path} sets {name!r}, which the stack does not declare",
                    f"did you mean {close[0]!r}?" if close else "see the README's variable table",
                )
            values[name] = value
    return values
