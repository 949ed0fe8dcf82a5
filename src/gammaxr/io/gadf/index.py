"""GADF index tables: ``obs-index`` (one row per run) and ``hdu-index`` (one row per HDU)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gammaxr.io._fits import read_table, table_to_frame

__all__ = ["read_hdu_index", "read_obs_index"]

HDU_INDEX_COLUMNS = ("obs_id", "hdu_type", "hdu_class", "file_dir", "file_name", "hdu_name")


def _first_table(path: Path, extname: str):
    try:
        table = read_table(path, extname)
    except LookupError:
        table = read_table(path, 1)  # the first extension, whatever its name
    frame = table_to_frame(table, where=f"{path}, HDU {table.name!r}")
    header = table.header
    for key in ("MJDREFI", "MJDREFF", "TIMESYS", "TIMEUNIT"):
        if key in header:
            frame.attrs[key.lower()] = header[key]
    return frame


def read_obs_index(path: str | Path) -> pd.DataFrame:
    """Read a GADF observation index table.

    Parameters
    ----------
    path : str or Path
        ``obs-index.fits[.gz]``.

    Returns
    -------
    pandas.DataFrame
        One row per observation, snake_case columns (``obs_id``, ``ra_pnt``,
        ``dec_pnt``, ``livetime``, ``event_count``, ...), indexed by ``obs_id``
        (kept as a column too). ``attrs["units"]`` gives column units.
    """
    path = Path(path)
    frame = _first_table(path, "OBS_INDEX")
    if "obs_id" not in frame:
        from gammaxr.exceptions import ColumnError

        raise ColumnError(f"{path}: obs index lacks the column 'OBS_ID'")
    frame = frame.set_index(pd.Index(frame["obs_id"].to_numpy(), name=None))
    return frame


def read_hdu_index(path: str | Path) -> pd.DataFrame:
    """Read a GADF HDU index table.

    Parameters
    ----------
    path : str or Path
        ``hdu-index.fits[.gz]``.

    Returns
    -------
    pandas.DataFrame
        Columns ``obs_id``, ``hdu_type``, ``hdu_class`` (lower case),
        ``file_dir``, ``file_name``, ``hdu_name`` and ``path`` (the resolved
        file path, relative ``file_dir`` taken from the index file's folder).
    """
    from gammaxr.exceptions import ColumnError

    path = Path(path)
    frame = _first_table(path, "HDU_INDEX")
    missing = [c for c in HDU_INDEX_COLUMNS if c not in frame]
    if missing:
        raise ColumnError(f"{path}: hdu index lacks columns {[c.upper() for c in missing]}")
    for key in ("hdu_type", "hdu_class"):
        frame[key] = frame[key].str.lower()
    base = path.parent
    frame["path"] = [
        str((base / directory / name).resolve()) if directory else str((base / name).resolve())
        for directory, name in zip(frame["file_dir"], frame["file_name"], strict=True)
    ]
    return frame
