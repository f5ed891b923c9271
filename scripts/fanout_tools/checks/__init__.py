"""The project's custom checkov checks (loaded with ``--external-checks-dir`` this folder).

checkov executes every ``.py`` file here as a fresh module; each ``ckv_*.py`` file defines one check
instance plus module constants ``ID`` and ``NAME``. ``_plan.py`` is the shared plan reader (no checks).
This ``__init__.py`` must exist: checkov silently skips a folder without one.
"""

from __future__ import annotations

import re
from pathlib import Path

CHECKS_DIR = Path(__file__).parent
_CONST = re.compile(r'^(ID|NAME) = "(.+)"$', re.MULTILINE)


def registry_ids() -> dict[str, str]:
    """id -> name of every check in this folder, read from the modules' constants (no import)."""
    found: dict[str, str] = {}
    for path in sorted(CHECKS_DIR.glob("ckv_*.py")):
        consts = dict(_CONST.findall(path.read_text()))
        found[consts["ID"]] = consts["NAME"]
    return found
