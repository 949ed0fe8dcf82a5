"""What forward folding needs from a dataset, in numpy layouts; the folding steps.

Private to :mod:`gammaxr.models.npred` (see its docstring for the conventions).
Arrays carry a leading *batch* axis: the ``obs_id`` dim of a joint dataset, or
length one when a variable has no ``obs_id``; batch axes of length one
broadcast against the others. Spectrum datasets (no ``lat``/``lon``) are
handled as maps of one pixel.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import astropy.units as u
import numpy as np
import xarray as xr

from gammaxr.axes import sky_frame
from gammaxr.conventions import (
    ENERGY,
    ENERGY_TRUE,
    LAT,
    LON,
    OBS_ID,
    RAD,
    edges,
    hi_name,
    lo_name,
    parse_unit,
    require_dims,
)
from gammaxr.exceptions import DimensionError, GammaxrError, UnitError
from gammaxr.models._psf_kernel import KernelTransforms, convolve_full, make_kernel
from gammaxr.models.sky import SkyModel
from gammaxr.models.spatial import PointSpatialModel, SpatialModel, _linear_weights

__all__ = ["Box", "FoldingContext", "FoldingError"]

#: Pixels added on each side of a source's evaluation radius (bilinear point
#: sources spread to the next pixel centre; sub-pixel edges).
MARGIN = 1
#: Spectral integrals kept by :func:`spectral_integral` before it starts afresh.
INTEGRAL_CACHE_SIZE = 64

# (true-energy edges, id of the spectral model) -> (the model, its integral per bin).
# Shared by every folding context: the datasets of a joint fit usually share their
# binning and all see the same model objects at one evaluation. Holding the model
# keeps its id from being reused while the entry lives.
_INTEGRALS: dict[tuple[bytes, int], tuple[object, np.ndarray]] = {}


class FoldingError(GammaxrError, ValueError):
    """A model that cannot be folded with a dataset (missing component, time range, ...)."""


@dataclass(frozen=True)
class Box:
    """A rectangle of pixels: rows ``[y0, y1)``, columns ``[x0, x1)``."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, columns)``."""
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def slices(self) -> tuple[slice, slice]:
        """Row and column slices."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def union(self, other: Box) -> Box:
        """The smallest box holding both."""
        return Box(
            min(self.y0, other.y0),
            max(self.y1, other.y1),
            min(self.x0, other.x0),
            max(self.x1, other.x1),
        )

    def grow(self, dy: int, dx: int, ny: int, nx: int) -> Box:
        """Grown by ``dy`` rows and ``dx`` columns on each side, clipped to ``ny x nx``."""
        return Box(
            max(self.y0 - dy, 0),
            min(self.y1 + dy, ny),
            max(self.x0 - dx, 0),
            min(self.x1 + dx, nx),
        )

    def offset_in(self, outer: Box) -> tuple[slice, slice]:
        """Slices of this box within ``outer`` (which must contain it)."""
        return (
            slice(self.y0 - outer.y0, self.y1 - outer.y0),
            slice(self.x0 - outer.x0, self.x1 - outer.x0),
        )


def _unit_factor(da: xr.DataArray, unit: str, what: str) -> float:
    have = parse_unit(da.attrs.get("units"), where=what)
    try:
        return float(have.to(parse_unit(unit)))
    except u.UnitConversionError as err:
        raise UnitError(
            f"{what}: unit {have.to_string()!r} is not convertible to {unit!r}"
        ) from err


def _batch_first(da: xr.DataArray, dims: Sequence[str], what: str) -> xr.DataArray:
    """``da`` transposed to ``(obs_id?, *dims)``; any other dim is an error."""
    extra = sorted(set(da.dims) - set(dims) - {OBS_ID})
    if extra:
        raise DimensionError(
            f"{what}: unexpected dims {extra}; expected {tuple(dims)} (plus {OBS_ID!r} in the "
            "joint form). PSF and edisp maps are not supported: evaluate them at one position"
        )
    require_dims(da, dims, what=what)
    order = ([OBS_ID] if OBS_ID in da.dims else []) + list(dims)
    return da.transpose(*order)


def _with_batch(values: np.ndarray, has_obs: bool) -> np.ndarray:
    return values if has_obs else values[np.newaxis]


def _energy_edges_tev(ds: xr.Dataset | xr.DataArray, dim: str) -> np.ndarray:
    unit = parse_unit(ds.coords[dim].attrs.get("units", "TeV"), where=dim)
    try:
        factor = float(unit.to("TeV"))
    except u.UnitConversionError as err:
        raise UnitError(f"{dim}: unit {unit.to_string()!r} is not an energy") from err
    return edges(ds, dim) * factor


class FoldingContext:
    """A dataset's exposure, IRFs, background and geometry, ready for folding.

    Parameters
    ----------
    ds : xarray.Dataset
        A map or spectrum dataset (see :mod:`gammaxr.models.npred`).
    copy : bool
        Convert and copy the arrays now (float64, exposure in cm2 s): what a
        cached evaluator wants. Otherwise the dataset's arrays are viewed and
        converted cutout by cutout.
    """

    def __init__(self, ds: xr.Dataset, *, copy: bool = False) -> None:
        if not isinstance(ds, xr.Dataset):
            raise DimensionError(f"expected an xarray.Dataset, got {type(ds).__name__}")
        if "exposure" not in ds.data_vars:
            raise DimensionError("dataset has no 'exposure' variable: nothing to fold with")
        exposure = ds["exposure"]
        self.is_map = LAT in exposure.dims or LON in exposure.dims
        spatial_dims = [LAT, LON] if self.is_map else []
        exposure = _batch_first(exposure, [ENERGY_TRUE, *spatial_dims], "exposure")
        require_dims(ds, (ENERGY,), what="dataset (reconstructed-energy axis)")
        self.ds = ds
        self.has_obs = OBS_ID in ds.dims
        self.n_obs = ds.sizes[OBS_ID] if self.has_obs else 1
        self.energy_true_edges = _energy_edges_tev(ds, ENERGY_TRUE)
        self.energy_edges = _energy_edges_tev(ds, ENERGY)
        self.energy_centres = np.asarray(ds.coords[ENERGY].to_numpy(), dtype=float) * float(
            parse_unit(ds.coords[ENERGY].attrs.get("units", "TeV")).to("TeV")
        )
        self.n_true = self.energy_true_edges.size - 1
        self._edges_key = self.energy_true_edges.tobytes()
        self.n_reco = self.energy_edges.size - 1
        # exposure: (B, T, Y, X), in cm2 s after multiplying by ``exposure_factor``
        factor = _unit_factor(exposure, "cm2 s", "exposure")
        # the data as they are (numpy, or dask: then only the cutouts used are computed)
        values = _with_batch(exposure.data, OBS_ID in exposure.dims)
        if not self.is_map:
            values = values[..., np.newaxis, np.newaxis]
        if copy:
            values = np.asarray(values, dtype=np.float64) * factor
            factor = 1.0
        self._exposure = values
        self._exposure_factor = factor
        self._background: np.ndarray | None = None
        self._background_factor = 1.0
        if "background" in ds.data_vars:
            background = _batch_first(ds["background"], [ENERGY, *spatial_dims], "background")
            self._background_factor = _unit_factor(background, "", "background")
            bkg = _with_batch(background.to_numpy(), OBS_ID in background.dims)
            if not self.is_map:
                bkg = bkg[..., np.newaxis, np.newaxis]
            if copy:
                bkg = np.asarray(bkg, dtype=np.float64) * self._background_factor
                self._background_factor = 1.0
            self._background = bkg
        self.edisp_t = self._edisp(ds)  # (B, E, T): transposed for matmul
        self.psf = None
        if self.is_map:
            self._init_geometry(ds)
            if "psf" in ds.data_vars:
                psf = _batch_first(ds["psf"], [ENERGY_TRUE, RAD], "psf")
                _unit_factor(psf, "sr-1", "psf")
                self.psf = psf
        self._kernel: np.ndarray | None = None
        self._kernel_radius = 0.0
        self._transforms: KernelTransforms | None = None
        self._shared: tuple[np.ndarray, np.ndarray] | None | bool = False  # False: not yet known
        self._shared_kernel: tuple[np.ndarray, KernelTransforms] | None = None
        self._times = self._time_bounds(ds)
        self._times_in_scale: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # -- geometry --------------------------------------------------------------------------

    def _init_geometry(self, ds: xr.Dataset) -> None:
        for dim in (LAT, LON):
            for name in (dim, lo_name(dim), hi_name(dim)):
                if name not in ds.coords:
                    raise DimensionError(f"dataset: sky coordinate {name!r} is missing")
        self.frame = sky_frame(ds if "frame" in ds.attrs else ds.coords[LON])
        self.lon_edges = edges(ds, LON)
        self.lat_edges = edges(ds, LAT)
        self.ny, self.nx = self.lat_edges.size - 1, self.lon_edges.size - 1
        self.dlat = float(np.max(np.diff(self.lat_edges)))
        self.dlon = float(np.max(np.diff(self.lon_edges)))
        self.lon_mid = 0.5 * (self.lon_edges[0] + self.lon_edges[-1])
        self.lon_centres = np.asarray(ds.coords[LON].to_numpy(), dtype=float)
        self.lat_centres = np.asarray(ds.coords[LAT].to_numpy(), dtype=float)
        names = [n for dim in (LAT, LON) for n in (dim, lo_name(dim), hi_name(dim))]
        self.geom = xr.Dataset(
            coords={n: ds.coords[n] for n in names}, attrs={"frame": self.frame}
        )
        self.full_box = Box(0, self.ny, 0, self.nx)

    def support_box(self, spatial: SpatialModel, *, cutout: bool = True) -> Box | None:
        """Pixels within the model's evaluation radius, plus :data:`MARGIN`; None if off the map.

        Models without a centre or an evaluation radius get the whole map,
        and so does every model with ``cutout=False``.
        """
        radius = spatial.evaluation_radius
        if not cutout or radius is None or "lon_0" not in spatial.parameters:
            return self.full_box
        lon_c, lat_c = spatial.position_in(self.frame)
        lon_c = self.lon_mid + ((lon_c - self.lon_mid + 180.0) % 360.0 - 180.0)
        y0, y1 = _index_range(self.lat_edges, lat_c - radius, lat_c + radius)
        span = self.lon_edges[-1] - self.lon_edges[0]
        half = _lon_half_width(lat_c, radius)
        if half is None or span + self.dlon >= 360.0:
            x0, x1 = 0, self.nx
        else:
            x0, x1 = _index_range(self.lon_edges, lon_c - half, lon_c + half)
        box = Box(max(y0, 0), min(y1, self.ny), max(x0, 0), min(x1, self.nx))
        if box.y0 >= box.y1 or box.x0 >= box.x1:
            return None
        return box

    def spatial_fraction(self, spatial: SpatialModel, box: Box) -> np.ndarray:
        """Fraction of the model in each pixel of ``box``: ``(h, w)``.

        Point sources use bilinear weights (continuous in the position).
        """
        if isinstance(spatial, PointSpatialModel):
            return self._point_fraction(spatial, box)
        geom = (
            self.geom
            if box == self.full_box
            else self.geom.isel({LAT: box.slices[0], LON: box.slices[1]})
        )
        values = spatial.integrate_geom(geom)
        return np.asarray(values.transpose(LAT, LON).to_numpy(), dtype=np.float64)

    def _point_fraction(self, spatial: PointSpatialModel, box: Box) -> np.ndarray:
        """``spatial.integrate_geom(geom, method="bilinear")`` on ``box``, without xarray.

        The weights are those of the whole map (the same helper, the same
        longitude wrapping), cut to the box.
        """
        lon_c, lat_c = spatial.position_in(self.frame)
        if not self.lon_edges[0] <= lon_c < self.lon_edges[-1]:
            lon_c = self.lon_edges[0] + (lon_c - self.lon_edges[0]) % 360.0
        lat_index, lat_weight = _linear_weights(lat_c, self.lat_centres)
        lon_index, lon_weight = _linear_weights(lon_c, self.lon_centres)
        out = np.zeros(box.shape)
        rows, cols = lat_index - box.y0, lon_index - box.x0
        keep_rows = (rows >= 0) & (rows < box.shape[0])
        keep_cols = (cols >= 0) & (cols < box.shape[1])
        np.add.at(
            out,
            (rows[keep_rows][:, None], cols[keep_cols][None, :]),
            np.outer(lat_weight[keep_rows], lon_weight[keep_cols]),
        )
        return out

    # -- IRFs ------------------------------------------------------------------------------

    @property
    def kernel(self) -> np.ndarray | None:
        """PSF kernel ``(B, T, ky, kx)`` at the geometry centre, or None without a PSF."""
        if self.psf is None:
            return None
        if self._kernel is None:
            psf = self.psf
            values = _with_batch(
                np.asarray(psf.to_numpy(), dtype=np.float64) * _unit_factor(psf, "sr-1", "psf"),
                OBS_ID in psf.dims,
            )
            rad_unit = float(parse_unit(psf.coords[RAD].attrs.get("units", "deg")).to("deg"))
            rad = np.asarray(psf.coords[RAD].to_numpy(), dtype=float) * rad_unit
            rad_edges = edges(psf, RAD) * rad_unit
            row = self.ny // 2
            self._kernel, self._kernel_radius = make_kernel(
                values,
                rad,
                rad_edges,
                lat_lo=float(self.lat_edges[row]),
                dlat=self.dlat,
                dlon=self.dlon,
            )
            self._transforms = KernelTransforms(self._kernel)
        return self._kernel

    @property
    def kernel_radius(self) -> float:
        """Radius of the PSF kernel, deg (0 without a PSF)."""
        _ = self.kernel
        return self._kernel_radius

    @property
    def kernel_half_sizes(self) -> tuple[int, int]:
        """Half sizes of the kernel in rows and columns (0, 0 without a PSF)."""
        kernel = self.kernel
        if kernel is None:
            return 0, 0
        return (kernel.shape[-2] - 1) // 2, (kernel.shape[-1] - 1) // 2

    def shared_batches(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Batch rows (observations) with the same exposure and PSF kernel, bit for bit.

        Returns ``(unique, inverse)``: one batch row per group of equal rows
        (``unique``, increasing) and the group of every row (``inverse``, so
        that row ``b`` equals row ``unique[inverse[b]]``); None when there is
        one row or every row differs, or when the exposure is not a numpy
        array. A template of exposure x spatial fraction convolved with the
        PSF is then the same for every row of a group: observations with the
        same pointing, livetime and IRFs (a light curve's runs) are convolved
        once. Found once (a hash of each row's bytes, confirmed exactly).
        """
        if self._shared is False:
            self._shared = self._find_shared_batches()
        return self._shared  # type: ignore[return-value]

    def _find_shared_batches(self) -> tuple[np.ndarray, np.ndarray] | None:
        exposure, kernel = self._exposure, self.kernel
        if not isinstance(exposure, np.ndarray):
            return None
        rows = [exposure] if kernel is None else [exposure, kernel]
        n_batch = max(array.shape[0] for array in rows)
        if n_batch == 1:
            return None
        rows = [np.ascontiguousarray(array) for array in rows]

        def row(array: np.ndarray, b: int) -> np.ndarray:
            return array[b if array.shape[0] > 1 else 0]

        groups: dict[tuple[bytes, ...], list[int]] = {}
        inverse = np.empty(n_batch, dtype=np.intp)
        unique: list[int] = []
        for b in range(n_batch):
            key = tuple(
                hashlib.blake2b(row(array, b).data, digest_size=16).digest() for array in rows
            )
            candidates = groups.setdefault(key, [])
            for group in candidates:
                first = unique[group]
                if all(np.array_equal(row(a, b), row(a, first)) for a in rows):
                    inverse[b] = group
                    break
            else:
                candidates.append(len(unique))
                inverse[b] = len(unique)
                unique.append(b)
        if len(unique) == n_batch:
            return None
        return np.array(unique, dtype=np.intp), inverse

    def convolve(
        self, image: np.ndarray, support: Box, box: Box, *, shared: bool = False
    ) -> np.ndarray:
        """PSF-convolve images that are zero outside ``support``, onto ``box``.

        ``image`` is ``(B, T, h_s, w_s)`` on the pixels of ``support``; the
        result is ``(B', T, h, w)`` on ``box``, which must lie within
        ``support`` grown by the kernel's half sizes (and contain ``support``
        when there is no PSF). With ``shared``, ``image`` holds the batch rows
        ``unique`` of :meth:`shared_batches` only, convolved with their kernels.
        """
        kernel = self.kernel
        if kernel is None:
            out = np.zeros(image.shape[:2] + box.shape)
            rows, cols = support.offset_in(box)
            out[:, :, rows, cols] = image
            return out
        transforms = self._transforms
        if shared and kernel.shape[0] > 1:
            if self._shared_kernel is None:
                unique = self.shared_batches()[0]  # type: ignore[index]
                sub = np.ascontiguousarray(kernel[unique])
                self._shared_kernel = (sub, KernelTransforms(sub))
            kernel, transforms = self._shared_kernel
        hy, hx = self.kernel_half_sizes
        full = convolve_full(image, kernel, transforms=transforms)
        y0, x0 = box.y0 - (support.y0 - hy), box.x0 - (support.x0 - hx)
        return full[..., y0 : y0 + box.shape[0], x0 : x0 + box.shape[1]]

    def _edisp(self, ds: xr.Dataset) -> np.ndarray:
        """Migration matrix, transposed: ``(B, E, T)`` float64."""
        if "edisp" in ds.data_vars:
            edisp = _batch_first(ds["edisp"], [ENERGY_TRUE, ENERGY], "edisp")
            factor = _unit_factor(edisp, "", "edisp")
            values = _with_batch(
                np.asarray(edisp.to_numpy(), dtype=np.float64) * factor, OBS_ID in edisp.dims
            )
            return np.ascontiguousarray(np.swapaxes(values, -1, -2))
        # no edisp: the diagonal response (Gammapy's): a true-energy bin goes to the
        # reco bin that holds its centre (the identity when the axes are equal)
        lo, hi = self.energy_true_edges[:-1], self.energy_true_edges[1:]
        centres = np.sqrt(lo * hi)
        index = np.searchsorted(self.energy_edges, centres, side="right") - 1
        matrix = np.zeros((self.n_reco, self.n_true))
        inside = (index >= 0) & (index < self.n_reco)
        matrix[index[inside], np.flatnonzero(inside)] = 1.0
        if self.n_true == self.n_reco and np.allclose(
            self.energy_true_edges, self.energy_edges, rtol=1e-9
        ):
            matrix = np.eye(self.n_true)
        return matrix[np.newaxis]

    @property
    def exposure_factor(self) -> float:
        """Factor from the stored exposure (:meth:`exposure_raw`) to cm2 s."""
        return self._exposure_factor

    def exposure_raw(self, box: Box) -> np.ndarray:
        """Exposure ``(B, T, h, w)`` on ``box`` as stored (cm2 s after :attr:`exposure_factor`)."""
        return np.asarray(self._exposure[..., box.slices[0], box.slices[1]])

    def exposure(self, box: Box | None) -> np.ndarray:
        """Exposure ``(B, T, h, w)`` in cm2 s, float64, on ``box`` (the whole map if None)."""
        values = np.asarray(
            self._exposure if box is None else self._exposure[..., box.slices[0], box.slices[1]]
        )
        if self._exposure_factor == 1.0 and values.dtype == np.float64:
            return values
        return np.asarray(values, dtype=np.float64) * self._exposure_factor

    def background(self) -> np.ndarray | None:
        """Background ``(B, E, Y, X)`` predicted counts (a view when already float64)."""
        if self._background is None:
            return None
        if self._background_factor == 1.0 and self._background.dtype == np.float64:
            return self._background
        return np.asarray(self._background, dtype=np.float64) * self._background_factor

    # -- time ------------------------------------------------------------------------------

    @staticmethod
    def _time_bounds(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, float, str] | None:
        """``(tstart, tstop)`` in s since ``mjdref``, per batch, or None."""
        bounds = []
        for key in ("tstart", "tstop"):
            if key in ds.data_vars:
                var = ds[key]
                unit = _unit_factor(var, "s", key) if var.attrs.get("units") else 1.0
                values = np.asarray(var.to_numpy(), dtype=float).reshape(-1) * unit
            elif key in ds.attrs:
                values = np.array([float(ds.attrs[key])])
            else:
                return None
            bounds.append(values)
        if "mjdref" not in ds.attrs:
            raise FoldingError(
                "dataset has tstart/tstop but no attrs['mjdref'] to place them in time"
            )
        return bounds[0], bounds[1], float(ds.attrs["mjdref"]), str(ds.attrs.get("timesys", "tt"))

    def temporal_norm(self, model: SkyModel) -> np.ndarray | None:
        """Mean norm of the model's temporal component over the dataset's time range: ``(B,)``."""
        temporal = model.temporal
        if temporal is None:
            return None
        if self._times is None:
            raise FoldingError(
                f"model {model.name!r} has a temporal component but the dataset has no time "
                "range (attrs or (obs_id) variables 'tstart'/'tstop' with attrs['mjdref']); "
                "a stacked dataset has none: fold the observations in the joint form"
            )
        scale = temporal.scale
        if scale not in self._times_in_scale:
            self._times_in_scale[scale] = _mjd_in_scale(*self._times, scale)
        t_min, t_max = self._times_in_scale[scale]
        return np.asarray(temporal.integral(t_min, t_max), dtype=float)

    # -- fluxes ----------------------------------------------------------------------------

    def flux(self, model: SkyModel) -> np.ndarray:
        """Flux of the model in each true-energy bin, cm-2 s-1: ``(B, T)``.

        The spectral integral over the bin, times the temporal model's mean
        norm over each observation's time range when there is a temporal model.
        """
        flux = spectral_integral(model.spectral, self.energy_true_edges, self._edges_key)
        norm = self.temporal_norm(model)
        if norm is not None:
            flux = flux * norm.reshape(-1, 1)
        return flux

    # -- output ----------------------------------------------------------------------------

    def output_dims(self, has_obs: bool) -> tuple[str, ...]:
        """Dims of an npred array."""
        spatial = (LAT, LON) if self.is_map else ()
        return ((OBS_ID,) if has_obs else ()) + (ENERGY, *spatial)

    def to_dataarray(self, values: np.ndarray, *, name: str) -> xr.DataArray:
        """Wrap a ``(B, E, Y, X)`` array as a DataArray with the dataset's coordinates.

        The result has an ``obs_id`` dim exactly when the dataset has one (a
        batch of one is then repeated).
        """
        if not self.is_map:
            values = values[..., 0, 0]
        if self.has_obs:
            if values.shape[0] != self.n_obs:
                values = np.repeat(values, self.n_obs, axis=0)
        else:
            values = values[0]
        dims = self.output_dims(self.has_obs)
        coords = {
            key: coord for key, coord in self.ds.coords.items() if set(coord.dims) <= set(dims)
        }
        return xr.DataArray(values, dims=dims, coords=coords, name=name, attrs={"units": ""})


