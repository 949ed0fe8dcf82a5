"""PSF kernels on a lon/lat pixel grid and their batched FFT convolution.

Private to :mod:`gammaxr.models.npred`. Everything here works on numpy arrays
with the batch dims first and the two image axes last: ``(..., lat, lon)``.

Kernel construction (:func:`make_kernel`)
    The kernel is built for a source at the centre of one pixel of the grid
    (the reference pixel, on the row of the geometry centre). Its value in the
    pixel offset by ``(i, j)`` rows and columns is the PSF integrated over that
    pixel: every pixel is split into ``f x f`` sub-pixels whose exact solid
    angles weight the PSF at their centres' true angular separation from the
    source. The PSF table ``psf(rad)`` (given at the ``rad`` bin centres, sr-1)
    is interpolated linearly in ``rad`` between the bin centres (Gammapy's
    choice), held at the first value below the first centre and at the last
    one up to the last ``rad`` edge, and is zero beyond. The kernel is cut at
    the radius that contains :data:`CONTAINMENT` of the PSF (the largest over
    the batch and true energies, at most the last ``rad`` edge) and each image
    is normalised to a sum of one, so convolution conserves counts. The
    oversampling ``f`` follows Gammapy: ``ceil(PRECISION / (2 r68 / pixel))``
    with the smallest 68% radius (per observation), at most
    :data:`MAX_OVERSAMPLING`.

    The PSF value at a separation is linear in the table, so the kernel is a
    matrix product: a sparse geometric matrix ``(rad, pixel)`` of
    interpolation weights times solid angles, built once, applied to every
    row of the table at once.

Convolution (:func:`convolve_full`)
    The full convolution over the last two axes, batched over the leading
    ones (kernel batch dims broadcast against the image's): ``scipy.fft`` real
    FFTs zero-padded to a fast length, or, for images with few non-zero
    pixels, a direct sum of shifted kernels. The kernel's transform for a
    padded shape can be kept in a :class:`KernelTransforms` cache.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

#: Fraction of the PSF inside the kernel radius (Gammapy's ``PSF_CONTAINMENT``).
CONTAINMENT = 0.999
#: Sub-pixels per pixel and axis: ``ceil(PRECISION / (2 r68 / pixel))`` (Gammapy: 12).
PRECISION = 12
#: Largest oversampling factor per axis (Gammapy uses 4).
MAX_OVERSAMPLING = 8
#: Largest number of sub-pixel samples of a kernel (the oversampling is lowered to fit).
MAX_SAMPLES = 2**22
#: Cost of one multiply-add of the direct convolution relative to the FFT cost unit.
DIRECT_WEIGHT = 4.0


def containment_radii(psf: np.ndarray, rad_edges: np.ndarray, fraction: float) -> np.ndarray:
    """Radius (deg) containing ``fraction`` of each PSF row, NaN for rows that sum to zero.

    ``psf`` is ``(..., rad)`` in sr-1 on bins with ``rad_edges`` (deg); the
    density is taken as constant in each bin and the cumulative is
    interpolated linearly between edges, relative to the row's total.
    """
    edges_rad = np.deg2rad(rad_edges)
    annulus = 2 * np.pi * -np.diff(np.cos(edges_rad))
    cumulative = np.cumsum(psf * annulus, axis=-1)
    total = cumulative[..., -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.concatenate([np.zeros_like(total), cumulative / total], axis=-1)
    # first edge index where the cumulative reaches the fraction
    upper = np.clip(np.sum(relative < fraction, axis=-1), 1, rad_edges.size - 1)
    c_lo = np.take_along_axis(relative, (upper - 1)[..., None], axis=-1)[..., 0]
    c_hi = np.take_along_axis(relative, upper[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.clip((fraction - c_lo) / (c_hi - c_lo), 0.0, 1.0)
    radius = rad_edges[upper - 1] + np.nan_to_num(step) * (rad_edges[upper] - rad_edges[upper - 1])
    return np.where(total[..., 0] > 0, radius, np.nan)


def kernel_half_sizes(
    radius: float, *, lat_ref: float, dlat: float, dlon: float
) -> tuple[int, int]:
    """Half sizes (rows, columns) of a kernel of ``radius`` deg about latitude ``lat_ref``.

    Pixels whose nearest edge is within ``radius`` of the reference pixel
    centre are included; the column count uses the narrowest pixels (the
    latitude furthest from the equator that the kernel reaches).
    """
    half_lat = int(math.floor(radius / dlat + 0.5))
    far = min(abs(lat_ref) + radius + dlat, 90.0)
    cos_far = math.cos(math.radians(far))
    if cos_far * dlon <= 0 or radius / (dlon * cos_far) > 1e6:
        half_lon = int(math.ceil(180.0 / dlon))
    else:
        half_lon = int(math.floor(radius / (dlon * cos_far) + 0.5))
    return half_lat, half_lon


def oversampling_factor(r68: float, pixel: float) -> int:
    """Gammapy's PSF oversampling: ``ceil(PRECISION / (2 r68 / pixel))``, clipped to [1, max]."""
    if not np.isfinite(r68) or r68 <= 0:
        return MAX_OVERSAMPLING
    return int(min(max(math.ceil(PRECISION * pixel / (2 * r68)), 1), MAX_OVERSAMPLING))


