"""One observation (run): events, GTI, pointing and IRFs, loaded lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
import xarray as xr

from gammaxr.exceptions import MissingHDUError
from gammaxr.io.gadf.events import read_events, read_gti, read_header, read_pointing
from gammaxr.io.gadf.irf import read_irf
from gammaxr.io.gadf.legacy import fix_legacy_hess_bkg, is_legacy_hess
from gammaxr.sky.pointing import Pointing

__all__ = ["IRF_TYPES", "Observation"]

# hdu_type values of the GADF HDU index that hold IRFs, and the attribute they load into.
IRF_TYPES = ("aeff", "edisp", "psf", "bkg", "rad_max")


@dataclass(frozen=True, eq=False)
class Observation:
    """An observation: where its HDUs are, and lazy access to their contents.

    Nothing is read on construction; each product is read on first access
    and kept. Build observations with :class:`gammaxr.DataStore`.

    Parameters
    ----------
    obs_id : int
        Observation id.
    hdus : pandas.DataFrame
        This observation's rows of the HDU index (``hdu_type``, ``hdu_class``,
        ``path``, ``hdu_name``).
    info : dict
        This observation's row of the observation index (may be empty).
    """

    obs_id: int
    hdus: pd.DataFrame = field(repr=False)
    info: dict = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"Observation(obs_id={self.obs_id}, hdus={self.available})"

    @property
    def available(self) -> list[str]:
        """The HDU types this observation has (``events``, ``gti``, ``aeff``, ...)."""
        return list(self.hdus["hdu_type"])

    def _row(self, hdu_type: str) -> pd.Series:
        rows = self.hdus[self.hdus["hdu_type"] == hdu_type]
        if rows.empty:
            raise MissingHDUError(
                f"observation {self.obs_id}: no {hdu_type!r} HDU in the HDU index "
                f"(it has {self.available})"
            )
        return rows.iloc[0]

    def location(self, hdu_type: str) -> tuple[Path, str, str]:
        """File path, HDU name and HDU class of one of this observation's HDUs."""
        row = self._row(hdu_type)
        return Path(row["path"]), str(row["hdu_name"]), str(row["hdu_class"])

    @cached_property
    def events(self) -> pd.DataFrame:
        """The event list (see :func:`gammaxr.io.read_events`), with the GTI in attrs."""
        path, hdu, _ = self.location("events")
        gti_hdu = None
        if "gti" in self.available:
            gti_path, gti_name, _ = self.location("gti")
            gti_hdu = gti_name if gti_path == path else None
        events = read_events(path, hdu, gti_hdu=gti_hdu)
        if gti_hdu is None and "gti" in self.available:
            gti = self.gti
            events.attrs["gti"] = [tuple(r) for r in gti[["start", "stop"]].to_numpy().tolist()]
            events.attrs["gti_source"] = "GTI HDU"
        return events

    @cached_property
    def gti(self) -> pd.DataFrame:
        """Good time intervals: ``start``, ``stop`` in s since the time reference."""
        path, hdu, _ = self.location("gti")
        return read_gti(path, hdu)

    @cached_property
    def pointing(self) -> Pointing:
        """Pointing: RADEC always; ALTAZ where the file or the index gives it."""
        path, hdu, _ = self.location("events")
        pointing = read_pointing(path, hdu)
        if not pointing.has_altaz and "alt_pnt" in self.info and "az_pnt" in self.info:
            pointing = Pointing(
                pointing.ra,
                pointing.dec,
                float(self.info["alt_pnt"]),
                float(self.info["az_pnt"]),
                pointing.mode,
            )
        return pointing

    def irf(self, hdu_type: str) -> xr.DataArray | xr.Dataset:
        """Read one IRF by its HDU type (``aeff``, ``edisp``, ``psf``, ``bkg``, ``rad_max``)."""
        if hdu_type not in IRF_TYPES:
            raise MissingHDUError(f"unknown IRF type {hdu_type!r}; expected one of {IRF_TYPES}")
        path, hdu, hdu_class = self.location(hdu_type)
        irf = read_irf(path, hdu, hdu_class=hdu_class)
        if irf.attrs["hdu_class"] == "bkg_3d" and is_legacy_hess(self._events_header):
            irf = fix_legacy_hess_bkg(irf)
        irf.attrs["obs_id"] = int(self.obs_id)
        return irf

    @cached_property
    def _events_header(self) -> dict:
        path, hdu, _ = self.location("events")
        return read_header(path, hdu)

    @cached_property
    def aeff(self) -> xr.DataArray:
        """Effective area ``(energy_true, offset)``, m2."""
        return self.irf("aeff")

    @cached_property
    def edisp(self) -> xr.DataArray:
        """Energy dispersion ``(energy_true, migra, offset)``, dP/dmigra."""
        return self.irf("edisp")

    @cached_property
    def psf(self) -> xr.DataArray | xr.Dataset:
        """PSF: a table ``(energy_true, offset, rad)`` in sr-1, or parameters (3GAUSS, KING)."""
        return self.irf("psf")

    @cached_property
    def bkg(self) -> xr.DataArray:
        """Background rate ``(energy, fov_lat, fov_lon)`` or ``(energy, offset)``.

        In MeV-1 s-1 sr-1.
        """
        return self.irf("bkg")

    @cached_property
    def rad_max(self) -> xr.DataArray:
        """Directional cut of point-like IRFs ``(energy, offset)``, deg."""
        return self.irf("rad_max")

    @property
    def irfs(self) -> dict[str, xr.DataArray | xr.Dataset]:
        """Every IRF the observation has, by HDU type (reads those not yet read)."""
        return {name: getattr(self, name) for name in IRF_TYPES if name in self.available}

    @property
    def livetime(self) -> float:
        """Live time, s (from the events header)."""
        return float(self.events.attrs["livetime"])

    @property
    def ontime(self) -> float:
        """On time (live time plus dead time), s."""
        return float(self.events.attrs["ontime"])

    @property
    def deadc(self) -> float:
        """Dead-time correction factor: live time / on time."""
        return float(self.events.attrs["deadc"])
