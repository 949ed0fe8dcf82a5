"""Ring background: an off measurement for every pixel of a map dataset.

For each pixel the off region is a ring around it. With ``x * (1 - excluded)``
convolved with the ring kernel written ``ring(x)``:

* ``counts_off = ring(counts)``,
* ``acceptance = background`` (the IRF background template),
* ``acceptance_off = ring(background)``,

so that ``alpha = acceptance / acceptance_off`` and the background estimate of a
pixel is ``alpha * counts_off``: the template renormalised to the counts in
the ring. These are the semantics of Gammapy's ``RingBackgroundMaker`` (v2.1):
counts and background are used with no regard to the safe mask, and
``mask_safe`` becomes False where ``acceptance_off`` is not positive.

The ring kernel holds 1 on the pixels whose centre lies at an angular
distance ``r_in <= d <= r_in + width`` from the central pixel (Gammapy's
``Ring2DKernel``, evaluated at pixel centres, peak-normalised). gammaxr's sky
grid has equal steps in lon and lat, so the kernel is computed with true
angular distances at the latitude of the grid centre (Gammapy counts in
pixels, which is the same only for square pixels); convolution with one
kernel makes the ring slightly elliptical away from that latitude (by
``cos(lat) / cos(lat_centre)``, about 2 % at 2.5 deg from it at Dec 22 deg),
which changes the ring area but not the consistency of ``counts_off`` and
``acceptance_off``. Convolutions use FFTs over ``(lat, lon)``, vectorised over
every other dim (``energy``, ``obs_id``), and are lazy on dask input (chunks
must span ``lat`` and ``lon``); sky outside the map counts as empty.

The adaptive ring (Gammapy's ``AdaptiveRingBackgroundMaker``) grows the ring
until the on/off exposure ratio of a ``theta`` disk, ``alpha_theta =
tophat_theta(background) / acceptance_off``, is at most ``threshold_alpha``.
All rings are computed as one stack and each pixel (and energy bin) takes the
first that reaches the threshold; where none does, ``counts_off`` and
``acceptance_off`` are 0 and ``mask_safe`` is False (Gammapy leaves NaN).
Unlike Gammapy, the output ``acceptance`` stays the per-pixel ``background``
(Gammapy stores the ``theta``-disk sum, which makes ``alpha * counts_off`` the
background of a disk rather than of the pixel).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.fft
import xarray as xr

from gammaxr.axes import sky_frame
from gammaxr.conventions import LAT, LON, edges, require_dims
from gammaxr.exceptions import ConfigError, DimensionError
from gammaxr.reduce.off_regions import _Exclusion

__all__ = ["make_adaptive_ring_background", "make_ring_background", "ring_kernel"]

# Pixels within this relative distance of a ring edge are on the ring (absorbs the
# rounding of radii that are whole numbers of pixels, as Gammapy counts them).
_EDGE_RTOL = 1e-9
# FFT round-off: sums below this fraction of (largest input x kernel size) are zero.
_FFT_RTOL = 1e-10


def _grid_steps(geom: xr.Dataset | xr.DataArray) -> tuple[float, float, float, float]:
    """``(lon_centre, lat_centre, dlon, dlat)`` of a regular sky grid, deg."""
    lon_edges, lat_edges = edges(geom, LON), edges(geom, LAT)
    dlon, dlat = np.diff(lon_edges), np.diff(lat_edges)
    if not (np.allclose(dlon, dlon[0], rtol=1e-6) and np.allclose(dlat, dlat[0], rtol=1e-6)):
        raise DimensionError("ring background: the sky grid must have constant lon and lat steps")
    return (
        0.5 * (lon_edges[0] + lon_edges[-1]),
        0.5 * (lat_edges[0] + lat_edges[-1]),
        float(dlon[0]),
        float(dlat[0]),
    )


def _distances(geom: xr.Dataset | xr.DataArray, radius: float) -> np.ndarray:
    """Distance (deg) of the pixel offsets within ``radius`` from the central pixel.

    An odd-sized ``(2 n_lat + 1, 2 n_lon + 1)`` array; entry ``[n_lat + i, n_lon + j]``
    is ``hypot(i dlat, j dlon cos(lat_c))``: the angular distance of the offset
    at the grid centre latitude ``lat_c``, in the flat-sky approximation (which
    is exact to a relative ``radius**2 / 12``, 3e-5 for 1 deg, and gives
    Gammapy's pixel distances for square pixels).
    """
    _, lat_c, dlon, dlat = _grid_steps(geom)
    cos_lat = np.cos(np.deg2rad(lat_c))
    n_lat = int(np.ceil(radius / dlat))
    n_lon = int(np.ceil(radius / (dlon * cos_lat)))
    lat = dlat * np.arange(-n_lat, n_lat + 1)[:, np.newaxis]
    lon = dlon * cos_lat * np.arange(-n_lon, n_lon + 1)[np.newaxis, :]
    return np.hypot(lat, lon)


def ring_kernel(
    geom: xr.Dataset | xr.DataArray, *, r_in: float, width: float, size: float | None = None
) -> np.ndarray:
    """The ring kernel of a sky grid: 1 where ``r_in <= d <= r_in + width``, else 0.

    Parameters
    ----------
    geom : xarray.Dataset or xarray.DataArray
        A regular sky grid (``lon``, ``lat`` with edges).
    r_in : float
        Inner radius, deg.
    width : float
        Ring width, deg.
    size : float, optional
        Radius of the kernel array, deg (default ``r_in + width``).

    Returns
    -------
    numpy.ndarray
        Float ``(lat offset, lon offset)`` array of odd sizes, centred on its
        middle element; ``d`` is the angular distance of the pixel offset
        from the grid centre (see the module docstring).
    """
    if r_in < 0 or not width > 0:
        raise ConfigError(f"ring: need r_in >= 0 and width > 0, got r_in={r_in}, width={width}")
    distance = _distances(geom, max(r_in + width, size or 0.0))
    r_out = r_in + width
    inside = (distance >= r_in * (1 - _EDGE_RTOL)) & (distance <= r_out * (1 + _EDGE_RTOL))
    return inside.astype(np.float64)


def _tophat_kernel(geom: xr.Dataset | xr.DataArray, radius: float) -> np.ndarray:
    """1 where ``d <= radius`` (Gammapy's ``Tophat2DKernel``, peak-normalised)."""
    if not radius > 0:
        raise ConfigError(f"theta must be positive, got {radius}")
    return (_distances(geom, radius) <= radius * (1 + _EDGE_RTOL)).astype(np.float64)


def _correlate(values: np.ndarray, kernel: np.ndarray, *, scale_axes: int = 0) -> np.ndarray:
    """``sum_q kernel[q - p] values[q]`` over the last two axes, zero outside (FFT).

    The kernel's leading axes broadcast against those of ``values``. Sums
    below ``_FFT_RTOL`` x (largest input x kernel size) are round-off and set
    to zero; the largest input is taken over everything but the first
    ``scale_axes`` axes (which stack independent inputs).
    """
    kernel = kernel[..., ::-1, ::-1]
    kernel = kernel.reshape((1,) * (values.ndim - kernel.ndim) + kernel.shape)
    # "same" mode crops every axis to the first input's shape: broadcast it first.
    leading = np.broadcast_shapes(values.shape[:-2], kernel.shape[:-2])
    values = np.broadcast_to(values, leading + values.shape[-2:])
    result = _fftconvolve_same(values, kernel)
    reduce_axes = tuple(range(scale_axes, values.ndim))
    largest = np.max(np.abs(values), axis=reduce_axes, initial=0.0, keepdims=True)
    scale = largest * np.max(np.sum(kernel, axis=(-2, -1)))
    return np.where(np.abs(result) <= _FFT_RTOL * scale, 0.0, result)


def _fftconvolve_same(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolution over the last two axes by real FFTs, cropped to ``values``' shape, centred.

    The arithmetic of ``scipy.signal.fftconvolve(..., mode="same")`` (transforms
    at the next fast lengths of the full size, the centred crop), without
    importing ``scipy.signal`` (which imports ``scipy.stats``: ~0.8 s).
    """
    (ny, nx), (ky, kx) = values.shape[-2:], kernel.shape[-2:]
    full = (ny + ky - 1, nx + kx - 1)
    fshape = tuple(scipy.fft.next_fast_len(n, True) for n in full)
    spectrum = scipy.fft.rfft2(values, fshape, axes=(-2, -1))
    spectrum = spectrum * scipy.fft.rfft2(kernel, fshape, axes=(-2, -1))
    result = scipy.fft.irfft2(spectrum, fshape, axes=(-2, -1))[..., : full[0], : full[1]]
    y0, x0 = (full[0] - ny) // 2, (full[1] - nx) // 2
    return result[..., y0 : y0 + ny, x0 : x0 + nx].copy()


def _exclusion_on(dataset: xr.Dataset, exclusion_mask: xr.DataArray | None) -> xr.DataArray:
    """Boolean ``(lat, lon)`` of the dataset's pixels whose centre is excluded."""
    lat, lon = dataset[LAT].values, dataset[LON].values
    if exclusion_mask is None:
        values = np.zeros((lat.size, lon.size), dtype=bool)
    else:
        values = _Exclusion(exclusion_mask).on_grid(lon, lat, sky_frame(dataset))
    return xr.DataArray(values, dims=(LAT, LON))


def _check(dataset: xr.Dataset) -> None:
    require_dims(dataset, (LAT, LON), what="ring background dataset")
    for name in ("counts", "background"):
        if name not in dataset:
            raise DimensionError(f"ring background: the dataset has no {name!r} variable")


def _ring_kernel_apply(counts, background, excluded, *, kernel):
    keep = ~excluded
    shape = np.broadcast_shapes(counts.shape, background.shape)
    # both maps in one FFT call: the kernel is transformed once
    both = np.stack([np.broadcast_to(a * keep, shape) for a in (counts, background)])
    correlated = _correlate(both, kernel, scale_axes=1)
    counts_off = np.rint(correlated[0]).astype(np.int64)
    acceptance_off = correlated[1].astype(np.float32)
    return counts_off, acceptance_off


def _assemble(dataset, counts_off, acceptance_off, attrs) -> xr.Dataset:
    """The dataset with the off variables and the safe mask restricted to off acceptance.

    ``counts_off`` and ``acceptance_off`` are Variables on the dims of ``counts``.
    The result is built in one constructor call from the dataset's variables
    (no alignment: every variable is on the dataset's own coordinates).
    """
    dims = dataset["counts"].dims
    has_off = acceptance_off > 0
    mask = has_off
    if "mask_safe" in dataset:
        mask = (dataset["mask_safe"].variable & has_off).transpose(*dims)
    variables = {name: da.variable for name, da in dataset.data_vars.items()}
    variables.update(
        counts_off=counts_off,
        acceptance=dataset["background"].variable.astype(np.float32),
        acceptance_off=acceptance_off,
        mask_safe=mask,
    )
    for name in ("counts_off", "acceptance", "acceptance_off", "mask_safe"):
        variables[name].attrs = {"units": ""}
    coords = {name: c.variable for name, c in dataset.coords.items()}
    return xr.Dataset(variables, coords=coords, attrs={**dataset.attrs, **attrs})


def make_ring_background(
    dataset: xr.Dataset,
    *,
    r_in: float,
    width: float,
    exclusion_mask: xr.DataArray | None = None,
) -> xr.Dataset:
    """Ring background estimate for every pixel of a map dataset.

    Parameters
    ----------
    dataset : xarray.Dataset
        Map dataset with ``counts`` and ``background`` on ``(..., lat, lon)``
        (e.g. :func:`gammaxr.reduce.make_map_dataset`; any other dims such as
        ``energy`` or ``obs_id`` are handled bin by bin).
    r_in : float
        Inner ring radius, deg.
    width : float
        Ring width, deg.
    exclusion_mask : xarray.DataArray, optional
        Boolean ``(lat, lon)``, True where EXCLUDED (sources): those pixels
        add nothing to ``counts_off`` and ``acceptance_off``. Looked up at
        the dataset's pixel centres (nearest pixel; off the mask: not
        excluded).

    Returns
    -------
    xarray.Dataset
        A copy with ``counts_off`` (int64), ``acceptance`` (the background,
        float32) and ``acceptance_off`` (float32) on the dims of ``counts``,
        ``mask_safe`` False where ``acceptance_off <= 0``, and attrs
        ``off_method = "ring"``, ``ring_r_in``, ``ring_width`` (deg).

    Examples
    --------
    >>> import gammaxr as gx
    >>> from gammaxr.reduce import make_map_dataset, make_ring_background
    >>> obs = gx.open_datastore().observation(23523)
    >>> geom = gx.make_geom(
    ...     gx.energy_axis(1, 10, nbin=2),
    ...     gx.energy_axis(0.5, 20, nbin=4, name="energy_true"),
    ...     sky=gx.sky_grid((83.633, 22.014), width=3, binsz=0.05),
    ... )
    >>> ds = make_ring_background(make_map_dataset(obs, geom), r_in=0.5, width=0.3)
    >>> ds.counts_off.dims
    ('energy', 'lat', 'lon')
    """
    _check(dataset)
    kernel = ring_kernel(dataset, r_in=r_in, width=width)
    excluded = _exclusion_on(dataset, exclusion_mask)
    order = dataset["counts"].dims
    attrs = {"off_method": "ring", "ring_r_in": float(r_in), "ring_width": float(width)}
    counts, background = dataset["counts"], dataset["background"].transpose(*order)
    if not (_is_dask(counts.data) or _is_dask(background.data)):
        # in memory: the sky dims last, one numpy call
        sky_last = [d for d in order if d not in (LAT, LON)] + [LAT, LON]
        counts_off, acceptance_off = _ring_kernel_apply(
            counts.transpose(*sky_last).to_numpy().astype(np.float64),
            background.transpose(*sky_last).to_numpy().astype(np.float64),
            excluded.to_numpy(),
            kernel=kernel,
        )
        off = xr.Variable(sky_last, counts_off).transpose(*order)
        acceptance = xr.Variable(sky_last, acceptance_off).transpose(*order)
        return _assemble(dataset, off, acceptance, attrs)
    counts_off, acceptance_off = xr.apply_ufunc(
        _ring_kernel_apply,
        counts.astype(np.float64),
        background.astype(np.float64),
        excluded,
        input_core_dims=[[LAT, LON]] * 3,
        output_core_dims=[[LAT, LON]] * 2,
        kwargs={"kernel": kernel},
        dask="parallelized",
        output_dtypes=[np.int64, np.float32],
    )
    return _assemble(
        dataset,
        counts_off.transpose(*order).variable,
        acceptance_off.transpose(*order).variable,
        attrs,
    )


def _is_dask(data) -> bool:
    return type(data).__module__.startswith("dask")


def _ring_sizes(
    r_in: float, r_out_max: float, width: float, stepsize: float, method: str
) -> list[tuple[float, float]]:
    """``(r_in, width)`` of each ring, in growing order (Gammapy's ``kernels``)."""
    if not stepsize > 0:
        raise ConfigError(f"stepsize must be positive, got {stepsize}")
    if method == "fixed_width":
        rings = [(float(r), width) for r in np.arange(r_in, r_out_max - width, stepsize)]
    elif method == "fixed_r_in":
        rings = [(r_in, float(w)) for w in np.arange(width, r_out_max - r_in, stepsize)]
    else:
        raise ConfigError(f"method must be 'fixed_width' or 'fixed_r_in', got {method!r}")
    if not rings:
        raise ConfigError(
            f"no ring fits: r_in={r_in}, width={width}, r_out_max={r_out_max} deg "
            f"(method {method!r})"
        )
    return rings


def _adaptive_apply(counts, background, excluded, *, kernels, tophat, threshold):
    keep = ~excluded
    stack = kernels.reshape(kernels.shape[:1] + (1,) * (counts.ndim - 2) + kernels.shape[1:])
    counts_off = np.rint(_correlate((counts * keep)[np.newaxis], stack))
    acceptance_off = _correlate((background * keep)[np.newaxis], stack)
    acceptance_theta = _correlate(background, tophat)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(acceptance_off > 0, acceptance_theta / acceptance_off, np.inf)
    reached = alpha <= threshold
    found = reached.any(axis=0)
    first = np.argmax(reached, axis=0)[np.newaxis]
    counts_off = np.take_along_axis(counts_off, first, axis=0)[0]
    acceptance_off = np.take_along_axis(acceptance_off, first, axis=0)[0]
    return (
        np.where(found, counts_off, 0).astype(np.int64),
        np.where(found, acceptance_off, 0.0).astype(np.float32),
    )


def make_adaptive_ring_background(
    dataset: xr.Dataset,
    *,
    r_in: float,
    r_out_max: float,
    width: float,
    stepsize: float = 0.02,
    threshold_alpha: float = 0.1,
    theta: float = 0.22,
    method: Literal["fixed_width", "fixed_r_in"] = "fixed_width",
    exclusion_mask: xr.DataArray | None = None,
) -> xr.Dataset:
    """Adaptive ring background: the smallest ring that gives a small enough alpha.

    Parameters
    ----------
    dataset : xarray.Dataset
        Map dataset with ``counts`` and ``background`` on ``(..., lat, lon)``.
    r_in : float
        Inner radius of the first ring, deg.
    r_out_max : float
        Largest outer radius, deg.
    width : float
        Width of the first ring, deg.
    stepsize : float
        Growth of the ring from one try to the next, deg.
    threshold_alpha : float
        Largest acceptable ``alpha_theta = tophat_theta(background) /
        acceptance_off`` (see the module docstring).
    theta : float
        Radius of the on disk defining ``alpha_theta``, deg.
    method : {"fixed_width", "fixed_r_in"}
        Grow the inner radius at fixed width (rings ``r_in + k stepsize`` while
        the outer radius stays below ``r_out_max``), or the width at fixed
        inner radius (Gammapy's methods).
    exclusion_mask : xarray.DataArray, optional
        Boolean ``(lat, lon)``, True where EXCLUDED.

    Returns
    -------
    xarray.Dataset
        As :func:`make_ring_background`, each pixel and bin with the first
        ring (in growing order) where ``alpha_theta <= threshold_alpha``;
        ``counts_off = acceptance_off = 0`` and ``mask_safe`` False where no
        ring reaches it. Attrs ``off_method = "adaptive_ring"`` and the
        parameters. The stack of rings is held in memory at once:
        ``n_rings x size of counts`` twice, in float64.
    """
    _check(dataset)
    if not threshold_alpha > 0:
        raise ConfigError(f"threshold_alpha must be positive, got {threshold_alpha}")
    rings = _ring_sizes(r_in, r_out_max, width, stepsize, method)
    reach = max(inner + w for inner, w in rings)
    kernels = np.stack([ring_kernel(dataset, r_in=i, width=w, size=reach) for i, w in rings])
    tophat = _tophat_kernel(dataset, theta)
    excluded = _exclusion_on(dataset, exclusion_mask)
    counts_off, acceptance_off = xr.apply_ufunc(
        _adaptive_apply,
        dataset["counts"].astype(np.float64),
        dataset["background"].astype(np.float64),
        excluded,
        input_core_dims=[[LAT, LON]] * 3,
        output_core_dims=[[LAT, LON]] * 2,
        kwargs={"kernels": kernels, "tophat": tophat, "threshold": float(threshold_alpha)},
        dask="parallelized",
        output_dtypes=[np.int64, np.float32],
    )
    order = dataset["counts"].dims
    attrs = {
        "off_method": "adaptive_ring",
        "ring_r_in": float(r_in),
        "ring_r_out_max": float(r_out_max),
        "ring_width": float(width),
        "ring_stepsize": float(stepsize),
        "ring_method": method,
        "threshold_alpha": float(threshold_alpha),
        "theta": float(theta),
    }
    return _assemble(
        dataset,
        counts_off.transpose(*order).variable,
        acceptance_off.transpose(*order).variable,
        attrs,
    )