def make_kernel(
    psf: np.ndarray,
    rad: np.ndarray,
    rad_edges: np.ndarray,
    *,
    lat_lo: float,
    dlat: float,
    dlon: float,
    containment: float = CONTAINMENT,
    oversampling: int | None = None,
) -> tuple[np.ndarray, float]:
    """PSF kernel images, normalised to a sum of one each.

    Parameters
    ----------
    psf : numpy.ndarray
        ``(B, T, rad)`` PSF values at the ``rad`` bin centres, sr-1 (``B``:
        observations, ``T``: true energies).
    rad, rad_edges : numpy.ndarray
        ``rad`` bin centres and edges, deg.
    lat_lo : float
        Lower latitude edge of the reference pixel row, deg.
    dlat, dlon : float
        Pixel size in lat and lon (coordinate steps), deg.
    containment : float
        Fraction of the PSF inside the kernel radius.
    oversampling : int, optional
        Sub-pixels per pixel and axis (default: Gammapy's rule, per observation).

    Returns
    -------
    kernel : numpy.ndarray
        ``(B, T, 2 * half_lat + 1, 2 * half_lon + 1)``, float64, each image
        summing to one (a PSF row that is zero gives a unit delta, which
        leaves the counts where they are).
    radius : float
        The kernel radius (the largest over observations), deg.

    Notes
    -----
    Each observation's kernel keeps the pixels whose centre lies within its
    own radius (the largest over its true energies) and uses its own
    oversampling, so that an observation's kernel does not depend on the
    others folded with it.
    """
    psf = np.asarray(psf, dtype=float)
    rad = np.asarray(rad, dtype=float)
    rad_edges = np.asarray(rad_edges, dtype=float)
    lat_c = lat_lo + 0.5 * dlat
    radii = containment_radii(psf, rad_edges, containment)
    with np.errstate(invalid="ignore"):
        per_batch = np.minimum(
            np.nanmax(np.where(np.isfinite(radii), radii, -1.0), axis=-1), rad_edges[-1]
        )
    if not np.any(per_batch >= 0):
        return np.ones(psf.shape[:-1] + (1, 1)), 0.0
    radius = float(np.max(per_batch))
    half_lat, half_lon = kernel_half_sizes(radius, lat_ref=lat_c, dlat=dlat, dlon=dlon)
    n_lat, n_lon = 2 * half_lat + 1, 2 * half_lon + 1
    n_pix = n_lat * n_lon
    if oversampling is None:
        r68 = containment_radii(psf, rad_edges, 0.68)
        r68 = np.where(np.isfinite(r68), r68, np.inf).min(axis=-1)
        pixel = max(dlat, dlon * math.cos(math.radians(lat_c)))
        factors = np.array([oversampling_factor(float(r), pixel) for r in r68])
    else:
        factors = np.full(psf.shape[0], max(int(oversampling), 1))
    kernel = np.empty(psf.shape[:-1] + (n_pix,))
    for f in np.unique(factors):
        members = factors == f
        geometric = _geometric_matrix(
            int(f), rad, rad_edges, half_lat, half_lon, lat_c=lat_c, dlat=dlat, dlon=dlon
        )
        kernel[members] = psf[members] @ geometric
    np.clip(kernel, 0.0, None, out=kernel)
    # keep, per observation, the pixels whose centre is within its radius
    centre = _separation(
        np.arange(-half_lat, half_lat + 1).astype(float),
        np.arange(-half_lon, half_lon + 1).astype(float),
        lat_c=lat_c, dlat=dlat, dlon=dlon,
    ).ravel()  # fmt: skip
    keep = centre[None, :] <= per_batch[:, None] * (1 + 1e-12)
    kernel *= keep[:, None, :]
    total = kernel.sum(axis=-1, keepdims=True)
    delta = np.zeros(n_pix)
    delta[half_lat * n_lon + half_lon] = 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = np.where(total > 0, kernel / total, delta)
    return kernel.reshape(psf.shape[:-1] + (n_lat, n_lon)), radius


