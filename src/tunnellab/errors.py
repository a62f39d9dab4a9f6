"""Errors a user can fix; the command line prints them as one paragraph, without a traceback."""


class TunnellabError(Exception):
    """Base class of the errors that are the user's to fix (config, data, paths)."""


class ConfigError(TunnellabError, ValueError):
    """A config value that is not allowed (names the key, the value and what is allowed)."""


class DatasetNotFoundError(TunnellabError, FileNotFoundError):
    """A dataset that is not where it was looked for (says where and how to get it)."""


class DataError(TunnellabError):
    """Data that is there but cannot be used (nothing decodable left, too few images per class)."""


class DiskError(TunnellabError, OSError):
    """A file or folder that cannot be written (no space, read-only, not a folder); names the path.

    It is also an :class:`OSError`, so code that tolerates a failed optional write still does.
    """

    def __str__(self) -> str:  # the paragraph, not OSError's "[Errno 28] ...: 'path'"
        return str(self.args[0]) if self.args else ""