def spectral_integral(spectral, energy_edges: np.ndarray, key: bytes) -> np.ndarray:
    """``spectral.integral`` over the bins of ``energy_edges`` (TeV), ``(1, T)``, read-only.

    Re-used while the same (immutable) model object comes back with the same
    edges (``key``: their bytes), e.g. from the next dataset of a joint fit.
    """
    cache_key = (key, id(spectral))
    hit = _INTEGRALS.get(cache_key)
    if hit is not None and hit[0] is spectral:
        return hit[1]
    flux = np.array(spectral.integral(energy_edges[:-1], energy_edges[1:]), dtype=np.float64)
    flux = flux.reshape(1, -1)
    flux.flags.writeable = False
    if len(_INTEGRALS) >= INTEGRAL_CACHE_SIZE:
        _INTEGRALS.clear()
    _INTEGRALS[cache_key] = (spectral, flux)
    return flux


def _index_range(pixel_edges: np.ndarray, lo: float, hi: float) -> tuple[int, int]:
    """Pixels overlapping ``[lo, hi]``, plus :data:`MARGIN` on each side, not clipped.

    Beyond the grid, indices continue with the outermost pixel size, so a
    range entirely off the grid gives indices off the grid.
    """

    def index(value: float) -> int:
        n = pixel_edges.size - 1
        if value < pixel_edges[0]:
            return int(math.floor((value - pixel_edges[0]) / (pixel_edges[1] - pixel_edges[0])))
        if value >= pixel_edges[-1]:
            step = pixel_edges[-1] - pixel_edges[-2]
            return n + int(math.floor((value - pixel_edges[-1]) / step))
        return int(np.searchsorted(pixel_edges, value, side="right")) - 1

    return index(lo) - MARGIN, index(hi) + 1 + MARGIN