def _separation(
    rows: np.ndarray, cols: np.ndarray, *, lat_c: float, dlat: float, dlon: float
) -> np.ndarray:
    """Angular distance (deg) from a pixel centre of points offset by whole or partial pixels.

    ``rows`` and ``cols`` are offsets in pixels from the centre at latitude
    ``lat_c``; the result is ``(rows, cols)`` (haversine formula).
    """
    phi_c = np.deg2rad(lat_c)
    phi = np.deg2rad(np.clip(lat_c + rows * dlat, -90.0, 90.0))
    half_dlon = 0.5 * np.deg2rad(cols * dlon)
    hav = (
        np.sin(0.5 * (phi[:, None] - phi_c)) ** 2
        + (np.cos(phi_c) * np.cos(phi))[:, None] * np.sin(half_dlon[None, :]) ** 2
    )
    return np.rad2deg(2 * np.arcsin(np.sqrt(np.clip(hav, 0.0, 1.0))))


def _geometric_matrix(
    f: int,
    rad: np.ndarray,
    rad_edges: np.ndarray,
    half_lat: int,
    half_lon: int,
    *,
    lat_c: float,
    dlat: float,
    dlon: float,
) -> np.ndarray:
    """``(rad, pixel)``: PSF interpolation weights times sub-pixel solid angles, per pixel.

    The kernel is ``psf @ matrix``. Sub-pixels (``f x f`` per pixel) beyond the
    last ``rad`` edge get nothing.
    """
    n_lat, n_lon = 2 * half_lat + 1, 2 * half_lon + 1
    while f > 1 and n_lat * n_lon * f * f > MAX_SAMPLES:
        f -= 1
    steps = (np.arange(f) + 0.5) / f - 0.5
    rows = (np.arange(-half_lat, half_lat + 1)[:, None] + steps[None, :]).ravel()
    cols = (np.arange(-half_lon, half_lon + 1)[:, None] + steps[None, :]).ravel()
    separation = _separation(rows, cols, lat_c=lat_c, dlat=dlat, dlon=dlon)
    lat_sub_lo = np.clip(lat_c + (rows - 0.5 / f) * dlat, -90.0, 90.0)
    lat_sub_hi = np.clip(lat_c + (rows + 0.5 / f) * dlat, -90.0, 90.0)
    omega_lat = np.sin(np.deg2rad(lat_sub_hi)) - np.sin(np.deg2rad(lat_sub_lo))
    omega = omega_lat[:, None] * np.deg2rad(dlon / f) * np.ones(cols.size)[None, :]
    inside = separation <= rad_edges[-1]
    pix_row = np.repeat(np.arange(n_lat), f)
    pix_col = np.repeat(np.arange(n_lon), f)
    pixel_index = (pix_row[:, None] * n_lon + pix_col[None, :])[inside]
    s, w = separation[inside], omega[inside]
    # linear interpolation between the rad bin centres, held beyond the first and last
    if rad.size > 1:
        upper = np.clip(np.searchsorted(rad, s, side="right"), 1, rad.size - 1)
        lower = upper - 1
        t = np.clip((s - rad[lower]) / (rad[upper] - rad[lower]), 0.0, 1.0)
    else:
        lower = upper = np.zeros(s.size, dtype=int)
        t = np.zeros_like(s)
    n_pix = n_lat * n_lon
    return np.bincount(
        np.concatenate([lower * n_pix + pixel_index, upper * n_pix + pixel_index]),
        weights=np.concatenate([(1 - t) * w, t * w]),
        minlength=rad.size * n_pix,
    ).reshape(rad.size, n_pix)


