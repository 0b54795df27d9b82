"""Exceptions a user can cause. The CLI prints these without a traceback and exits non-zero."""


class SeqCVAEError(Exception):
    """Base class: a problem with the user's input, files or settings (not a bug)."""


class ConfigError(SeqCVAEError):
    """A configuration key, value or type is wrong."""


class DataError(SeqCVAEError):
    """A data file is missing, unreadable or has the wrong shape."""


class ConditionError(SeqCVAEError):
    """An unknown condition name, tag or an unusable condition value."""


class CheckpointError(SeqCVAEError):
    """A checkpoint is missing, incomplete, corrupted or from another format version."""


class SeqCVAEWarning(UserWarning):
    """Something the user should know about a result (e.g. how a metric was computed)."""
