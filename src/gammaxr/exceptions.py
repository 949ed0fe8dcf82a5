"""The gammaxr exception family.

Every error raised on bad input derives from :class:`GammaxrError` and from the
matching builtin, so ``except ValueError`` keeps working for callers who do not
know gammaxr.
"""

from __future__ import annotations

__all__ = [
    "ColumnError",
    "ConfigError",
    "DataFileError",
    "DimensionError",
    "FitError",
    "FormatError",
    "GammaxrError",
    "GammaxrWarning",
    "GeometryError",
    "HDUClassError",
    "IRFShapeError",
    "MissingHDUError",
    "UnitError",
]


class GammaxrError(Exception):
    """Base class of every gammaxr error."""


class DataFileError(GammaxrError, FileNotFoundError):
    """A data file named by an index table or a user is missing or unreadable."""


class FormatError(GammaxrError, ValueError):
    """A file does not follow the format it claims (GADF, OGIP, ...)."""


class MissingHDUError(FormatError, LookupError):
    """An HDU named by an index table or a user is not in the file."""


class HDUClassError(FormatError):
    """An HDU class (``HDUCLAS*`` / ``HDU_CLASS``) that gammaxr does not know."""


class ColumnError(FormatError, LookupError):
    """A required table column is missing."""


class IRFShapeError(FormatError):
    """IRF data whose shape does not match its axes."""


class UnitError(GammaxrError, ValueError):
    """A unit string that cannot be parsed or converted to the expected unit."""


class DimensionError(GammaxrError, ValueError):
    """An xarray object lacks the dims or coordinates an operation needs."""


class GeometryError(GammaxrError, ValueError):
    """An invalid axis or sky-grid specification."""


class ConfigError(GammaxrError, ValueError):
    """An invalid analysis configuration."""


class FitError(GammaxrError, RuntimeError):
    """A fit that cannot be set up (a failed convergence is reported, not raised)."""


class GammaxrWarning(UserWarning):
    """A result that is valid but not what was asked (e.g. a fit skipped for lack of data)."""