def _fast_shape(shape: tuple[int, int], kernel_shape: tuple[int, int]) -> tuple[int, int]:
    return tuple(  # type: ignore[return-value]
        scipy.fft.next_fast_len(n + k - 1, real=True)
        for n, k in zip(shape, kernel_shape, strict=True)
    )


class KernelTransforms:
    """The real FFTs of a kernel for each padded shape, least recently used kept.

    Parameters
    ----------
    kernel : numpy.ndarray
        ``(..., ky, kx)`` with odd ``ky``, ``kx``.
    maxsize : int
        Number of padded shapes kept.
    """

    def __init__(self, kernel: np.ndarray, maxsize: int = 8) -> None:
        self.kernel = kernel
        self.maxsize = maxsize
        self._cache: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        # kernel images that repeat (an energy-independent PSF) are transformed once
        flat = kernel.reshape(-1, *kernel.shape[-2:])
        index: dict[bytes, int] = {}
        inverse = np.array([index.setdefault(image.tobytes(), len(index)) for image in flat])
        first = np.unique(inverse, return_index=True)[1]
        self._unique = flat[first]
        self._inverse = inverse.reshape(kernel.shape[:-2])
        #: Whether no kernel value is negative (nor NaN).
        self.nonnegative = bool(np.min(kernel) >= 0)

    def __call__(self, fshape: tuple[int, int]) -> np.ndarray:
        """The kernel's ``rfft2`` zero-padded to ``fshape``."""
        transform = self._cache.get(fshape)
        if transform is None:
            unique = scipy.fft.rfft2(self._unique, s=fshape, axes=(-2, -1))
            transform = unique[self._inverse]
            self._cache[fshape] = transform
            while len(self._cache) > self.maxsize:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(fshape)
        return transform


