"""Errors a user can fix; the command line prints them as one paragraph, without a traceback."""


class TunnellabError(Exception):
    """Base class of the errors that are the user's to fix (config, data, paths)."""


class ConfigError(TunnellabError, ValueError):
    """A config value that is not allowed (names the key, the value and what is allowed)."""


class DatasetNotFoundError(TunnellabError, FileNotFoundError):
    """A dataset that is not where it was looked for (says where and how to get it)."""
