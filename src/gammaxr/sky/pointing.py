"""The telescope pointing of an observation."""

from __future__ import annotations

import math
from dataclasses import dataclass

from astropy.coordinates import SkyCoord

__all__ = ["Pointing"]


@dataclass(frozen=True)
class Pointing:
    """Pointing of an observation: the nominal RADEC position and, if known, mean ALTAZ.

    Attributes
    ----------
    ra, dec : float
        Nominal pointing position (ICRS), deg.
    alt, az : float
        Mean altitude and azimuth over the observation, deg (NaN if the file
        does not give them).
    mode : str
        Observation mode as given by the file (e.g. ``"WOBBLE"``, ``"POINTING"``).
    """

    ra: float
    dec: float
    alt: float = math.nan
    az: float = math.nan
    mode: str = ""

    @property
    def radec(self) -> SkyCoord:
        """The pointing position as an ICRS SkyCoord."""
        return SkyCoord(self.ra, self.dec, unit="deg", frame="icrs")

    @property
    def has_altaz(self) -> bool:
        """Whether the mean ALTAZ pointing is known."""
        return not (math.isnan(self.alt) or math.isnan(self.az))

    @property
    def zenith(self) -> float:
        """Mean zenith angle, deg (NaN if unknown)."""
        return 90.0 - self.alt
