"""Spatial models: the surface brightness of a source on the sky, in sr-1.

A spatial model is an immutable :class:`~gammaxr.models.core.Model` with a
centre ``lon_0``, ``lat_0`` (deg) in its ``frame`` (``"icrs"`` or
``"galactic"``; state, not a parameter) and shape parameters. Its pure static
``evaluate(lon, lat, **params)`` takes positions in the model frame, in deg,
and returns the surface brightness in sr-1, computed from the true angular
separation (and, for elongated shapes, the true position angle) of each
position from the centre, never from pixel units.

Normalisation
    Every model but :class:`ConstantSpatialModel` integrates to 1 over the
    sphere. The formulas are Gammapy's (so model files interoperate and give the
    same numbers): the circular Gaussian and the sharp-edged disks are
    normalised exactly on the sphere; the elongated Gaussian, the generalised
    Gaussian and the shells in the small-angle (flat-sky) sense, exact to
    ``O(size**2)`` (2e-4 for a 2.4 deg shell); a smooth disk edge adds
    ``O(edge_width**2)``.

Integration on a sky grid
    :meth:`SpatialModel.integrate_geom` returns the fraction of the model in
    each pixel of a lon/lat grid (:func:`gammaxr.sky_grid`). Each pixel in a
    cutout of radius :attr:`SpatialModel.evaluation_radius` around the source is
    split into ``n_lat x n_lon`` sub-pixels with exact solid angles,
    ``n = ceil(pixel size / scale)`` per axis (the lon width measured as an
    angle), where ``scale`` is the model's :attr:`~SpatialModel.evaluation_bin_size_min`
    (a Gaussian: an eighth of its minor axis). Only the sub-pixels that overlap
    the cutout are evaluated, so a source much smaller than a pixel costs as
    little as a large one. Models with sharp features (disk edges, shell rims)
    use a coarser scale away from them and split the sub-pixels that overlap
    them again, at least 4 x 4 times and down to their fine scale. The
    sub-pixel grid is anchored to the pixels, not to the source, so the result
    of a smooth model varies smoothly with its parameters. A point source puts
    its whole flux in the pixel that contains it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.special
import xarray as xr
from astropy.coordinates import SkyCoord

from gammaxr.axes import FRAMES, sky_frame, solid_angle
from gammaxr.conventions import LAT, LON, edges, require_dims, require_units
from gammaxr.exceptions import DimensionError, GeometryError
from gammaxr.models.core import Model, is_xarray, register_model, where
from gammaxr.models.parameters import Parameter, ParameterError
from gammaxr.sky.separation import angular_separation

__all__ = [
    "ConstantSpatialModel",
    "DiskSpatialModel",
    "GaussianSpatialModel",
    "GeneralizedGaussianSpatialModel",
    "PointSpatialModel",
    "Shell2SpatialModel",
    "ShellSpatialModel",
    "SpatialModel",
    "TemplateSpatialModel",
    "convert_frame",
    "position_angle",
]

#: Flux fraction of unbounded profiles left outside their evaluation radius.
TAIL_FRACTION = 1e-6
#: Largest number of sub-pixels per pixel and per axis.
MAX_OVERSAMPLING = 2000
#: Largest number of sub-pixel evaluations in one ``integrate_geom`` call (the
#: oversampling factor is lowered until it fits).
MAX_SAMPLES = 2**23
#: Smallest split, per axis, of a sub-pixel that overlaps a sharp feature.
MIN_REFINEMENT = 4
#: Sub-pixels evaluated at once (bounds the memory of ``integrate_geom``).
_CHUNK = 2**20
#: Gammapy's disk edge: the smooth edge drops from 95% to 5% over ``edge_width * r_0``.
_EDGE_WIDTH_95 = 2.326174307353347
#: Nodes of the quadrature of the spherical ellipse area (periodic integrand:
#: the midpoint rule converges geometrically).
_DISK_NODES = 2048



def position_angle(lon_0, lat_0, lon, lat):
    """Position angle of ``(lon, lat)`` seen from ``(lon_0, lat_0)``, rad, east of north.

    Zero towards the north pole of the frame, ``+pi/2`` towards increasing
    longitude (east); the astropy convention. Inputs in deg; numpy, xarray or
    dask, broadcasting as they do.
    """
    lon_0, lat_0, lon, lat = (np.deg2rad(x) for x in (lon_0, lat_0, lon, lat))
    dlon = lon - lon_0
    return np.arctan2(
        np.sin(dlon) * np.cos(lat),
        np.cos(lat_0) * np.sin(lat) - np.sin(lat_0) * np.cos(lat) * np.cos(dlon),
    )


@cache
def _rotation_matrix(source: str, target: str) -> np.ndarray:
    """Matrix taking unit vectors of ``source`` to ``target`` (a pure rotation)."""
    basis = SkyCoord([0.0, 90.0, 0.0], [0.0, 0.0, 90.0], unit="deg", frame=source)
    matrix = np.asarray(basis.transform_to(target).cartesian.xyz.value, dtype=float)
    matrix.setflags(write=False)
    return matrix


def _check_frame(frame: str) -> str:
    if frame not in FRAMES:
        raise GeometryError(f"sky frame must be one of {FRAMES}, got {frame!r}")
    return frame


def convert_frame(lon, lat, source: str, target: str):
    """Convert sky positions between ``icrs`` and ``galactic`` (deg in, deg out).

    The transformation is the fixed rotation astropy uses between the two
    frames, applied to unit vectors: vectorised, exact to rounding.

    Parameters
    ----------
    lon, lat : array-like
        Positions in ``source``, deg (numpy, xarray or dask).
    source, target : {"icrs", "galactic"}
        Frames.

    Returns
    -------
    lon, lat
        Positions in ``target``, deg, ``lon`` in [0, 360).
    """
    _check_frame(source)
    _check_frame(target)
    if source == target:
        return lon, lat
    m = _rotation_matrix(source, target)
    lon_r, lat_r = np.deg2rad(lon), np.deg2rad(lat)
    cos_lat = np.cos(lat_r)
    x, y, z = cos_lat * np.cos(lon_r), cos_lat * np.sin(lon_r), np.sin(lat_r)
    x2 = m[0, 0] * x + m[0, 1] * y + m[0, 2] * z
    y2 = m[1, 0] * x + m[1, 1] * y + m[1, 2] * z
    z2 = m[2, 0] * x + m[2, 1] * y + m[2, 2] * z
    return np.rad2deg(np.arctan2(y2, x2)) % 360.0, np.rad2deg(np.arctan2(z2, np.hypot(x2, y2)))


def _effective_radius(lon, lat, lon_0, lat_0, major, e, phi):
    """Radius of an ellipse in the direction of each position (Gammapy's ``sigma_eff``).

    The ellipse has semi-major axis ``major`` along position angle ``phi`` (deg,
    east of north) and semi-minor axis ``major * sqrt(1 - e**2)``. Returns the
    effective radius and the semi-minor axis, in the unit of ``major``.
    """
    minor = major * np.sqrt(1.0 - e**2)
    if np.ndim(e) == 0 and e == 0:
        return major + 0.0 * lon, minor
    d_phi = np.deg2rad(phi) - position_angle(lon_0, lat_0, lon, lat)
    denominator = np.hypot(major * np.sin(d_phi), minor * np.cos(d_phi))
    return major * minor / denominator, minor


def _one_minus_cos(angle):
    """``1 - cos(angle)`` without cancellation for small angles (rad)."""
    return 2.0 * np.sin(0.5 * angle) ** 2


class SpatialModel(Model):
    """Base class of spatial models: a centre in a sky frame, a surface brightness in sr-1.

    Parameters
    ----------
    frame : {"icrs", "galactic"}
        Frame of ``lon_0``, ``lat_0`` and of the positions ``evaluate`` takes.
    **values : float, astropy Quantity or Parameter
        Parameter values by name (see :class:`~gammaxr.models.core.Model`).
    """

    #: Whether the model integrates to 1 over the sphere.
    is_normalized: ClassVar[bool] = True

    def __init__(self, *, frame: str = "icrs", **values: Any) -> None:
        super().__init__(**values)
        self._frame = _check_frame(frame)

    @property
    def frame(self) -> str:
        """The sky frame of the model centre and of ``evaluate``'s positions."""
        return self._frame

    def _extra_state(self) -> Mapping[str, Any]:
        return {"frame": self._frame}

    def __call__(self, lon, lat):
        """Surface brightness at positions in the model frame (deg), sr-1."""
        return self.evaluate(lon, lat, **self.parameter_values())

    # -- geometry ---------------------------------------------------------------------------

    @property
    def position(self) -> SkyCoord | None:
        """The model centre as a SkyCoord (None for models without a centre)."""
        if "lon_0" not in self.parameters:
            return None
        values = self.parameter_values()
        return SkyCoord(values["lon_0"], values["lat_0"], unit="deg", frame=self._frame)

    def position_in(self, frame: str) -> tuple[float, float]:
        """The model centre ``(lon, lat)`` in ``frame``, deg (exact when the frame is the model's).

        Raises
        ------
        ParameterError
            If the model has no centre.
        """
        if "lon_0" not in self.parameters:
            raise ParameterError(f"{type(self).__name__} has no position")
        values = self.parameter_values()
        lon, lat = convert_frame(values["lon_0"], values["lat_0"], self._frame, frame)
        return float(lon), float(lat)

    @property
    def evaluation_radius(self) -> float | None:
        """Radius around the centre outside which the model is negligible, deg.

        None for models without a centre (the whole sky).
        """
        return None

    @property
    def evaluation_bin_size_min(self) -> float | None:
        """The finest angular scale of the model, deg: the largest sub-pixel size used.

        None: the pixel centres are enough (0 for a point: the finest possible).
        """
        return None

    @property
    def _refine_annuli(self) -> tuple[tuple[float, float], ...]:
        """Ranges of separation from the centre (deg) that hold the model's sharp features.

        Empty (the default): :attr:`evaluation_bin_size_min` applies everywhere.
        Otherwise pixels are split at :attr:`_coarse_bin_size`, and the sub-pixels
        that overlap these ranges are split again down to
        :attr:`evaluation_bin_size_min` (at least :data:`MIN_REFINEMENT` times per axis).
        """
        return ()

    @property
    def _coarse_bin_size(self) -> float | None:
        """Sub-pixel size away from :attr:`_refine_annuli`, deg (None: pixel centres)."""
        return self.evaluation_bin_size_min

    # -- evaluation on a grid ---------------------------------------------------------------

    def evaluate_geom(self, geom: xr.DataArray | xr.Dataset) -> xr.DataArray:
        """Surface brightness at the pixel centres of a sky grid.

        Parameters
        ----------
        geom : xarray.DataArray or xarray.Dataset
            Any object with a lon/lat grid (:func:`gammaxr.sky_grid`).

        Returns
        -------
        xarray.DataArray
            Dims ``(lat, lon)``, sr-1, in the grid's frame.
        """
        sky = solid_angle(geom)
        grid_frame = sky.attrs["frame"]
        lon, lat = np.meshgrid(sky.coords[LON].to_numpy(), sky.coords[LAT].to_numpy())
        lon, lat = convert_frame(lon, lat, grid_frame, self._frame)
        values = np.broadcast_to(np.asarray(self(lon, lat), dtype=float), sky.shape)
        return _like_sky(sky, values, name="surface_brightness", units="sr-1")

    def integrate_geom(
        self, geom: xr.DataArray | xr.Dataset, *, oversampling: int | None = None
    ) -> xr.DataArray:
        """Fraction of the model in each pixel of a sky grid.

        Each pixel within :attr:`evaluation_radius` of the centre is split into
        sub-pixels, ``ceil(pixel size / evaluation_bin_size_min)`` per axis
        (at most :data:`MAX_OVERSAMPLING`, and fewer if more than
        :data:`MAX_SAMPLES` sub-pixels would be needed), whose exact solid
        angles weight the surface brightness at their centres. Only the
        sub-pixels that overlap the cutout are evaluated. Models with sharp
        features split the sub-pixels near them again (see the module
        docstring). The centre is converted to the grid's frame (and the
        sub-pixel positions to the model's), and longitudes wrap at 0/360.

        Parameters
        ----------
        geom : xarray.DataArray or xarray.Dataset
            Any object with a lon/lat grid (:func:`gammaxr.sky_grid`).
        oversampling : int, optional
            Sub-pixels per pixel and per axis, uniform over the cutout, instead
            of the automatic choice (and of the refinement near sharp features).

        Returns
        -------
        xarray.DataArray
            Dims ``(lat, lon)``, dimensionless: the integral of the model over
            each pixel (its sum is 1 when the grid contains the whole source).
        """
        sky = solid_angle(geom)
        grid_frame = sky.attrs["frame"]
        radius = self.evaluation_radius
        if radius is None:
            lon, lat = np.meshgrid(sky.coords[LON].to_numpy(), sky.coords[LAT].to_numpy())
            lon, lat = convert_frame(lon, lat, grid_frame, self._frame)
            values = np.asarray(self(lon, lat), dtype=float) * sky.to_numpy()
            return _like_sky(sky, values, name="integral", units="")
        lon_edges, lat_edges = edges(sky, LON), edges(sky, LAT)
        lon_c, lat_c = self.position_in(grid_frame)
        out = _integrate_cutout(
            self, grid_frame, lon_edges, lat_edges, lon_c, lat_c, radius, oversampling
        )
        return _like_sky(sky, out, name="integral", units="")


def _like_sky(sky: xr.DataArray, values: np.ndarray, *, name: str, units: str) -> xr.DataArray:
    return xr.DataArray(
        values,
        dims=sky.dims,
        coords=sky.coords,
        name=name,
        attrs={"units": units, "frame": sky.attrs["frame"]},
    )


def _wrap_near(lon: float, centre: float) -> float:
    """``lon`` shifted by a multiple of 360 deg to lie within 180 deg of ``centre``."""
    return centre + ((lon - centre + 180.0) % 360.0 - 180.0)


def _lon_half_width(lat_c: float, radius: float) -> float | None:
    """Half-width in lon of a cap of ``radius`` about latitude ``lat_c`` (deg); None: all lon."""
    if radius >= 90.0 - abs(lat_c) or radius >= 180.0:
        return None
    ratio = math.sin(math.radians(radius)) / math.cos(math.radians(lat_c))
    return math.degrees(math.asin(min(1.0, ratio)))


def _sub_cells(
    pixel_edges: np.ndarray, lo: float, hi: float, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sub-cells (``n`` per pixel) of the pixels overlapping ``[lo, hi]`` that overlap it.

    Returns the sub-cell lower and upper edges and the pixel index of each.
    """
    n_pix = len(pixel_edges) - 1
    first = max(int(np.searchsorted(pixel_edges, lo, side="right")) - 1, 0)
    last = min(int(np.searchsorted(pixel_edges, hi, side="left")), n_pix)
    if last <= first:
        empty = np.empty(0)
        return empty, empty, np.empty(0, dtype=int)
    index = np.arange(first, last)
    start = pixel_edges[index][:, None]
    width = (pixel_edges[index + 1] - pixel_edges[index])[:, None]
    steps = np.arange(n + 1) / n
    cell_lo = (start + width * steps[:-1]).ravel()
    cell_hi = (start + width * steps[1:]).ravel()
    pixel = np.repeat(index, n)
    keep = (cell_hi > lo) & (cell_lo < hi)
    return cell_lo[keep], cell_hi[keep], pixel[keep]


def _runs(pixel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts of runs of equal pixel index, and the index of each run."""
    starts = np.flatnonzero(np.r_[True, pixel[1:] != pixel[:-1]])
    return starts, pixel[starts]


def _factor(size: float, bin_size: float | None) -> int:
    """Sub-pixels per axis for a pixel of angular ``size``: ``ceil(size / bin_size)``."""
    if bin_size is None:
        return 1
    if not bin_size > 0:
        return MAX_OVERSAMPLING
    return int(min(max(math.ceil(size / bin_size - 1e-9), 1), MAX_OVERSAMPLING))


def _pixel_sizes(
    lon_edges: np.ndarray, lat_edges: np.ndarray, lat_range: tuple[float, float]
) -> tuple[float, float]:
    """Largest angular pixel size in lat and lon over a latitude range, deg."""
    # the lon width of a pixel, as an angle, is largest at the latitude nearest the equator
    lat_eq = min(max(0.0, lat_range[0]), lat_range[1])
    size_lat = float(np.max(np.diff(lat_edges)))
    size_lon = float(np.max(np.diff(lon_edges))) * math.cos(math.radians(lat_eq))
    return size_lat, size_lon


def _evaluate_cells(
    model: SpatialModel, grid_frame: str, lon: np.ndarray, lat: np.ndarray
) -> np.ndarray:
    lon, lat = convert_frame(lon, lat, grid_frame, model.frame)
    return np.broadcast_to(np.asarray(model(lon, lat), dtype=float), np.shape(lon))


def _integrate_cutout(
    model: SpatialModel,
    grid_frame: str,
    lon_edges: np.ndarray,
    lat_edges: np.ndarray,
    lon_c: float,
    lat_c: float,
    radius: float,
    oversampling: int | None,
) -> np.ndarray:
    """The oversampled integral of ``model`` over the pixels near its centre.

    Every pixel overlapping the cutout is split into ``n_lat x n_lon``
    sub-pixels, and those overlapping the cutout are evaluated. For models with
    sharp features (:attr:`SpatialModel._refine_annuli`), the sub-pixels that
    overlap them are split again, down to :attr:`SpatialModel.evaluation_bin_size_min`.
    """
    out = np.zeros((len(lat_edges) - 1, len(lon_edges) - 1))
    lon_c = _wrap_near(lon_c, 0.5 * (lon_edges[0] + lon_edges[-1]))
    lat_range = (max(lat_c - radius, -90.0), min(lat_c + radius, 90.0))
    half_width = _lon_half_width(lat_c, radius)
    max_width = float(np.max(np.diff(lon_edges)))
    if half_width is None or 2 * half_width + max_width >= 360.0:
        lon_ranges = [(lon_edges[0], lon_edges[-1])]
    else:
        lon_ranges = [
            (lon_c - half_width + shift, lon_c + half_width + shift)
            for shift in (-360.0, 0.0, 360.0)
        ]
    size_lat, size_lon = _pixel_sizes(lon_edges, lat_edges, lat_range)
    annuli = model._refine_annuli if oversampling is None else ()
    if oversampling is not None:
        if int(oversampling) < 1:
            raise ParameterError(f"oversampling must be a positive integer, got {oversampling}")
        n_lat = n_lon = int(oversampling)
    else:
        coarse = model._coarse_bin_size if annuli else model.evaluation_bin_size_min
        if annuli and coarse is not None:
            coarse = max(coarse, model.evaluation_bin_size_min or 0.0)
        n_lat, n_lon = _factor(size_lat, coarse), _factor(size_lon, coarse)
    while True:
        lat_lo, lat_hi, lat_pix = _sub_cells(lat_edges, *lat_range, n_lat)
        lon_parts = [_sub_cells(lon_edges, lo, hi, n_lon) for lo, hi in lon_ranges]
        lon_lo, lon_hi, lon_pix = (np.concatenate(p) for p in zip(*lon_parts, strict=True))
        n_samples = lat_lo.size * lon_lo.size
        if n_samples <= MAX_SAMPLES or (n_lat == 1 and n_lon == 1):
            break
        factor = math.sqrt(n_samples / MAX_SAMPLES)
        n_lat = max(1, int(n_lat / factor))
        n_lon = max(1, int(n_lon / factor))
    if n_samples == 0:
        return out
    refine = None
    if annuli:
        refine = _Refinement(model, grid_frame, lon_c, lat_c, lat_lo, lat_hi, lon_lo, lon_hi)
    lon_mid = 0.5 * (lon_lo + lon_hi)
    lat_mid = 0.5 * (lat_lo + lat_hi)
    weight_lon = np.deg2rad(lon_hi - lon_lo)
    weight_lat = np.sin(np.deg2rad(lat_hi)) - np.sin(np.deg2rad(lat_lo))
    lon_starts, lon_ids = _runs(lon_pix)
    rows = max(1, _CHUNK // lon_mid.size)
    for start in range(0, lat_mid.size, rows):
        chunk = slice(start, start + rows)
        lon, lat = np.meshgrid(lon_mid, lat_mid[chunk])
        flux = _evaluate_cells(model, grid_frame, lon, lat)
        flux = flux * weight_lat[chunk, None] * weight_lon[None, :]
        if refine is not None:
            refine.apply(flux, chunk)
        lat_starts, lat_ids = _runs(lat_pix[chunk])
        block = np.add.reduceat(np.add.reduceat(flux, lat_starts, axis=0), lon_starts, axis=1)
        np.add.at(out, (lat_ids[:, None], lon_ids[None, :]), block)
    return out


class _Refinement:
    """Finer integration of the sub-pixels that overlap a model's sharp features."""

    def __init__(
        self,
        model: SpatialModel,
        grid_frame: str,
        lon_c: float,
        lat_c: float,
        lat_lo: np.ndarray,
        lat_hi: np.ndarray,
        lon_lo: np.ndarray,
        lon_hi: np.ndarray,
    ) -> None:
        self.model, self.grid_frame = model, grid_frame
        self.lon_c, self.lat_c = lon_c, lat_c
        self.lat_lo, self.lat_hi, self.lon_lo, self.lon_hi = lat_lo, lat_hi, lon_lo, lon_hi
        abs_lat = np.minimum(np.abs(lat_lo), np.abs(lat_hi))
        self.cos_lat = np.where(lat_lo * lat_hi <= 0, 1.0, np.cos(np.deg2rad(abs_lat)))
        fine = model.evaluation_bin_size_min
        n_lat = _factor(float(np.max(lat_hi - lat_lo)), fine)
        n_lon = _factor(float(np.max(lon_hi - lon_lo)), fine)
        # a sub-pixel cut by a sharp edge needs several samples whatever the model scale
        self.n_lat, self.n_lon = max(n_lat, MIN_REFINEMENT), max(n_lon, MIN_REFINEMENT)

    def apply(self, flux: np.ndarray, rows: slice) -> None:
        """Replace, in place, the flux of the selected sub-pixels of a block of rows."""
        lat_lo, lat_hi = self.lat_lo[rows][:, None], self.lat_hi[rows][:, None]
        lon_lo, lon_hi = self.lon_lo[None, :], self.lon_hi[None, :]
        separation = angular_separation(
            self.lon_c, self.lat_c, 0.5 * (lon_lo + lon_hi), 0.5 * (lat_lo + lat_hi)
        )
        half_diagonal = 0.5001 * np.hypot(
            lat_hi - lat_lo, (lon_hi - lon_lo) * self.cos_lat[rows][:, None]
        )
        selected = np.zeros(separation.shape, dtype=bool)
        for lo, hi in self.model._refine_annuli:
            selected |= (separation + half_diagonal >= lo) & (separation - half_diagonal <= hi)
        i, j = np.nonzero(selected)
        if i.size == 0:
            return
        n_lat, n_lon = self.n_lat, self.n_lon
        while i.size * n_lat * n_lon > MAX_SAMPLES and (n_lat > 1 or n_lon > 1):
            factor = math.sqrt(i.size * n_lat * n_lon / MAX_SAMPLES)
            n_lat, n_lon = max(1, int(n_lat / factor)), max(1, int(n_lon / factor))
        step_lat = (np.arange(n_lat + 1) / n_lat)[None, :]
        step_lon = (np.arange(n_lon + 1) / n_lon)[None, :]
        per_chunk = max(1, _CHUNK // (n_lat * n_lon))
        for start in range(0, i.size, per_chunk):
            ii, jj = i[start : start + per_chunk], j[start : start + per_chunk]
            lat_e = lat_lo[ii] + (lat_hi[ii] - lat_lo[ii]) * step_lat
            lon_e = lon_lo[0, jj][:, None] + (lon_hi[0, jj] - lon_lo[0, jj])[:, None] * step_lon
            lat_s = 0.5 * (lat_e[:, 1:] + lat_e[:, :-1])
            lon_s = 0.5 * (lon_e[:, 1:] + lon_e[:, :-1])
            w_lat = np.diff(np.sin(np.deg2rad(lat_e)), axis=1)
            w_lon = np.deg2rad(np.diff(lon_e, axis=1))
            lat, lon = np.broadcast_arrays(lat_s[:, :, None], lon_s[:, None, :])
            values = _evaluate_cells(self.model, self.grid_frame, lon, lat)
            flux[ii, jj] = np.einsum("kab,ka,kb->k", values, w_lat, w_lon)


# -- the models ----------------------------------------------------------------------------

_LON_0 = Parameter("lon_0", 0.0, "deg")
_LAT_0 = Parameter("lat_0", 0.0, "deg", min=-90, max=90)
_E = Parameter("e", 0.0, "", min=0, max=1, frozen=True)
_PHI = Parameter("phi", 0.0, "deg", min=-180, max=180, frozen=True)


@register_model("spatial")
class PointSpatialModel(SpatialModel):
    """A point source at ``(lon_0, lat_0)``.

    Parameters
    ----------
    lon_0, lat_0 : float
        Position, deg.
    frame : {"icrs", "galactic"}
        Frame of the position.

    Notes
    -----
    A point source has no finite surface brightness: ``evaluate`` returns 0
    (a delta function away from its centre). Use :meth:`integrate_geom`, which
    puts the whole flux in the pixel that contains the source (pixels are
    half-open, ``[lo, hi)`` in lon and lat, so a source on a pixel corner goes
    to the pixel whose lower edges it sits on), or with ``method="bilinear"``
    spreads it over the four nearest pixel centres with Gammapy's
    centroid-preserving weights, which makes the map a continuous function of
    the position (what a position fit needs).
    """

    tags = ("PointSpatialModel", "point")
    parameter_defaults = (_LON_0, _LAT_0)

    @staticmethod
    def evaluate(lon, lat, lon_0, lat_0):
        """Surface brightness, sr-1: zero (a delta function at the centre).

        Parameters
        ----------
        lon, lat : array-like
            Positions, deg.
        lon_0, lat_0 : float
            Centre, deg.
        """
        return 0.0 * angular_separation(lon, lat, lon_0, lat_0)

    @property
    def evaluation_radius(self) -> float:
        """Zero, deg."""
        return 0.0

    @property
    def evaluation_bin_size_min(self) -> float:
        """Zero, deg."""
        return 0.0

    def evaluate_geom(self, geom: xr.DataArray | xr.Dataset) -> xr.DataArray:
        """Mean surface brightness in each pixel, sr-1: ``integrate_geom / solid_angle``."""
        integral = self.integrate_geom(geom)
        sky = solid_angle(geom)
        out = integral / sky
        out.attrs = {"units": "sr-1", "frame": sky.attrs["frame"]}
        return out.rename("surface_brightness")

    def integrate_geom(
        self,
        geom: xr.DataArray | xr.Dataset,
        *,
        oversampling: int | None = None,
        method: Literal["pixel", "bilinear"] = "pixel",
    ) -> xr.DataArray:
        """Fraction of the point source in each pixel of a sky grid.

        Parameters
        ----------
        geom : xarray.DataArray or xarray.Dataset
            Any object with a lon/lat grid (:func:`gammaxr.sky_grid`).
        oversampling : int, optional
            Ignored (a point needs none).
        method : {"pixel", "bilinear"}
            ``"pixel"``: the whole flux in the pixel containing the source.
            ``"bilinear"``: shared between the four nearest pixel centres with
            weights that preserve the centroid (Gammapy's choice).

        Returns
        -------
        xarray.DataArray
            Dims ``(lat, lon)``, dimensionless; sums to 1 when the grid contains
            the source (and, for ``"bilinear"``, its four neighbours).
        """
        sky = solid_angle(geom)
        lon_edges, lat_edges = edges(sky, LON), edges(sky, LAT)
        lon_c, lat_c = self.position_in(sky.attrs["frame"])
        if not lon_edges[0] <= lon_c < lon_edges[-1]:
            lon_c = lon_edges[0] + (lon_c - lon_edges[0]) % 360.0
        out = np.zeros(sky.shape)
        if method == "pixel":
            i = int(np.searchsorted(lat_edges, lat_c, side="right")) - 1
            j = int(np.searchsorted(lon_edges, lon_c, side="right")) - 1
            if 0 <= i < out.shape[0] and 0 <= j < out.shape[1]:
                out[i, j] = 1.0
        elif method == "bilinear":
            lat_index, lat_weight = _linear_weights(lat_c, sky.coords[LAT].to_numpy())
            lon_index, lon_weight = _linear_weights(lon_c, sky.coords[LON].to_numpy())
            np.add.at(
                out, (lat_index[:, None], lon_index[None, :]), np.outer(lat_weight, lon_weight)
            )
        else:
            raise ParameterError(f"method must be 'pixel' or 'bilinear', got {method!r}")
        return _like_sky(sky, out, name="integral", units="")


def _linear_weights(x: float, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights of linear interpolation at ``x`` between pixel centres.

    Neighbours outside the grid are dropped (their weight is lost).
    """
    n = centres.size
    if n == 1:
        return np.array([0]), np.array([1.0])
    i0 = int(np.clip(np.searchsorted(centres, x, side="right") - 1, -1, n - 1))
    lo = centres[i0] if i0 >= 0 else centres[0] - (centres[1] - centres[0])
    hi = centres[i0 + 1] if i0 + 1 < n else centres[-1] + (centres[-1] - centres[-2])
    w1 = (x - lo) / (hi - lo)
    if not 0.0 <= w1 <= 1.0:
        return np.empty(0, dtype=int), np.empty(0)
    index = np.array([i0, i0 + 1])
    weight = np.array([1.0 - w1, w1])
    valid = (index >= 0) & (index < n)
    return index[valid], weight[valid]


@register_model("spatial")
class GaussianSpatialModel(SpatialModel):
    r"""A two-dimensional Gaussian, optionally elongated.

    .. math::
        \phi(\theta) = N \exp\left(-\frac{1 - \cos\theta}{2 (1 - \cos\sigma_\mathrm{eff})}\right)

    with :math:`\theta` the angular separation from the centre and, for
    :math:`e = 0`, :math:`\sigma_\mathrm{eff} = \sigma` and the exact
    normalisation on the sphere :math:`N = 1 / (4\pi a (1 - e^{-1/a}))`,
    :math:`a = 1 - \cos\sigma`. For :math:`e > 0`, :math:`\sigma_\mathrm{eff}`
    is the radius of the ellipse of semi-axes :math:`\sigma` and
    :math:`\sigma\sqrt{1 - e^2}` in the direction of each position, and
    :math:`N = 1 / (2\pi\sigma^2\sqrt{1 - e^2})` (small-angle). Gammapy's
    formula.

    Parameters
    ----------
    lon_0, lat_0 : float
        Centre, deg.
    sigma : float
        Semi-major axis (the Gaussian width along it), deg.
    e : float
        Eccentricity, ``0 <= e < 1``.
    phi : float
        Position angle of the major axis, deg, east of north: 0 elongates
        along the meridian (lat), 90 along increasing lon.
    frame : {"icrs", "galactic"}
        Frame of the centre and of ``phi``.
    """

    tags = ("GaussianSpatialModel", "gauss")
    parameter_defaults = (_LON_0, _LAT_0, Parameter("sigma", 1.0, "deg", min=0), _E, _PHI)

    @staticmethod
    def evaluate(lon, lat, lon_0, lat_0, sigma, e, phi):
        """Surface brightness, sr-1 (positions and angles in deg)."""
        sep = np.deg2rad(angular_separation(lon, lat, lon_0, lat_0))
        sigma_r = np.deg2rad(sigma)
        sigma_eff, minor = _effective_radius(lon, lat, lon_0, lat_0, sigma_r, e, phi)
        a = _one_minus_cos(sigma_eff)
        a_0 = _one_minus_cos(sigma_r)
        norm_circular = 1.0 / (4 * np.pi * a_0 * -np.expm1(-1.0 / a_0))
        norm_elongated = 1.0 / (2 * np.pi * sigma_r * minor)
        norm = np.where(np.asarray(e) == 0, norm_circular, norm_elongated)
        return norm * np.exp(-0.5 * _one_minus_cos(sep) / a)

    @property
    def evaluation_radius(self) -> float:
        """``sigma * sqrt(-2 ln 1e-6)`` (5.3 sigma: all but 1e-6 of the flux), deg."""
        return self.parameters["sigma"].value * math.sqrt(-2 * math.log(TAIL_FRACTION))

    @property
    def evaluation_bin_size_min(self) -> float:
        """An eighth of the semi-minor axis, deg."""
        values = self.parameter_values()
        return values["sigma"] * math.sqrt(1 - values["e"] ** 2) / 8


@register_model("spatial")
class GeneralizedGaussianSpatialModel(SpatialModel):
    r"""A generalised Gaussian, optionally elongated (Gammapy's ``gauss-general``).

    .. math::
        \phi(\theta) = \frac{1}{2\pi\sqrt{1 - e^2}\, r_0^2\, \eta\, \Gamma(2\eta)}
        \exp\left[-\left(\frac{\theta}{r_\mathrm{eff}}\right)^{1/\eta}\right]

    with :math:`r_\mathrm{eff}` the radius of the ellipse of semi-axes
    :math:`r_0` and :math:`r_0\sqrt{1 - e^2}` in the direction of each
    position (small-angle normalisation). ``eta = 0.5`` is a Gaussian of
    :math:`\sigma = r_0/\sqrt2`, ``eta = 1`` a Laplace profile, ``eta -> 0``
    a disk.

    Parameters
    ----------
    lon_0, lat_0 : float
        Centre, deg.
    r_0 : float
        Semi-major axis, deg.
    eta : float
        Shape, ``0.01 <= eta <= 1``.
    e : float
        Eccentricity, ``0 <= e < 1``.
    phi : float
        Position angle of the major axis, deg, east of north.
    frame : {"icrs", "galactic"}
        Frame of the centre and of ``phi``.
    """

    tags = ("GeneralizedGaussianSpatialModel", "gauss-general")
    parameter_defaults = (
        _LON_0,
        _LAT_0,
        Parameter("r_0", 1.0, "deg"),
        Parameter("eta", 0.5, "", min=0.01, max=1.0),
        _E,
        _PHI,
    )

    @staticmethod
    def evaluate(lon, lat, lon_0, lat_0, r_0, eta, e, phi):
        """Surface brightness, sr-1 (positions and angles in deg)."""
        sep = np.deg2rad(angular_separation(lon, lat, lon_0, lat_0))
        r_0 = np.deg2rad(r_0)
        r_eff, minor = _effective_radius(lon, lat, lon_0, lat_0, r_0, e, phi)
        norm = 1.0 / (2 * np.pi * minor * r_0 * eta * scipy.special.gamma(2 * eta))
        return norm * np.exp(-((sep / r_eff) ** (1.0 / eta)))

    @property
    def evaluation_radius(self) -> float:
        """Radius enclosing all but 1e-6 of the flux along the major axis, deg."""
        values = self.parameter_values()
        eta = values["eta"]
        x = scipy.special.gammainccinv(2 * eta, TAIL_FRACTION)
        return values["r_0"] * float(x**eta)

    @property
    def evaluation_bin_size_min(self) -> float:
        """``r_minor * min(1 / (4 + 12 eta), eta / 2)``, deg (resolves the core and the edge)."""
        values = self.parameter_values()
        eta = values["eta"]
        minor = values["r_0"] * math.sqrt(1 - values["e"] ** 2)
        return minor * min(1 / (4 + 12 * eta), eta / 2)


def _disk_norm(r_0, e):
    """One over the solid angle of a spherical ellipse (Gammapy's disk norm), sr-1.

    ``r_0`` is the semi-major axis in rad. The area is ``2 * int_0^pi (1 - cos r(x)) dx``
    with ``1 / sin^2 r(x) = cos^2 x / sin^2 a + sin^2 x / sin^2 b``; the integrand
    is smooth and periodic, so the midpoint rule converges geometrically.
    """
    a = np.asarray(r_0, dtype=float)[..., None]
    b = a * np.sqrt(1.0 - np.asarray(e, dtype=float)[..., None] ** 2)
    x = (np.arange(_DISK_NODES) + 0.5) * (np.pi / _DISK_NODES)
    sin2_r = 1.0 / (np.cos(x) ** 2 / np.sin(a) ** 2 + np.sin(x) ** 2 / np.sin(b) ** 2)
    cap = sin2_r / (1.0 + np.sqrt(1.0 - sin2_r))
    return 1.0 / (2 * np.pi * cap.mean(axis=-1))


@register_model("spatial")
class DiskSpatialModel(SpatialModel):
    r"""A uniform disk, optionally elliptical, with Gammapy's smooth edge.

    .. math::
        \phi(\theta) = \frac{N}{2}\,\mathrm{erfc}\left(
        2.326\,\frac{\theta - r_\mathrm{eff}}{w\, r_\mathrm{eff}}\right)

    where :math:`r_\mathrm{eff}` is the radius of the ellipse of semi-axes
    :math:`r_0` and :math:`r_0\sqrt{1-e^2}` in the direction of each position,
    :math:`w` is ``edge_width`` (the edge falls from 95% to 5% over
    :math:`w\, r_\mathrm{eff}`), and :math:`1/N` is the exact solid angle of the
    spherical ellipse. With ``edge_width = 0`` the edge is a step (a position
    exactly on it gets half), and the disk holds exactly all the flux.

    Parameters
    ----------
    lon_0, lat_0 : float
        Centre, deg.
    r_0 : float
        Semi-major axis, deg.
    e : float
        Eccentricity, ``0 <= e < 1``.
    phi : float
        Position angle of the major axis, deg, east of north.
    edge_width : float
        Width of the smooth edge, as a fraction of the radius (0 to 1).
    frame : {"icrs", "galactic"}
        Frame of the centre and of ``phi``.
    """

    tags = ("DiskSpatialModel", "disk")
    parameter_defaults = (
        _LON_0,
        _LAT_0,
        Parameter("r_0", 1.0, "deg", min=0),
        _E,
        _PHI,
        Parameter("edge_width", 0.01, "", min=0, max=1, frozen=True),
    )

    @staticmethod
    def evaluate(lon, lat, lon_0, lat_0, r_0, e, phi, edge_width):
        """Surface brightness, sr-1 (positions and angles in deg)."""
        sep = angular_separation(lon, lat, lon_0, lat_0)
        r_eff, _ = _effective_radius(lon, lat, lon_0, lat_0, r_0, e, phi)
        norm = _disk_norm(np.deg2rad(r_0), e)
        width = r_eff * edge_width
        smooth = 0.5 * scipy.special.erfc(
            (sep - r_eff) * (_EDGE_WIDTH_95 / where(width > 0, width, 1.0))
        )
        step = np.heaviside(r_eff - sep, 0.5)
        return norm * where(width > 0, smooth, step)

    @property
    def evaluation_radius(self) -> float:
        """``1.1 r_0 (1 + edge_width)`` (Gammapy), deg."""
        values = self.parameter_values()
        return 1.1 * values["r_0"] * (1 + values["edge_width"])

    @property
    def evaluation_bin_size_min(self) -> float:
        """``r_minor * clip(edge_width, 0.01, 0.05) / 2``, deg: resolves the edge."""
        values = self.parameter_values()
        minor = values["r_0"] * math.sqrt(1 - values["e"] ** 2)
        return minor * min(max(values["edge_width"], 0.01), 0.05) / 2

    @property
    def _refine_annuli(self) -> tuple[tuple[float, float], ...]:
        # the edge: between the axes, widened by twice the smooth edge (erfc < 1e-5 beyond)
        values = self.parameter_values()
        r_0, e, width = values["r_0"], values["e"], values["edge_width"]
        minor = r_0 * math.sqrt(1 - e**2)
        return ((minor * (1 - 2 * width), r_0 * (1 + 2 * width)),)

    @property
    def _coarse_bin_size(self) -> float:
        # constant inside and zero outside the edge: a quarter of the minor axis is plenty
        values = self.parameter_values()
        return values["r_0"] * math.sqrt(1 - values["e"] ** 2) / 4


@register_model("spatial")
class ShellSpatialModel(SpatialModel):
    r"""A uniformly emitting spherical shell, projected (Gammapy's ``shell``).

    .. math::
        \phi(\theta) = \frac{3}{2\pi (r_\mathrm{out}^3 - r_\mathrm{in}^3)}
        \left(\sqrt{r_\mathrm{out}^2 - \theta^2} - \sqrt{r_\mathrm{in}^2 - \theta^2}\right)

    with each square root taken as 0 where its argument is negative,
    :math:`r_\mathrm{in}` = ``radius`` and :math:`r_\mathrm{out}` =
    ``radius + width`` (small-angle normalisation).

    Parameters
    ----------
    lon_0, lat_0 : float
        Centre, deg.
    radius : float
        Inner radius, deg.
    width : float
        Shell thickness, deg.
    frame : {"icrs", "galactic"}
        Frame of the centre.
    """

    tags = ("ShellSpatialModel", "shell")
    parameter_defaults = (
        _LON_0,
        _LAT_0,
        Parameter("radius", 1.0, "deg"),
        Parameter("width", 0.2, "deg"),
    )

    @staticmethod
    def evaluate(lon, lat, lon_0, lat_0, radius, width):
        """Surface brightness, sr-1 (positions and angles in deg)."""
        return _shell(lon, lat, lon_0, lat_0, np.deg2rad(radius), np.deg2rad(radius + width))

    @property
    def evaluation_radius(self) -> float:
        """The outer radius, deg."""
        values = self.parameter_values()
        return values["radius"] + values["width"]

    @property
    def evaluation_bin_size_min(self) -> float:
        """A twelfth of the width, deg (used near the inner and outer radii)."""
        return self.parameters["width"].value / 12

    @property
    def _refine_annuli(self) -> tuple[tuple[float, float], ...]:
        values = self.parameter_values()
        return _shell_annuli(values["radius"], values["radius"] + values["width"])

    @property
    def _coarse_bin_size(self) -> float:
        return self.parameters["width"].value / 3


def _shell_annuli(r_in: float, r_out: float) -> tuple[tuple[float, float], ...]:
    """Where a shell profile has its square-root edges: from 2 widths inside to half outside."""
    width = r_out - r_in
    return ((r_in - 2 * width, r_out + 0.5 * width),)


def _shell(lon, lat, lon_0, lat_0, r_in, r_out):
    sep = np.deg2rad(angular_separation(lon, lat, lon_0, lat_0))
    norm = 3.0 / (2 * np.pi * (r_out**3 - r_in**3))
    sep2 = sep**2
    return norm * (
        np.sqrt(np.maximum(r_out**2 - sep2, 0.0)) - np.sqrt(np.maximum(r_in**2 - sep2, 0.0))
    )


@register_model("spatial")
class Shell2SpatialModel(SpatialModel):
    """A projected shell given by its outer radius and relative width (Gammapy's ``shell2``).

    The profile of :class:`ShellSpatialModel` with ``r_out = r_0`` and
    ``r_in = (1 - eta) * r_0``.

    Parameters
    ----------
    lon_0, lat_0 : float
        Centre, deg.
    r_0 : float
        Outer radius, deg.
    eta : float
        Shell width as a fraction of the outer radius, ``0.02 <= eta <= 1``
        (``r_in / r_out = 1 - eta``).
    frame : {"icrs", "galactic"}
        Frame of the centre.
    """

    tags = ("Shell2SpatialModel", "shell2")
    parameter_defaults = (
        _LON_0,
        _LAT_0,
        Parameter("r_0", 1.0, "deg"),
        Parameter("eta", 0.2, "", min=0.02, max=1),
    )

    @staticmethod
    def evaluate(lon, lat, lon_0, lat_0, r_0, eta):
        """Surface brightness, sr-1 (positions and angles in deg)."""
        r_out = np.deg2rad(r_0)
        return _shell(lon, lat, lon_0, lat_0, (1 - eta) * r_out, r_out)

    @property
    def evaluation_radius(self) -> float:
        """The outer radius, deg."""
        return self.parameters["r_0"].value

    @property
    def evaluation_bin_size_min(self) -> float:
        """A twelfth of the width ``eta * r_0``, deg (used near the inner and outer radii)."""
        values = self.parameter_values()
        return values["eta"] * values["r_0"] / 12

    @property
    def _refine_annuli(self) -> tuple[tuple[float, float], ...]:
        values = self.parameter_values()
        return _shell_annuli((1 - values["eta"]) * values["r_0"], values["r_0"])

    @property
    def _coarse_bin_size(self) -> float:
        values = self.parameter_values()
        return values["eta"] * values["r_0"] / 3


@register_model("spatial")
class ConstantSpatialModel(SpatialModel):
    """A constant surface brightness over the whole sky (not normalised).

    Parameters
    ----------
    value : float
        Surface brightness, sr-1 (frozen by default).
    """

    tags = ("ConstantSpatialModel", "const")
    parameter_defaults = (Parameter("value", 1.0, "sr-1", frozen=True),)
    is_normalized = False

    @staticmethod
    def evaluate(lon, lat, value):
        """Surface brightness ``value``, sr-1, broadcast to the positions."""
        return value + 0.0 * (lon + lat)

    def integrate_geom(
        self, geom: xr.DataArray | xr.Dataset, *, oversampling: int | None = None
    ) -> xr.DataArray:
        """``value`` times the exact solid angle of each pixel (dimensionless).

        Parameters
        ----------
        geom : xarray.DataArray or xarray.Dataset
            Any object with a lon/lat grid (:func:`gammaxr.sky_grid`).
        oversampling : int, optional
            Ignored (a constant needs none).
        """
        sky = solid_angle(geom)
        return _like_sky(
            sky, self.parameters["value"].value * sky.to_numpy(), name="integral", units=""
        )


@register_model("spatial")
class TemplateSpatialModel(SpatialModel):
    """A sky map used as a spatial template, interpolated between its pixel centres.

    Parameters
    ----------
    template : xarray.DataArray
        Dims ``(lat, lon)`` with edges (``lon_lo`` ...) and a frame, as built
        on :func:`gammaxr.sky_grid`. Kept as the model's state (read-only).
    normalize : bool
        Scale the map so that it integrates to 1, Gammapy's way: each pixel
        value is taken as the flux in the pixel, ``value / sum / solid_angle``.
        If False the map must be a surface brightness (units convertible to
        sr-1; none given means sr-1).
    interp : {"log", "lin"}
        Bilinear interpolation of the log of the values (Gammapy's default for
        sky maps; zeros are clipped to the smallest float, as Gammapy does) or
        of the values.
    filename : str
        File the template comes from, for model files (not part of equality).
    lon_0, lat_0 : float or Parameter, optional
        Centre, deg (default: the centre of the map; frozen). Moving it shifts
        the template in lon and lat (Gammapy's planar shift, good near the map
        centre).

    Notes
    -----
    Inside the outer half-pixel border of the map the value of the nearest
    pixel centre is used (Gammapy returns 0 there); outside the map the model
    is 0. Energy-dependent templates are not supported yet.
    """

    tags = ("TemplateSpatialModel", "template")
    parameter_defaults = (
        Parameter("lon_0", 0.0, "deg", frozen=True),
        Parameter("lat_0", 0.0, "deg", min=-90, max=90, frozen=True),
    )

    def __init__(
        self,
        template: xr.DataArray,
        *,
        normalize: bool = True,
        interp: Literal["log", "lin"] = "log",
        filename: str = "",
        **values: Any,
    ) -> None:
        if not isinstance(template, xr.DataArray):
            raise DimensionError(
                f"TemplateSpatialModel: template must be an xarray.DataArray, "
                f"got {type(template).__name__}"
            )
        require_dims(template, (LAT, LON), what="spatial template")
        if set(template.dims) != {LAT, LON}:
            raise DimensionError(
                f"spatial template: dims must be exactly (lat, lon), got {template.dims}; "
                "energy-dependent templates are not supported"
            )
        if interp not in ("log", "lin"):
            raise ParameterError(f"interp must be 'log' or 'lin', got {interp!r}")
        frame = sky_frame(template)
        lon_edges, lat_edges = edges(template, LON), edges(template, LAT)
        sky = solid_angle(template)
        template = template.transpose(LAT, LON)
        if normalize:
            data = np.asarray(template.to_numpy(), dtype=float)
            _check_template(data)
            total = data.sum()
            if not total > 0:
                raise ParameterError("spatial template: the map sums to zero")
            data = data / total / sky.to_numpy()
        else:
            if not template.attrs.get("units"):
                template = template.assign_attrs(units="sr-1")
            data = np.asarray(
                require_units(template, "sr-1", what="spatial template").to_numpy(), dtype=float
            )
            _check_template(data)
        data.setflags(write=False)
        self._data = data
        self._lon_edges = lon_edges
        self._lat_edges = lat_edges
        self._lon_centres = np.asarray(template.coords[LON].to_numpy(), dtype=float)
        self._lat_centres = np.asarray(template.coords[LAT].to_numpy(), dtype=float)
        self._lon_mid = 0.5 * (lon_edges[0] + lon_edges[-1])
        self._lat_mid = 0.5 * (lat_edges[0] + lat_edges[-1])
        self._interp = interp
        self._normalize = bool(normalize)
        self.filename = filename
        if interp == "log":
            tiny = np.finfo(float).tiny
            self._table = np.log(np.clip(data, tiny, None))
        else:
            self._table = data
        values.setdefault("lon_0", self._lon_mid)
        values.setdefault("lat_0", self._lat_mid)
        super().__init__(frame=frame, **values)

    @property
    def template(self) -> xr.DataArray:
        """The (normalised) template map, sr-1, dims ``(lat, lon)``."""
        sky = solid_angle(
            xr.Dataset(
                coords={
                    LON: (LON, self._lon_centres),
                    LAT: (LAT, self._lat_centres),
                    "lon_lo": (LON, self._lon_edges[:-1]),
                    "lon_hi": (LON, self._lon_edges[1:]),
                    "lat_lo": (LAT, self._lat_edges[:-1]),
                    "lat_hi": (LAT, self._lat_edges[1:]),
                },
                attrs={"frame": self._frame},
            )
        )
        return _like_sky(sky, self._data.copy(), name="template", units="sr-1")

    @property
    def normalize(self) -> bool:
        """Whether the template was normalised on construction."""
        return self._normalize

    @property
    def interp(self) -> str:
        """The interpolation scale, ``"log"`` or ``"lin"``."""
        return self._interp

    def _extra_state(self) -> Mapping[str, Any]:
        return {
            "frame": self._frame,
            "interp": self._interp,
            "data": (self._data.shape, self._data.tobytes()),
            "lon_edges": self._lon_edges.tobytes(),
            "lat_edges": self._lat_edges.tobytes(),
        }

    def evaluate(self, lon, lat, lon_0, lat_0):
        """Surface brightness, sr-1: the template interpolated at the positions (deg).

        Unlike the analytic models, this needs the template, so it is a method
        of the model rather than a static function. Works on numpy and xarray
        (dask-backed xarray is evaluated block by block).
        """
        lon = lon - (lon_0 - self._lon_mid)
        lat = lat - (lat_0 - self._lat_mid)
        if is_xarray(lon, lat):
            return xr.apply_ufunc(
                self._interpolate, lon, lat, dask="parallelized", output_dtypes=[float]
            )
        return self._interpolate(lon, lat)

    def _interpolate(self, lon, lat) -> np.ndarray:
        lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        lon = _wrap_near(lon, self._lon_mid)
        inside = (
            (lon >= self._lon_edges[0])
            & (lon <= self._lon_edges[-1])
            & (lat >= self._lat_edges[0])
            & (lat <= self._lat_edges[-1])
        )
        i0, i1, wi = _bracket(lat, self._lat_centres)
        j0, j1, wj = _bracket(lon, self._lon_centres)
        table = self._table
        value = (1 - wi) * ((1 - wj) * table[i0, j0] + wj * table[i0, j1]) + wi * (
            (1 - wj) * table[i1, j0] + wj * table[i1, j1]
        )
        if self._interp == "log":
            tiny = np.finfo(float).tiny
            value = np.exp(value)
            value = np.where(value - tiny <= tiny, 0.0, value)
        return np.where(inside, np.clip(value, 0.0, None), 0.0)

    @property
    def evaluation_radius(self) -> float:
        """Largest separation between the centre and a corner of the map, deg."""
        values = self.parameter_values()
        shift_lon = values["lon_0"] - self._lon_mid
        shift_lat = values["lat_0"] - self._lat_mid
        lon = np.array(self._lon_edges[[0, -1, 0, -1]]) + shift_lon
        lat = np.array(self._lat_edges[[0, 0, -1, -1]]) + shift_lat
        separation = angular_separation(values["lon_0"], values["lat_0"], lon, lat)
        return float(np.max(separation)) * (1 + 1e-9) + 1e-9

    @property
    def evaluation_bin_size_min(self) -> float:
        """Half the smallest pixel size of the template, deg."""
        size = min(np.min(np.diff(self._lat_edges)), np.min(np.diff(self._lon_edges)))
        return 0.5 * float(size)

    def integrate_geom(
        self, geom: xr.DataArray | xr.Dataset, *, oversampling: int | None = None
    ) -> xr.DataArray:
        """Fraction of the template in each pixel of a sky grid.

        On the template's own grid (same frame and pixels, centre not moved)
        this is exactly the template times the pixel solid angles; otherwise
        the interpolated template is integrated as in
        :meth:`SpatialModel.integrate_geom`, with sub-pixels of at most half a
        template pixel.

        Parameters
        ----------
        geom : xarray.DataArray or xarray.Dataset
            Any object with a lon/lat grid (:func:`gammaxr.sky_grid`).
        oversampling : int, optional
            Sub-pixels per pixel and per axis, instead of the automatic choice.

        Returns
        -------
        xarray.DataArray
            Dims ``(lat, lon)``, dimensionless.
        """
        sky = solid_angle(geom)
        values = self.parameter_values()
        same = (
            oversampling is None
            and sky.attrs["frame"] == self._frame
            and values["lon_0"] == self._lon_mid
            and values["lat_0"] == self._lat_mid
            and np.array_equal(edges(sky, LON), self._lon_edges)
            and np.array_equal(edges(sky, LAT), self._lat_edges)
        )
        if same:
            return _like_sky(sky, self._data * sky.to_numpy(), name="integral", units="")
        return super().integrate_geom(geom, oversampling=oversampling)


def _check_template(data: np.ndarray) -> None:
    if not np.all(np.isfinite(data)):
        raise ParameterError("spatial template: the map has NaN or infinite values; fill them")
    if np.any(data < 0):
        raise ParameterError("spatial template: the map has negative values; clip them")


def _bracket(x: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbouring centre indices and linear weight; clamped to the first/last centre."""
    n = centres.size
    position = np.interp(x, centres, np.arange(n, dtype=float)) if n > 1 else np.zeros(x.shape)
    i0 = np.clip(np.floor(position).astype(int), 0, max(n - 2, 0))
    i1 = np.minimum(i0 + 1, n - 1)
    return i0, i1, position - i0
