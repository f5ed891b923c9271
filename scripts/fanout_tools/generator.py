"""The generator Lambda's own modules, imported by the tooling so its rules live in one place.

``fanout run`` checks an execution input with the generator's ``parse_input`` (and the deployed
function's environment) before it starts anything; ``fanout bench`` reads per-mode capacity from
``capacity``. Both are the files the Lambda zip carries (``lambda/generator/``).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from fanout_tools.paths import lambda_dir


def load(name: str) -> ModuleType:
    """Import ``lambda/generator/<name>.py`` (``handler`` or ``capacity``)."""
    source = str(lambda_dir() / "generator")
    if source not in sys.path:
        # The handler imports its sibling as a top-level module, exactly as in the Lambda runtime.
        sys.path.insert(0, source)
    return importlib.import_module(name)
