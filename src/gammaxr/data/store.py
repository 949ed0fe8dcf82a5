"""A GADF data store: the observation and HDU index tables, and observations from them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord

from gammaxr.data.observation import Observation
from gammaxr.exceptions import DataFileError, GammaxrError
from gammaxr.io.gadf.index import read_hdu_index, read_obs_index
from gammaxr.sky.separation import angular_separation

__all__ = ["DataStore", "example_data_path", "open_datastore"]

_INDEX_NAMES = {
    "obs": ("obs-index.fits.gz", "obs-index.fits"),
    "hdu": ("hdu-index.fits.gz", "hdu-index.fits"),
}


#: The attribution the H.E.S.S. DL3 DR1 licence (CC BY 4.0) asks for.
HESS_DR1_ATTRIBUTION = (
    "This work made use of data from the H.E.S.S. DL3 public test data release 1 "
    "(HESS DL3 DR1, H.E.S.S. collaboration, 2018)."
)


def example_data_path() -> Path:
    """Folder of the shipped example data: four H.E.S.S. DL3 DR1 Crab runs.

    The H.E.S.S. data are released under CC BY 4.0; see the ``README.txt`` in
    that folder. Attribution: "This work made use of data from the H.E.S.S.
    DL3 public test data release 1 (HESS DL3 DR1, H.E.S.S. collaboration, 2018)."
    """
    return Path(__file__).parents[1] / "datasets" / "hess-dl3-dr1-crab"


def _find_index(folder: Path, kind: str) -> Path:
    for name in _INDEX_NAMES[kind]:
        if (folder / name).is_file():
            return folder / name
    raise DataFileError(f"{folder}: no {kind} index file (looked for {_INDEX_NAMES[kind]})")


@dataclass(frozen=True, eq=False)
class DataStore:
    """Observation and HDU index tables of a GADF data store.

    Select runs with pandas on :attr:`obs_table` and hand the selection back to
    :meth:`select`; get :class:`Observation` objects (lazily loaded) with
    :meth:`observation` / :meth:`observations`.

    Parameters
    ----------
    obs_table : pandas.DataFrame
        Observation index (snake_case columns, one row per ``obs_id``).
    hdu_table : pandas.DataFrame
        HDU index with a resolved ``path`` column.
    """

    obs_table: pd.DataFrame = field(repr=False)
    hdu_table: pd.DataFrame = field(repr=False)

    def __repr__(self) -> str:
        return f"DataStore({len(self.obs_table)} observations)"

    @classmethod
    def from_dir(cls, path: str | Path) -> DataStore:
        """Open the data store in a folder holding ``obs-index`` and ``hdu-index`` tables."""
        folder = Path(path)
        if not folder.is_dir():
            raise DataFileError(f"{folder}: data store folder not found")
        return cls.from_files(_find_index(folder, "obs"), _find_index(folder, "hdu"))

    @classmethod
    def from_files(cls, obs_index: str | Path, hdu_index: str | Path) -> DataStore:
        """Open a data store from its two index files."""
        return cls(read_obs_index(obs_index), read_hdu_index(hdu_index))

    @property
    def attribution(self) -> str | None:
        """The attribution the data's licence asks for, where the store is known to need one.

        The H.E.S.S. DL3 DR1 release (CC BY 4.0), recognised by its file names
        (``hess_dl3_dr1_obs_id_*.fits.gz``), whole or in part; ``None`` otherwise.
        """
        names = self.hdu_table["file_name"].astype(str)
        if names.str.startswith("hess_dl3_dr1_").any():
            return HESS_DR1_ATTRIBUTION
        return None

    @property
    def obs_ids(self) -> list[int]:
        """The observation ids of the (selected) store, in table order."""
        return [int(i) for i in self.obs_table["obs_id"]]

    def select(
        self, selection: pd.DataFrame | pd.Series | np.ndarray | Iterable[int]
    ) -> DataStore:
        """Restrict the store to some observations.

        Parameters
        ----------
        selection : DataFrame, boolean Series or array, or iterable of int
            Rows of :attr:`obs_table` (e.g. ``store.obs_table.query(...)``), a
            boolean mask aligned with it (a Series on its index, or an array of
            its length), or observation ids. The result keeps table order.

        Raises
        ------
        GammaxrError
            If an id is not in the observation index, or a mask does not
            match the table.
        """
        table = self.obs_table
        if isinstance(selection, pd.DataFrame):
            if "obs_id" not in selection:
                raise GammaxrError("select: the DataFrame has no 'obs_id' column")
            ids = selection["obs_id"].to_numpy()
        elif isinstance(selection, pd.Series) and selection.dtype == bool:
            foreign = selection.index.difference(table.index)
            if len(foreign):
                raise GammaxrError(
                    "select: the boolean mask has index labels that are not in obs_table "
                    f"({list(foreign[:5])}); build it from store.obs_table"
                )
            ids = table.loc[selection.reindex(table.index, fill_value=False), "obs_id"].to_numpy()
        else:
            values = np.asarray(
                selection if isinstance(selection, np.ndarray | pd.Series) else list(selection)
            )
            if values.dtype == bool:
                if values.shape != (len(table),):
                    raise GammaxrError(
                        f"select: a boolean mask needs {len(table)} values (one per row of "
                        f"obs_table), got shape {values.shape}"
                    )
                values = table["obs_id"].to_numpy()[values]
            ids = values.astype(np.int64)
        unknown = sorted(set(ids.tolist()) - set(table["obs_id"].tolist()))
        if unknown:
            raise GammaxrError(f"observation ids not in the observation index: {unknown}")
        keep = table["obs_id"].isin(ids)
        return DataStore(table[keep], self.hdu_table[self.hdu_table["obs_id"].isin(ids)])

    def select_cone(self, center: SkyCoord, radius: float | u.Quantity) -> DataStore:
        """Observations whose pointing lies within ``radius`` of ``center``.

        Parameters
        ----------
        center : SkyCoord
            Cone centre, in any frame.
        radius : float or Quantity
            Cone radius (deg when a plain number); the boundary is included.
        """
        radius_deg = u.Quantity(radius, u.deg).to_value(u.deg)
        icrs = center.icrs
        distance = angular_separation(
            icrs.ra.deg,
            icrs.dec.deg,
            self.obs_table["ra_pnt"].to_numpy(),
            self.obs_table["dec_pnt"].to_numpy(),
        )
        return self.select(self.obs_table[distance <= radius_deg])

    def observation(self, obs_id: int) -> Observation:
        """One observation (nothing is read until its products are accessed)."""
        obs_id = int(obs_id)
        positions = self._hdu_rows.get(obs_id)
        if positions is None:
            raise GammaxrError(f"observation {obs_id} is not in the HDU index")
        hdus = self.hdu_table.iloc[positions].reset_index(drop=True)
        rows = self._obs_rows.get(obs_id)
        info = self.obs_table.iloc[rows[0]].to_dict() if rows is not None else {}
        return Observation(obs_id, hdus, info)

    @cached_property
    def _hdu_rows(self) -> dict[int, np.ndarray]:
        """Positions of each observation's rows in the HDU index."""
        return _rows_by_id(self.hdu_table)

    @cached_property
    def _obs_rows(self) -> dict[int, np.ndarray]:
        """Positions of each observation's rows in the observation index."""
        return _rows_by_id(self.obs_table)

    def observations(self, obs_ids: Sequence[int] | None = None) -> list[Observation]:
        """Observations by id (default: every observation of the store)."""
        ids = self.obs_ids if obs_ids is None else list(obs_ids)
        return [self.observation(obs_id) for obs_id in ids]


def _rows_by_id(table: pd.DataFrame) -> dict[int, np.ndarray]:
    """Row positions of a table grouped by its ``obs_id`` column (table order kept)."""
    ids = table["obs_id"].to_numpy().astype(np.int64)
    order = np.argsort(ids, kind="stable")
    unique, starts = np.unique(ids[order], return_index=True)
    groups = np.split(order, starts[1:])
    return {int(obs_id): rows for obs_id, rows in zip(unique, groups, strict=True)}


def open_datastore(path: str | Path | None = None) -> DataStore:
    """Open a GADF data store; with no path, the shipped H.E.S.S. Crab runs.

    Parameters
    ----------
    path : str or Path, optional
        Folder holding ``obs-index.fits[.gz]`` and ``hdu-index.fits[.gz]``.

    Examples
    --------
    >>> import gammaxr as gx
    >>> store = gx.open_datastore()
    >>> store.obs_ids
    [23523, 23526, 23559, 23592]
    """
    return DataStore.from_dir(example_data_path() if path is None else path)
