"""ICRS <-> Galactic conversion of many positions as one rotation.

The ICRS and Galactic frames differ by a fixed rotation (astropy defines the
Galactic frame from FK5 J2000, which differs from ICRS by the frame bias, also
a fixed rotation). Converting whole grids or event lists through
:class:`astropy.coordinates.SkyCoord` builds frame and representation objects
around every call; here the rotation matrix is taken once from astropy (its
images of the three ICRS axes) and applied with numpy, so the positions agree
with astropy's to float64 rounding (about 1e-14 deg).
"""

from __future__ import annotations

import functools

import numpy as np

from gammaxr.exceptions import GeometryError

__all__ = [
    "FRAMES",
    "rotate",
    "rotation_matrix",
    "to_lonlat",
    "to_unit_vectors",
    "transform_lonlat",
]

#: The sky frames gammaxr converts between.
FRAMES = ("icrs", "galactic")


@functools.cache
def _icrs_to_galactic() -> np.ndarray:
    """The 3 x 3 matrix taking ICRS unit vectors to Galactic ones (from astropy)."""
    from astropy.coordinates import ICRS, CartesianRepresentation, Galactic

    axes = ICRS(CartesianRepresentation(np.eye(3), unit=""))
    images = axes.transform_to(Galactic()).cartesian.xyz.value  # column j: image of axis j
    matrix = np.asarray(images, dtype=np.float64)
    matrix.flags.writeable = False
    return matrix


def rotation_matrix(frame_from: str, frame_to: str) -> np.ndarray | None:
    """The rotation taking unit vectors in ``frame_from`` to ``frame_to`` (None if equal).

    Raises
    ------
    GeometryError
        If a frame is not one of :data:`FRAMES`.
    """
    for frame in (frame_from, frame_to):
        if frame not in FRAMES:
            raise GeometryError(f"unknown sky frame {frame!r}; expected one of {FRAMES}")
    if frame_from == frame_to:
        return None
    matrix = _icrs_to_galactic()
    return matrix if frame_from == "icrs" else matrix.T


def to_unit_vectors(lon, lat) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cartesian unit vectors ``(x, y, z)`` of sky positions (lon, lat in deg, broadcast)."""
    lon_rad = np.deg2rad(np.asarray(lon, dtype=np.float64))
    lat_rad = np.deg2rad(np.asarray(lat, dtype=np.float64))
    cos_lat = np.cos(lat_rad)
    x, y = cos_lat * np.cos(lon_rad), cos_lat * np.sin(lon_rad)
    z = np.broadcast_to(np.sin(lat_rad), x.shape)
    return x, y, z


def rotate(matrix: np.ndarray | None, x, y, z) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply a 3 x 3 rotation to vectors given as three arrays (None: unchanged)."""
    if matrix is None:
        return x, y, z
    return tuple(matrix[row, 0] * x + matrix[row, 1] * y + matrix[row, 2] * z for row in range(3))


def to_lonlat(x, y, z) -> tuple[np.ndarray, np.ndarray]:
    """Longitude in ``[0, 360)`` and latitude, deg, of (not necessarily unit) vectors."""
    lon = np.rad2deg(np.arctan2(y, x))
    lon = np.where(lon < 0, lon + 360.0, lon)
    lon = np.where(lon >= 360.0, lon - 360.0, lon)  # -tiny + 360 rounds to 360
    lat = np.rad2deg(np.arctan2(z, np.hypot(x, y)))
    return lon, lat


def transform_lonlat(
    lon: np.ndarray | float, lat: np.ndarray | float, frame_from: str, frame_to: str
) -> tuple[np.ndarray, np.ndarray]:
    """Convert sky positions between the ``icrs`` and ``galactic`` frames.

    Parameters
    ----------
    lon, lat : array-like or float
        Longitude and latitude in ``frame_from``, deg (broadcast together).
    frame_from, frame_to : {"icrs", "galactic"}
        The frames.

    Returns
    -------
    lon, lat : numpy.ndarray
        In ``frame_to``, deg (float64), longitude in ``[0, 360)``. When the
        frames are the same the inputs are returned as float64 arrays,
        unchanged.

    Raises
    ------
    GeometryError
        If a frame is not one of :data:`FRAMES`.

    Examples
    --------
    >>> from gammaxr.sky.frames import transform_lonlat
    >>> l, b = transform_lonlat(83.633, 22.014, "icrs", "galactic")
    >>> round(float(l), 3), round(float(b), 3)
    (184.558, -5.784)
    """
    matrix = rotation_matrix(frame_from, frame_to)
    if matrix is None:
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    return to_lonlat(*rotate(matrix, *to_unit_vectors(lon, lat)))
