"""The package's own exceptions: everything a user can cause is one of these."""

__all__ = ["PolicyThemesError", "ConfigError", "DataError", "RuleError", "ModelError"]


class PolicyThemesError(Exception):
    """Base class of every error a user can cause; the CLI prints it as one line."""


class ConfigError(PolicyThemesError):
    """A taxonomy or training config is missing, malformed or invalid."""


class DataError(PolicyThemesError):
    """An input or output file is missing, unreadable, malformed or has bad labels."""


class RuleError(ConfigError):
    """A labeling rule cannot be compiled or applied."""


class ModelError(PolicyThemesError):
    """A model directory is missing, damaged, untrusted or incompatible."""