def _lon_half_width(lat_c: float, radius: float) -> float | None:
    """Half-width in lon of a cap of ``radius`` about latitude ``lat_c`` (deg); None: all lon."""
    if radius >= 90.0 - abs(lat_c) or radius >= 180.0:
        return None
    ratio = math.sin(math.radians(radius)) / math.cos(math.radians(lat_c))
    return math.degrees(math.asin(min(1.0, ratio)))


def _mjd_in_scale(
    tstart: np.ndarray, tstop: np.ndarray, mjdref: float, timesys: str, scale: str
) -> tuple[np.ndarray, np.ndarray]:
    """Times in s since ``mjdref`` (in ``timesys``) as MJD in ``scale``."""
    source = timesys.lower()
    if source == scale:
        return mjdref + tstart / 86400.0, mjdref + tstop / 86400.0
    from astropy.time import Time

    out = []
    for seconds in (tstart, tstop):
        time = Time(np.full(seconds.shape, mjdref), seconds / 86400.0, format="mjd", scale=source)
        out.append(np.asarray(getattr(time, scale).mjd, dtype=float))
    return out[0], out[1]


def fold_sources(
    ctx: FoldingContext,
    members: Sequence[tuple[np.ndarray, np.ndarray, Box]],
    box: Box,
) -> np.ndarray:
    """Predicted counts ``(B, E, h, w)`` on ``box`` of sources that share it.

    ``members`` holds each source's flux ``(B, T)`` (cm-2 s-1), spatial
    fraction and its support box (inside ``box``, whose grown supports cover
    ``box``). The sources are summed in true energy on the union of their
    supports, multiplied by the exposure, convolved with the PSF and
    redistributed in energy once for all of them: all three are linear.
    """
    support = members[0][2]
    for _, _, inner in members[1:]:
        support = support.union(inner)
    batch = max(flux.shape[0] for flux, _, _ in members)
    if len(members) == 1:
        flux, fraction, inner = members[0]
        true = np.zeros((batch, ctx.n_true, *support.shape))
        rows, cols = inner.offset_in(support)
        np.multiply(flux[:, :, None, None], fraction, out=true[:, :, rows, cols])
    else:
        # sum_s flux_s(t) fraction_s(p) as one matrix product: (B, T, n) @ (n, P)
        fractions = np.zeros((len(members), *support.shape))
        fluxes = np.empty((batch, ctx.n_true, len(members)))
        for k, (flux, fraction, inner) in enumerate(members):
            rows, cols = inner.offset_in(support)
            fractions[k, rows, cols] = fraction
            fluxes[:, :, k] = flux
        true = np.matmul(fluxes, fractions.reshape(len(members), -1)).reshape(
            batch, ctx.n_true, *support.shape
        )
    exposure = ctx.exposure_raw(support)
    if exposure.shape[0] == batch:
        true *= exposure
    else:
        true = true * exposure
    if ctx.exposure_factor != 1.0:
        true *= ctx.exposure_factor
    return redistribute(ctx, ctx.convolve(true, support, box))


