"""Errors a user can act on.

Every failure the CLI reports is a :class:`FanoutError`: a one-line message that names the
problem, plus a hint that says what to do. The CLI prints both and exits non-zero; it never
shows a traceback for these.
"""

from __future__ import annotations


class FanoutError(Exception):
    """A problem the user can fix. ``hint`` says how."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ToolMissingError(FanoutError):
    """A required program (terraform, python, ...) is not installed or not usable."""


class ConfigError(FanoutError):
    """A setting, flag, tfvars value or input file is invalid."""


class TerraformError(FanoutError):
    """Terraform itself failed; the message carries its error text."""


class SandboxError(FanoutError):
    """The local sandbox account is not in the state the command needs."""
