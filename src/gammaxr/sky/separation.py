"""Angular separations on the sphere, vectorised."""

from __future__ import annotations

import numpy as np

__all__ = ["angular_separation", "tangent_plane_offsets"]


def angular_separation(lon1, lat1, lon2, lat2):
    """Great-circle distance between points, deg (Vincenty formula; inputs in deg).

    Works on numpy arrays, xarray objects and scalars, broadcasting as they do.
    """
    lon1, lat1, lon2, lat2 = (np.deg2rad(x) for x in (lon1, lat1, lon2, lat2))
    dlon = lon2 - lon1
    sin_dlon, cos_dlon = np.sin(dlon), np.cos(dlon)
    sin1, cos1 = np.sin(lat1), np.cos(lat1)
    sin2, cos2 = np.sin(lat2), np.cos(lat2)
    num1 = cos2 * sin_dlon
    num2 = cos1 * sin2 - sin1 * cos2 * cos_dlon
    denominator = sin1 * sin2 + cos1 * cos2 * cos_dlon
    return np.rad2deg(np.arctan2(np.hypot(num1, num2), denominator))


def tangent_plane_offsets(lon, lat, lon0, lat0):
    """Tangent-plane (gnomonic, TAN) coordinates of points about a centre, deg.

    Returns ``(x, y)``: ``x`` grows with ``lon``, ``y`` with ``lat``, and
    ``hypot(x, y) = tan(separation)`` in degrees of the tangent plane. This is the
    plane in which non-circular regions are defined; it is *not* the IRF
    field-of-view frame (a pure rotation with ``fov_lon`` growing westwards, see
    :mod:`gammaxr.reduce`).
    """
    lon, lat, lon0, lat0 = (np.deg2rad(x) for x in (lon, lat, lon0, lat0))
    dlon = lon - lon0
    cos_c = np.sin(lat0) * np.sin(lat) + np.cos(lat0) * np.cos(lat) * np.cos(dlon)
    x = np.cos(lat) * np.sin(dlon) / cos_c
    y = (np.cos(lat0) * np.sin(lat) - np.sin(lat0) * np.cos(lat) * np.cos(dlon)) / cos_c
    return np.rad2deg(x), np.rad2deg(y)
