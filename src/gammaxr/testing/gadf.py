"""Synthetic GADF DL3 files with known content, for tests.

Every factory writes real FITS files with :mod:`astropy.io.fits` (never with
gammaxr's own writers) and returns the raw values it wrote, in the file's units
and layout, so that a test can compare what a reader returns with what is on
disk. The defaults follow the GADF specification; the keyword arguments write
the variants seen in real files: axes in another column order, energies in GeV
or MeV, areas in cm2, node axes (``THETA_LO == THETA_HI``, as H.E.S.S.),
``ETRUE`` axes (CTA 1DC energy dispersion), a ``BGD`` background column, cells
without ``TDIM``, point-like IRFs.

Layout reminder: the i-th ``X_LO``/``X_HI`` column pair is FITS axis i of the
data cells (``TDIM``), so the data cell read by numpy has the axes in the
reverse order: ``data.shape == tuple(size[p] for p in reversed(axis_order))``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits

__all__ = [
    "AXIS_PREFIXES",
    "IRF_LAYOUTS",
    "IRFLayout",
    "SyntheticDataStore",
    "SyntheticEvents",
    "SyntheticIRF",
    "write_datastore",
    "write_event_file",
    "write_irf_file",
]

GADF_DOC = "https://github.com/open-gamma-ray-astro/gamma-astro-data-formats"

# Axis column prefix -> (canonical unit, default size, spacing, (start, stop)).
# Sizes differ from one another so that a transposition cannot go unnoticed.
AXIS_PREFIXES: dict[str, tuple[str, int, str, tuple[float, float]]] = {
    "ENERG": ("TeV", 7, "log", (0.1, 100.0)),
    "ETRUE": ("TeV", 7, "log", (0.1, 100.0)),
    "THETA": ("deg", 4, "lin", (0.0, 2.5)),
    "MIGRA": ("", 6, "lin", (0.2, 3.0)),
    "RAD": ("deg", 9, "lin", (0.0, 0.6)),
    "DETX": ("deg", 8, "lin", (-2.0, 2.0)),
    "DETY": ("deg", 5, "lin", (-2.5, 2.5)),
}


@dataclass(frozen=True)
class IRFLayout:
    """The GADF layout of one IRF class, as written by default.

    Attributes
    ----------
    axis_order : tuple of str
        Axis column prefixes in FITS axis order (GADF's recommended order).
    columns : dict
        Data column -> canonical unit (GADF spelling).
    hduclas2, hduclas4 : str
        ``HDUCLAS2`` / ``HDUCLAS4`` keywords.
    extname : str
        Default ``EXTNAME``.
    irf_type : str
        Default ``HDUCLAS3``.
    magnitude : float
        Typical size of the data values, in the canonical unit.
    """

    axis_order: tuple[str, ...]
    columns: dict[str, str]
    hduclas2: str
    hduclas4: str
    extname: str
    irf_type: str = "FULL-ENCLOSURE"
    magnitude: float = 1.0


_BKG_UNIT = "s^-1 MeV^-1 sr^-1"

IRF_LAYOUTS: dict[str, IRFLayout] = {
    "aeff_2d": IRFLayout(
        ("ENERG", "THETA"), {"EFFAREA": "m2"}, "EFF_AREA", "AEFF_2D", "AEFF", magnitude=1e5
    ),
    "edisp_2d": IRFLayout(
        ("ENERG", "MIGRA", "THETA"), {"MATRIX": ""}, "EDISP", "EDISP_2D", "EDISP"
    ),
    "psf_table": IRFLayout(
        ("ENERG", "THETA", "RAD"), {"RPSF": "sr^-1"}, "RPSF", "PSF_TABLE", "PSF", magnitude=1e3
    ),
    "psf_3gauss": IRFLayout(
        ("ENERG", "THETA"),
        {
            "SCALE": "sr^-1",
            "SIGMA_1": "deg",
            "AMPL_2": "",
            "SIGMA_2": "deg",
            "AMPL_3": "",
            "SIGMA_3": "deg",
        },
        "PSF",
        "PSF_3GAUSS",
        "PSF",
    ),
    "psf_king": IRFLayout(
        ("ENERG", "THETA"), {"GAMMA": "", "SIGMA": "deg"}, "PSF", "PSF_KING", "PSF"
    ),
    "bkg_2d": IRFLayout(
        ("ENERG", "THETA"), {"BKG": _BKG_UNIT}, "BKG", "BKG_2D", "BKG", magnitude=1e-3
    ),
    "bkg_3d": IRFLayout(
        ("ENERG", "DETX", "DETY"), {"BKG": _BKG_UNIT}, "BKG", "BKG_3D", "BKG", magnitude=1e-3
    ),
    "rad_max_2d": IRFLayout(
        ("ENERG", "THETA"),
        {"RAD_MAX": "deg"},
        "RAD_MAX",
        "RAD_MAX_2D",
        "RAD_MAX",
        irf_type="POINT-LIKE",
        magnitude=0.1,
    ),
}

# HDU_TYPE of the GADF HDU index for each HDU_CLASS.
_HDU_TYPES = {
    "events": "events",
    "gti": "gti",
    "aeff_2d": "aeff",
    "edisp_2d": "edisp",
    "psf_table": "psf",
    "psf_3gauss": "psf",
    "psf_king": "psf",
    "bkg_2d": "bkg",
    "bkg_3d": "bkg",
    "rad_max_2d": "rad_max",
}


@dataclass(frozen=True)
class SyntheticIRF:
    """What :func:`write_irf_file` wrote.

    Attributes
    ----------
    path : Path
        The file.
    hdu_name : str
        ``EXTNAME`` of the IRF HDU.
    hdu_class : str
        The IRF class (``aeff_2d``, ...).
    axis_order : tuple of str
        Axis column prefixes in FITS axis order (the first is the last numpy axis).
    edges : dict
        Prefix -> ``(lo, hi)`` arrays as written (file units; equal for node axes).
    data : dict
        Data column -> cell as written, in numpy order (file units).
    units : dict
        Axis prefix or data column -> unit string as written (``""`` for none).
    header : dict
        Keywords written to the IRF HDU (besides the table structure).
    """

    path: Path
    hdu_name: str
    hdu_class: str
    axis_order: tuple[str, ...]
    edges: dict[str, tuple[np.ndarray, np.ndarray]]
    data: dict[str, np.ndarray]
    units: dict[str, str]
    header: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the data cells in numpy order."""
        return tuple(self.edges[prefix][0].size for prefix in reversed(self.axis_order))


@dataclass(frozen=True)
class SyntheticEvents:
    """What :func:`write_event_file` wrote.

    Attributes
    ----------
    path : Path
        The file.
    columns : dict
        EVENTS column -> values as written (file units; vector columns 2-D).
    units : dict
        EVENTS column -> unit string as written.
    header : dict
        Keywords written to the EVENTS HDU.
    gti : numpy.ndarray or None
        ``(n, 2)`` START/STOP rows of the GTI HDU as written (s), None if no GTI HDU.
    """

    path: Path
    columns: dict[str, np.ndarray]
    units: dict[str, str]
    header: dict
    gti: np.ndarray | None

    @property
    def n_events(self) -> int:
        """Number of events written."""
        return int(self.columns["EVENT_ID"].size)


@dataclass(frozen=True)
class SyntheticDataStore:
    """What :func:`write_datastore` wrote.

    Attributes
    ----------
    folder : Path
        The data store folder.
    obs_index, hdu_index : Path
        The two index files.
    obs_rows : list of dict
        Rows of the observation index as written (GADF column names).
    hdu_rows : list of dict
        Rows of the HDU index as written (GADF column names).
    events : dict
        ``obs_id`` -> :class:`SyntheticEvents`.
    irfs : dict
        ``obs_id`` -> ``{hdu_class: SyntheticIRF}``.
    """

    folder: Path
    obs_index: Path
    hdu_index: Path
    obs_rows: list[dict]
    hdu_rows: list[dict]
    events: dict[int, SyntheticEvents]
    irfs: dict[int, dict[str, SyntheticIRF]]


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _conversion(canonical: str, unit: str) -> float:
    """Factor from ``canonical`` to ``unit``; 1 if ``unit`` is no unit or not convertible.

    Unparseable or incompatible units are written as given, with unconverted
    values, so that error cases can be written with the same factories.
    """
    try:
        source = u.Unit(canonical or "", parse_strict="raise")
        target = u.Unit(unit or "", parse_strict="raise")
        return float(source.to(target))
    except (ValueError, u.UnitsError):
        return 1.0


def _axis_values(prefix: str, size: int, *, node: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` of an axis in its canonical unit: ``size`` bins, or ``size`` nodes."""
    if prefix not in AXIS_PREFIXES:
        raise ValueError(f"unknown axis prefix {prefix!r}; known: {sorted(AXIS_PREFIXES)}")
    _, _, spacing, (start, stop) = AXIS_PREFIXES[prefix]
    space = np.geomspace if spacing == "log" else np.linspace
    if node:
        nodes = space(start, stop, size)
        return nodes, nodes.copy()
    edges = space(start, stop, size + 1)
    return edges[:-1], edges[1:]


def _header_update(header: fits.Header, values: Mapping[str, object] | None) -> None:
    """Set keywords; a value of None removes the keyword."""
    for key, value in (values or {}).items():
        if value is None:
            header.pop(key, None)
        else:
            header[key] = value


def _irf_hdu(
    hdu_class: str,
    *,
    axis_order: Sequence[str] | None = None,
    sizes: Mapping[str, int] | None = None,
    units: Mapping[str, str] | None = None,
    nodes: Iterable[str] = (),
    data_column: str | None = None,
    irf_type: str | None = None,
    fovalign: str | None = "RADEC",
    hdu_name: str | None = None,
    header: Mapping[str, object] | None = None,
    tdim: bool = True,
    rng: np.random.Generator | int | None = None,
) -> tuple[fits.BinTableHDU, dict]:
    if hdu_class not in IRF_LAYOUTS:
        raise ValueError(f"unknown IRF class {hdu_class!r}; known: {sorted(IRF_LAYOUTS)}")
    layout = IRF_LAYOUTS[hdu_class]
    generator = _rng(rng)
    order = tuple(axis_order) if axis_order is not None else layout.axis_order
    sizes = dict(sizes or {})
    units = dict(units or {})
    nodes = {str(n).upper() for n in nodes}

    columns: list[fits.Column] = []
    edges: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    written_units: dict[str, str] = {}
    for prefix in order:
        canonical, default_size, _, _ = AXIS_PREFIXES[prefix]
        size = int(sizes.get(prefix, default_size))
        unit = units.get(prefix, canonical)
        lo, hi = _axis_values(prefix, size, node=prefix in nodes)
        factor = _conversion(canonical, unit)
        lo = (lo * factor).astype(np.float32)
        hi = (hi * factor).astype(np.float32)
        edges[prefix] = (lo, hi)
        written_units[prefix] = unit
        for suffix, values in (("_LO", lo), ("_HI", hi)):
            columns.append(
                fits.Column(
                    f"{prefix}{suffix}", format=f"{size}E", unit=unit or None, array=[values]
                )
            )

    shape = tuple(edges[prefix][0].size for prefix in reversed(order))
    data: dict[str, np.ndarray] = {}
    for name, canonical in layout.columns.items():
        written = data_column if (data_column and len(layout.columns) == 1) else name
        unit = units.get(written, units.get(name, canonical))
        values = generator.uniform(0.5, 1.5, size=shape) * layout.magnitude
        values = (values * _conversion(canonical, unit)).astype(np.float32)
        data[written] = values
        written_units[written] = unit
        n_cells = int(np.prod(shape))
        if tdim:
            dim = "(" + ",".join(str(edges[p][0].size) for p in order) + ")"
            cell = values[np.newaxis]
        else:
            dim = None
            cell = values.reshape(1, n_cells)
        columns.append(
            fits.Column(written, format=f"{n_cells}E", unit=unit or None, dim=dim, array=cell)
        )

    hdu = fits.BinTableHDU.from_columns(columns, name=hdu_name or layout.extname)
    keywords: dict[str, object] = {
        "HDUCLASS": "GADF",
        "HDUDOC": GADF_DOC,
        "HDUVERS": "0.3",
        "HDUCLAS1": "RESPONSE",
        "HDUCLAS2": layout.hduclas2,
        "HDUCLAS3": irf_type or layout.irf_type,
        "HDUCLAS4": layout.hduclas4,
    }
    if hdu_class == "bkg_3d" and fovalign is not None:
        keywords["FOVALIGN"] = fovalign
    keywords.update(header or {})
    _header_update(hdu.header, keywords)
    info = {
        "hdu_name": hdu.name,
        "hdu_class": hdu_class,
        "axis_order": order,
        "edges": edges,
        "data": data,
        "units": written_units,
        "header": {k: v for k, v in keywords.items() if v is not None},
    }
    return hdu, info


def _write(path: Path, hdus: Sequence[fits.BinTableHDU], *, append: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if append and path.is_file() and path.suffix.lower() == ".fits":
        with fits.open(path, mode="append") as existing:
            for hdu in hdus:
                existing.append(hdu)
    elif append and path.is_file():  # compressed: rewrite the whole file
        with fits.open(path, memmap=False) as existing:
            old = [hdu.copy() for hdu in existing]
        fits.HDUList(old + list(hdus)).writeto(path, overwrite=True)
    else:
        fits.HDUList([fits.PrimaryHDU(), *hdus]).writeto(path, overwrite=True)


def write_irf_file(
    path: str | Path,
    hdu_class: str,
    *,
    axis_order: Sequence[str] | None = None,
    sizes: Mapping[str, int] | None = None,
    units: Mapping[str, str] | None = None,
    nodes: Iterable[str] = (),
    data_column: str | None = None,
    irf_type: str | None = None,
    fovalign: str | None = "RADEC",
    hdu_name: str | None = None,
    header: Mapping[str, object] | None = None,
    tdim: bool = True,
    rng: np.random.Generator | int | None = None,
    append: bool = False,
) -> SyntheticIRF:
    """Write one GADF IRF HDU with random, known content.

    Parameters
    ----------
    path : str or Path
        FITS file to write (``.gz`` compresses).
    hdu_class : str
        ``aeff_2d``, ``edisp_2d``, ``psf_table``, ``psf_3gauss``, ``psf_king``,
        ``bkg_2d``, ``bkg_3d`` or ``rad_max_2d``.
    axis_order : sequence of str, optional
        Axis column prefixes in FITS axis order, e.g. ``("THETA", "ENERG")``;
        ``ETRUE`` may replace ``ENERG`` (CTA 1DC energy dispersion). Default:
        the GADF recommended order of :data:`IRF_LAYOUTS`.
    sizes : mapping, optional
        Prefix -> number of bins (or nodes). Defaults differ between axes.
    units : mapping, optional
        Prefix or data column -> unit string written as TUNIT (``"GeV"``,
        ``"cm2"``, ``"1/s/MeV/sr"``, ``""`` for none). Values are converted from
        the canonical unit when possible, and written unconverted otherwise.
    nodes : iterable of str
        Prefixes written as nodes (``X_LO == X_HI``), as H.E.S.S. does for THETA.
    data_column : str, optional
        Name of the data column of single-column classes (e.g. ``"BGD"``).
    irf_type : str, optional
        ``HDUCLAS3`` (default ``FULL-ENCLOSURE``, ``POINT-LIKE`` for rad_max_2d).
    fovalign : str or None
        ``FOVALIGN`` of bkg_3d (``RADEC`` or ``ALTAZ``; None writes none).
    hdu_name : str, optional
        ``EXTNAME`` (default from :data:`IRF_LAYOUTS`).
    header : mapping, optional
        Extra or replacement keywords; a value of None removes a keyword.
    tdim : bool
        Write ``TDIM`` for the data cells (False: flat vectors, as some files do).
    rng : Generator, int or None
        Random generator or seed of the data values.
    append : bool
        Append the HDU to an existing file instead of writing a new file.

    Returns
    -------
    SyntheticIRF
        The raw values written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from gammaxr.testing import write_irf_file
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> irf = write_irf_file(folder / "aeff.fits", "aeff_2d", axis_order=("THETA", "ENERG"))
    >>> irf.data["EFFAREA"].shape  # numpy order: the last FITS axis first
    (7, 4)
    """
    path = Path(path)
    hdu, info = _irf_hdu(
        hdu_class,
        axis_order=axis_order,
        sizes=sizes,
        units=units,
        nodes=nodes,
        data_column=data_column,
        irf_type=irf_type,
        fovalign=fovalign,
        hdu_name=hdu_name,
        header=header,
        tdim=tdim,
        rng=rng,
    )
    _write(path, [hdu], append=append)
    return SyntheticIRF(path=path, **info)


def _event_hdus(
    n_events: int,
    *,
    rng: np.random.Generator | int | None,
    obs_id: int,
    pointing: tuple[float, float],
    altaz: tuple[float, float] | None,
    tstart: float,
    gti: Sequence[tuple[float, float]] | None,
    livetime: float | None,
    energy_unit: str,
    angle_unit: str,
    time_unit: str,
    mjdref: tuple[int, float],
    timesys: str,
    header: Mapping[str, object] | None,
    gti_hdu: bool,
) -> tuple[list[fits.BinTableHDU], dict]:
    generator = _rng(rng)
    intervals = np.asarray(
        gti if gti is not None else [(0.0, 600.0), (900.0, 1800.0)], dtype=float
    )
    intervals = intervals + (tstart if gti is None else 0.0)
    t_lo, t_hi = float(intervals[:, 0].min()), float(intervals[:, 1].max())
    ontime = float(np.sum(intervals[:, 1] - intervals[:, 0]))
    livetime = 0.9 * ontime if livetime is None else float(livetime)

    # Events: times inside the GTIs, positions within 2 deg of the pointing,
    # energies from a power law between 0.1 and 100 TeV.
    which = generator.integers(0, len(intervals), n_events)
    low = intervals[which].min(axis=1)  # reversed intervals are allowed, for error tests
    times = np.sort(generator.uniform(low, intervals[which].max(axis=1)))
    ra_pnt, dec_pnt = pointing
    radius = 2.0 * np.sqrt(generator.uniform(0, 1, n_events))
    angle = generator.uniform(0, 2 * np.pi, n_events)
    detx = radius * np.cos(angle)
    dety = radius * np.sin(angle)
    dec = dec_pnt + dety
    ra = ra_pnt + detx / np.cos(np.deg2rad(dec_pnt))
    energy = 0.1 * (1 - generator.uniform(0, 1, n_events) * (1 - 1e-3**1.5)) ** (-1 / 1.5)

    angle_factor = _conversion("deg", angle_unit)
    columns = {
        "EVENT_ID": np.arange(1, n_events + 1, dtype=np.int64),
        "TIME": times * _conversion("s", time_unit),
        "RA": (ra * angle_factor).astype(np.float32),
        "DEC": (dec * angle_factor).astype(np.float32),
        "ENERGY": (energy * _conversion("TeV", energy_unit)).astype(np.float32),
        "DETX": (detx * angle_factor).astype(np.float32),
        "DETY": (dety * angle_factor).astype(np.float32),
        "MULTIP": generator.integers(2, 5, n_events).astype(np.int16),
        "EVENT_TYPE": np.array(["gamma-like" if i % 2 else "hadron" for i in range(n_events)]),
        "TEL_IMPACT": generator.uniform(0, 300, (n_events, 4)).astype(np.float32),
    }
    units = {
        "TIME": time_unit,
        "RA": angle_unit,
        "DEC": angle_unit,
        "ENERGY": energy_unit,
        "DETX": angle_unit,
        "DETY": angle_unit,
        "MULTIP": "",
        "EVENT_TYPE": "",
        "TEL_IMPACT": "m",
    }
    formats = {
        "EVENT_ID": "K",
        "TIME": "D",
        "RA": "E",
        "DEC": "E",
        "ENERGY": "E",
        "DETX": "E",
        "DETY": "E",
        "MULTIP": "I",
        "EVENT_TYPE": "10A",
        "TEL_IMPACT": "4E",
    }
    events = fits.BinTableHDU.from_columns(
        [
            fits.Column(name, format=formats[name], unit=units.get(name) or None, array=values)
            for name, values in columns.items()
        ],
        name="EVENTS",
    )
    keywords: dict[str, object] = {
        "HDUCLASS": "GADF",
        "HDUDOC": GADF_DOC,
        "HDUVERS": "0.3",
        "HDUCLAS1": "EVENTS",
        "OBS_ID": int(obs_id),
        "TSTART": t_lo,
        "TSTOP": t_hi,
        "ONTIME": ontime,
        "LIVETIME": livetime,
        "DEADC": livetime / ontime,
        "MJDREFI": int(mjdref[0]),
        "MJDREFF": float(mjdref[1]),
        "TIMEUNIT": "s",
        "TIMESYS": timesys,
        "TIMEREF": "LOCAL",
        "TELESCOP": "SYNTH",
        "INSTRUME": "gammaxr.testing",
        "OBJECT": "Synthetic source",
        "RA_OBJ": float(ra_pnt),
        "DEC_OBJ": float(dec_pnt + 0.5),
        "RA_PNT": float(ra_pnt),
        "DEC_PNT": float(dec_pnt),
        "OBS_MODE": "POINTING",
        "GEOLON": 16.5,
        "GEOLAT": -23.27,
        "ALTITUDE": 1835.0,
    }
    if altaz is not None:
        keywords["ALT_PNT"] = float(altaz[0])
        keywords["AZ_PNT"] = float(altaz[1])
    keywords.update(header or {})
    _header_update(events.header, keywords)
    hdus = [events]
    gti_rows = None
    if gti_hdu:
        gti_table = fits.BinTableHDU.from_columns(
            [
                fits.Column("START", format="D", unit="s", array=intervals[:, 0]),
                fits.Column("STOP", format="D", unit="s", array=intervals[:, 1]),
            ],
            name="GTI",
        )
        _header_update(
            gti_table.header,
            {
                "HDUCLASS": "GADF",
                "HDUCLAS1": "GTI",
                "MJDREFI": int(mjdref[0]),
                "MJDREFF": float(mjdref[1]),
                "TIMEUNIT": "s",
                "TIMESYS": timesys,
                "TIMEREF": "LOCAL",
            },
        )
        hdus.append(gti_table)
        gti_rows = intervals.copy()
    info = {
        "columns": columns,
        "units": units,
        "header": {k: v for k, v in keywords.items() if v is not None},
        "gti": gti_rows,
    }
    return hdus, info


def write_event_file(
    path: str | Path,
    n_events: int = 100,
    *,
    rng: np.random.Generator | int | None = None,
    obs_id: int = 1,
    pointing: tuple[float, float] = (83.63, 22.51),
    altaz: tuple[float, float] | None = (60.0, 180.0),
    tstart: float = 1.0e8,
    gti: Sequence[tuple[float, float]] | None = None,
    livetime: float | None = None,
    energy_unit: str = "TeV",
    angle_unit: str = "deg",
    time_unit: str = "s",
    mjdref: tuple[int, float] = (51910, 7.428703703703703e-4),
    timesys: str = "TT",
    header: Mapping[str, object] | None = None,
    gti_hdu: bool = True,
    append: bool = False,
) -> SyntheticEvents:
    """Write a GADF event list (EVENTS and GTI HDUs) with random, known content.

    The EVENTS HDU holds ``EVENT_ID``, ``TIME``, ``RA``, ``DEC``, ``ENERGY``,
    ``DETX``, ``DETY``, ``MULTIP`` (integer, no unit), ``EVENT_TYPE`` (string)
    and ``TEL_IMPACT`` (a vector column), and the GADF header keywords.

    Parameters
    ----------
    path : str or Path
        FITS file to write.
    n_events : int
        Number of events.
    rng : Generator, int or None
        Random generator or seed.
    obs_id : int
        ``OBS_ID``.
    pointing : (float, float)
        ``RA_PNT``, ``DEC_PNT`` in deg.
    altaz : (float, float) or None
        ``ALT_PNT``, ``AZ_PNT`` in deg; None writes neither.
    tstart : float
        Start of the default GTIs, s since the time reference.
    gti : sequence of (start, stop), optional
        GTIs in s since the reference (default: two intervals of 600 s and
        900 s with a 300 s gap, from ``tstart``). ``TSTART``/``TSTOP`` span
        them and ``ONTIME`` is their sum, so ``ONTIME < TSTOP - TSTART``.
    livetime : float, optional
        ``LIVETIME`` in s (default 0.9 ``ONTIME``); ``DEADC = LIVETIME / ONTIME``.
    energy_unit, angle_unit, time_unit : str
        TUNIT of ``ENERGY``; of ``RA``, ``DEC``, ``DETX``, ``DETY``; of ``TIME``.
    mjdref : (int, float)
        ``MJDREFI``, ``MJDREFF`` (default: the H.E.S.S. reference).
    timesys : str
        ``TIMESYS``.
    header : mapping, optional
        Extra or replacement EVENTS keywords; a value of None removes a keyword.
    gti_hdu : bool
        Write the GTI HDU.
    append : bool
        Append to an existing file instead of writing a new file.

    Returns
    -------
    SyntheticEvents
        The raw values written.
    """
    path = Path(path)
    hdus, info = _event_hdus(
        n_events,
        rng=rng,
        obs_id=obs_id,
        pointing=pointing,
        altaz=altaz,
        tstart=tstart,
        gti=gti,
        livetime=livetime,
        energy_unit=energy_unit,
        angle_unit=angle_unit,
        time_unit=time_unit,
        mjdref=mjdref,
        timesys=timesys,
        header=header,
        gti_hdu=gti_hdu,
    )
    _write(path, hdus, append=append)
    return SyntheticEvents(path=path, **info)


def _index_hdu(rows: list[dict], formats: Mapping[str, tuple[str, str]], extname: str, kind: str):
    columns = []
    for name, (fmt, unit) in formats.items():
        values = [row[name] for row in rows]
        columns.append(fits.Column(name, format=fmt, unit=unit or None, array=values))
    hdu = fits.BinTableHDU.from_columns(columns, name=extname)
    _header_update(
        hdu.header,
        {"HDUCLASS": "GADF", "HDUDOC": GADF_DOC, "HDUCLAS1": "INDEX", "HDUCLAS2": kind},
    )
    return hdu


_OBS_INDEX_FORMATS = {
    "OBS_ID": ("K", ""),
    "RA_PNT": ("D", "deg"),
    "DEC_PNT": ("D", "deg"),
    "ALT_PNT": ("D", "deg"),
    "AZ_PNT": ("D", "deg"),
    "ZEN_PNT": ("D", "deg"),
    "ONTIME": ("D", "s"),
    "LIVETIME": ("D", "s"),
    "DEADC": ("D", ""),
    "TSTART": ("D", "s"),
    "TSTOP": ("D", "s"),
    "OBJECT": ("32A", ""),
    "EVENT_COUNT": ("K", ""),
}

_HDU_INDEX_FORMATS = {
    "OBS_ID": ("K", ""),
    "HDU_TYPE": ("10A", ""),
    "HDU_CLASS": ("12A", ""),
    "FILE_DIR": ("64A", ""),
    "FILE_NAME": ("64A", ""),
    "HDU_NAME": ("24A", ""),
}


def write_datastore(
    folder: str | Path,
    obs_ids: Sequence[int] = (1, 2),
    *,
    n_events: int = 50,
    irfs: Sequence[str] = ("aeff_2d", "edisp_2d", "psf_table", "bkg_3d"),
    shared_irf_file: bool = False,
    file_dir: str = "data",
    rng: np.random.Generator | int | None = None,
) -> SyntheticDataStore:
    """Write a small GADF data store: obs-index, hdu-index and the files they name.

    Each observation gets ``<file_dir>/obs_<obs_id>.fits.gz`` with its EVENTS
    and GTI HDUs and, unless ``shared_irf_file``, its IRF HDUs. With
    ``shared_irf_file`` the IRFs are written once to ``caldb/irf.fits`` and every
    observation's HDU index rows point there (as CTA data stores do).

    Parameters
    ----------
    folder : str or Path
        The data store folder (created if needed).
    obs_ids : sequence of int
        Observation ids.
    n_events : int
        Events per observation (observation ``i`` gets ``n_events + i``, so
        counts differ between observations).
    irfs : sequence of str
        IRF classes written for each observation.
    shared_irf_file : bool
        One IRF file for every observation, in another folder.
    file_dir : str
        ``FILE_DIR`` of the observation files, relative to ``folder``.
    rng : Generator, int or None
        Random generator or seed.

    Returns
    -------
    SyntheticDataStore
        Paths and the raw rows and values written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    generator = _rng(rng)
    obs_rows: list[dict] = []
    hdu_rows: list[dict] = []
    events_written: dict[int, SyntheticEvents] = {}
    irfs_written: dict[int, dict[str, SyntheticIRF]] = {}

    shared: dict[str, SyntheticIRF] = {}
    if shared_irf_file:
        irf_path = folder / "caldb" / "irf.fits"
        for number, hdu_class in enumerate(irfs):
            shared[hdu_class] = write_irf_file(
                irf_path, hdu_class, rng=generator, append=number > 0
            )

    for number, obs_id in enumerate(obs_ids):
        obs_id = int(obs_id)
        name = f"obs_{obs_id:06d}.fits.gz"
        path = folder / file_dir / name
        pointing = (83.63 + 0.5 * number, 22.01 + 0.5 * (-1) ** number)
        altaz = (55.0 + number, 170.0 + 2 * number)
        hdus, info = _event_hdus(
            n_events + number,
            rng=generator,
            obs_id=obs_id,
            pointing=pointing,
            altaz=altaz,
            tstart=1.0e8 + 4000.0 * number,
            gti=None,
            livetime=None,
            energy_unit="TeV",
            angle_unit="deg",
            time_unit="s",
            mjdref=(51910, 7.428703703703703e-4),
            timesys="TT",
            header=None,
            gti_hdu=True,
        )
        events_written[obs_id] = SyntheticEvents(path=path, **info)
        written: dict[str, SyntheticIRF] = {}
        if shared_irf_file:
            written = dict(shared)
        else:
            for hdu_class in irfs:
                hdu, irf_info = _irf_hdu(hdu_class, rng=generator)
                hdus.append(hdu)
                written[hdu_class] = SyntheticIRF(path=path, **irf_info)
        _write(path, hdus, append=False)
        irfs_written[obs_id] = written

        header = info["header"]
        obs_rows.append(
            {
                "OBS_ID": obs_id,
                "RA_PNT": pointing[0],
                "DEC_PNT": pointing[1],
                "ALT_PNT": altaz[0],
                "AZ_PNT": altaz[1],
                "ZEN_PNT": 90.0 - altaz[0],
                "ONTIME": header["ONTIME"],
                "LIVETIME": header["LIVETIME"],
                "DEADC": header["DEADC"],
                "TSTART": header["TSTART"],
                "TSTOP": header["TSTOP"],
                "OBJECT": header["OBJECT"],
                "EVENT_COUNT": n_events + number,
            }
        )
        for hdu_type, hdu_name in (("events", "EVENTS"), ("gti", "GTI")):
            hdu_rows.append(
                {
                    "OBS_ID": obs_id,
                    "HDU_TYPE": hdu_type,
                    "HDU_CLASS": hdu_type,
                    "FILE_DIR": file_dir,
                    "FILE_NAME": name,
                    "HDU_NAME": hdu_name,
                }
            )
        for hdu_class, irf in written.items():
            hdu_rows.append(
                {
                    "OBS_ID": obs_id,
                    "HDU_TYPE": _HDU_TYPES[hdu_class],
                    "HDU_CLASS": hdu_class,
                    "FILE_DIR": "caldb" if shared_irf_file else file_dir,
                    "FILE_NAME": irf.path.name,
                    "HDU_NAME": irf.hdu_name,
                }
            )

    obs_index = folder / "obs-index.fits.gz"
    hdu_index = folder / "hdu-index.fits.gz"
    obs_hdu = _index_hdu(obs_rows, _OBS_INDEX_FORMATS, "OBS_INDEX", "OBS")
    _header_update(
        obs_hdu.header,
        {"MJDREFI": 51910, "MJDREFF": 7.428703703703703e-4, "TIMESYS": "TT", "TIMEUNIT": "s"},
    )
    fits.HDUList([fits.PrimaryHDU(), obs_hdu]).writeto(obs_index, overwrite=True)
    hdu_hdu = _index_hdu(hdu_rows, _HDU_INDEX_FORMATS, "HDU_INDEX", "HDU")
    fits.HDUList([fits.PrimaryHDU(), hdu_hdu]).writeto(hdu_index, overwrite=True)
    return SyntheticDataStore(
        folder=folder,
        obs_index=obs_index,
        hdu_index=hdu_index,
        obs_rows=obs_rows,
        hdu_rows=hdu_rows,
        events=events_written,
        irfs=irfs_written,
    )
