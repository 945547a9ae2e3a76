"""Exception types shared by every part of sciml.

Errors that come from what the user gave (a file, an option, a configuration) derive from
:class:`SciMLError`; the command line turns them into one sentence on stderr and exit status 2.
"""


class SciMLError(Exception):
    """Bad input: a file, option or configuration that sciml cannot use as given."""


class DataError(SciMLError):
    """A dataset file is missing, corrupt, incomplete, non-finite or of the wrong shape."""


class ConfigError(SciMLError):
    """An unknown or invalid configuration key, value or option name."""