def redistribute(
    ctx: FoldingContext, true: np.ndarray, flux: np.ndarray | None = None
) -> np.ndarray:
    """Apply the migration matrix: ``(B, T, h, w)`` -> ``(B', E, h, w)``.

    With ``flux`` ``(B, T)``, ``true * flux`` is redistributed (the flux
    weights the matrix columns, so no temporary cube is made).
    """
    batch, n_true, h, w = true.shape
    matrix = ctx.edisp_t if flux is None else ctx.edisp_t * flux[:, None, :]
    out = np.matmul(matrix, true.reshape(batch, n_true, h * w))
    return out.reshape(out.shape[0], ctx.n_reco, h, w)


def redistribute_one(ctx: FoldingContext, true: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """:func:`redistribute` of one observation's ``true * flux`` (``(T, h, w)``, ``(T,)``).

    Uses the first observation's migration matrix: ``(E, h, w)``.
    """
    n_true, h, w = true.shape
    matrix = ctx.edisp_t[0] * flux[None, :]
    return (matrix @ true.reshape(n_true, h * w)).reshape(ctx.n_reco, h, w)


def source_boxes(
    ctx: FoldingContext, spatial: SpatialModel | None, *, cutout: bool = True
) -> tuple[Box, Box] | None:
    """A source's support box and its box grown by the PSF kernel; None if off the map."""
    if not ctx.is_map:
        one = Box(0, 1, 0, 1)
        return one, one
    if spatial is None:
        raise FoldingError("a source folded on a map dataset needs a spatial model")
    support = ctx.support_box(spatial, cutout=cutout)
    if support is None:
        return None
    hy, hx = ctx.kernel_half_sizes
    return support, support.grow(hy, hx, ctx.ny, ctx.nx)