def convolve_full(
    image: np.ndarray, kernel: np.ndarray, *, transforms: KernelTransforms | None = None
) -> np.ndarray:
    """Full convolution of images with kernels over the last two axes.

    Parameters
    ----------
    image : numpy.ndarray
        ``(..., h, w)``, float.
    kernel : numpy.ndarray
        ``(..., ky, kx)`` with odd sizes; its leading dims broadcast against
        the image's.
    transforms : KernelTransforms, optional
        A cache of the kernel's transforms (must hold this ``kernel``).

    Returns
    -------
    numpy.ndarray
        ``(..., h + ky - 1, w + kx - 1)``: a unit image in pixel ``(i, j)``
        gives the kernel with its centre at ``(i + ky // 2, j + kx // 2)``.

    Notes
    -----
    Images with few non-zero pixels (a point source's four bilinear
    neighbours) are convolved directly, as a weighted sum of shifted kernels
    gathered in one array operation; others by real FFT (``scipy.fft``),
    zero-padded to a fast length. The choice minimises an estimate of the
    work. When neither the images nor the kernels have negative values, the
    FFT's round-off below zero (about ``-1e-16`` of the peak, where the
    convolution is zero) is set to zero: the result is then never negative,
    as the direct sum's is.
    """
    ky, kx = kernel.shape[-2:]
    h, w = image.shape[-2:]
    if ky == 1 and kx == 1:
        return image * kernel[..., 0, 0][..., None, None]
    nonzero = np.any(image != 0, axis=tuple(range(image.ndim - 2)))
    n_nonzero = int(np.count_nonzero(nonzero))
    n_images = int(np.prod(np.broadcast_shapes(image.shape[:-2], kernel.shape[:-2])))
    out_shape = (h + ky - 1, w + kx - 1)
    if n_nonzero == 0:
        return np.zeros(np.broadcast_shapes(image.shape[:-2], kernel.shape[:-2]) + out_shape)
    direct = DIRECT_WEIGHT * n_images * out_shape[0] * out_shape[1] * n_nonzero
    if direct < fft_cost(h, w, (ky, kx), n_images):
        return _convolve_sparse(image, kernel, nonzero)
    fshape = _fast_shape((h, w), (ky, kx))
    kernel_ft = (
        transforms(fshape)
        if transforms is not None
        else scipy.fft.rfft2(kernel, s=fshape, axes=(-2, -1))
    )
    spectrum = scipy.fft.rfft2(image, s=fshape, axes=(-2, -1))
    if np.broadcast_shapes(spectrum.shape, kernel_ft.shape) == spectrum.shape:
        spectrum *= kernel_ft
    else:
        spectrum = spectrum * kernel_ft
    full = scipy.fft.irfft2(spectrum, s=fshape, axes=(-2, -1))[..., : out_shape[0], : out_shape[1]]
    # a non-negative image and kernel have a non-negative convolution: what the FFT
    # leaves below zero (about -1e-16 of the peak) is round-off, set to 0
    kernel_nonnegative = (
        transforms.nonnegative if transforms is not None else bool(np.min(kernel) >= 0)
    )
    if kernel_nonnegative and np.min(image) >= 0:
        np.maximum(full, 0.0, out=full)
    return full


def _convolve_sparse(image: np.ndarray, kernel: np.ndarray, nonzero: np.ndarray) -> np.ndarray:
    """Full convolution as a sum of shifted kernels, one per non-zero pixel of the image."""
    h, w = image.shape[-2:]
    rows, cols = np.nonzero(nonzero)
    pad = [(0, 0)] * (kernel.ndim - 2) + [(h - 1, h - 1), (w - 1, w - 1)]
    padded = np.pad(kernel, pad)
    # windows[..., y, x, a, b] = padded[..., y + a, x + b] = kernel[y - i, x - j] at
    # a = h - 1 - i, b = w - 1 - j
    windows = sliding_window_view(padded, (h, w), axis=(-2, -1))
    shifted = windows[..., h - 1 - rows, w - 1 - cols]  # (..., Y, X, n), a copy
    n_y, n_x = shifted.shape[-3:-1]
    weights = image[..., rows, cols][..., :, None]  # (..., n, 1)
    flat = shifted.reshape(*shifted.shape[:-3], n_y * n_x, rows.size)
    return np.matmul(flat, weights).reshape(
        *np.broadcast_shapes(flat.shape[:-2], weights.shape[:-2]), n_y, n_x
    )


def fft_cost(h: int, w: int, kernel_shape: tuple[int, int] | None, n_images: int) -> float:
    """A relative cost of convolving ``n_images`` images of ``h x w`` (for grouping)."""
    if kernel_shape is None or kernel_shape == (1, 1):
        return float(n_images * h * w)
    fy, fx = _fast_shape((h, w), kernel_shape)
    n = fy * fx
    return float(n_images) * n * (3.0 * math.log2(max(n, 2)) + 4.0)
