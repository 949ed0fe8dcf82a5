r"""Fitting a spectral model to flux points: chi2 or the likelihood profiles.

:class:`FluxPointsCost` makes a flux-points Dataset (from
:func:`gammaxr.estimators.flux_points` or :func:`gammaxr.read_flux_points`) a
:class:`~gammaxr.fit.Cost`, so ``gx.fit(FluxPointsCost(fp), models)`` fits the
spectral model of one source to it.

``method="chi2"``
    :math:`\chi^2 = \sum_i r_i^2` with :math:`r_i = (\phi(E_i) - F_i) / \sigma_i`
    on ``dnde`` at ``e_ref`` (``F = norm * ref_dnde``). Where the points have
    asymmetric errors, :math:`\sigma_i` is ``dnde_errp`` when the model lies
    above the point and ``dnde_errn`` when below; otherwise ``dnde_err``.
    **Upper limits are left out**: a bin is an upper limit where ``is_ul`` is
    True or, without that variable, where ``sqrt_ts < sqrt_ts_threshold_ul``
    (2 by default, Gammapy's convention); bins with a NaN value or error are
    left out too.
``method="profile"``
    The likelihood of each bin, from its tabulated profile ``stat_scan`` over
    ``norm_scan``, evaluated at the norm the model implies in that bin,
    ``model.integral(E_lo, E_hi) / ref_flux`` (``dnde`` at ``e_ref`` over
    ``ref_dnde`` without ``ref_flux``), by cubic interpolation; beyond the
    scanned range the profile continues as a parabola matched in value and
    slope at the last point (with the curvature of the last interval, at
    least zero). Every bin counts, upper limits included: that is the point of
    profiles. The statistic is the sum minus each bin's minimum over the scan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.interpolate
import xarray as xr

from gammaxr.exceptions import FitError
from gammaxr.fit.cost import Cost

if TYPE_CHECKING:
    from gammaxr.models import Models

__all__ = ["FluxPointsCost"]


class FluxPointsCost(Cost):
    """A fit statistic of flux points: chi2 on ``dnde`` or the likelihood profiles.

    Parameters
    ----------
    fp : xarray.Dataset
        Flux points on dim ``energy`` with ``norm``, ``ref_dnde`` (and
        ``ref_flux``), errors (chi2) or ``stat_scan`` on ``norm_scan``
        (profile).
    source : str, optional
        The model to fit (its spectral component). Default: the only sky
        model of the collection, or ``fp.attrs["source"]`` when it is in it.
    method : {"chi2", "profile"}
        See the module documentation.
    sqrt_ts_threshold_ul : float
        Bins with ``sqrt_ts`` below it are upper limits (chi2 only; used when
        ``fp`` has no ``is_ul``).

    Raises
    ------
    FitError
        For an unknown method, or flux points without what it needs.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> import gammaxr as gx
    >>> from gammaxr.fit import FluxPointsCost
    >>> from gammaxr.models import Models, PowerLawSpectralModel, SkyModel
    >>> e = np.array([1.0, 2.0, 4.0, 8.0])
    >>> fp = xr.Dataset(
    ...     {"norm": ("energy", np.ones(4)), "norm_err": ("energy", np.full(4, 0.1)),
    ...      "ref_dnde": ("energy", 3e-11 * e**-2.5, {"units": "cm-2 s-1 TeV-1"})},
    ...     coords={"energy": ("energy", e, {"units": "TeV"})},
    ... )
    >>> start = Models([SkyModel(PowerLawSpectralModel(), name="src")])
    >>> result = gx.fit(FluxPointsCost(fp), start)
    >>> float(round(result.parameters.loc["src.spectral.index", "value"], 4))
    2.5
    """

    def __init__(
        self,
        fp: xr.Dataset,
        *,
        source: str | None = None,
        method: str = "chi2",
        sqrt_ts_threshold_ul: float = 2.0,
    ) -> None:
        from gammaxr.estimators.flux_points import reference_quantity

        if method not in ("chi2", "profile"):
            raise FitError(f"FluxPointsCost: method must be 'chi2' or 'profile', got {method!r}")
        if not isinstance(fp, xr.Dataset) or "norm" not in fp or "energy" not in fp.coords:
            raise FitError(
                "FluxPointsCost: fp must be flux points (a Dataset with 'norm' on energy)"
            )
        self.method = method
        self.source = source
        self.default_source = fp.attrs.get("source")
        energy = fp["energy"]
        self.energy = energy.to_numpy().astype(float)
        self.ref_dnde = reference_quantity(fp, "dnde").to_numpy()
        norm = fp["norm"].to_numpy().astype(float)
        if method == "chi2":
            self._setup_chi2(fp, norm, sqrt_ts_threshold_ul)
        else:
            self._setup_profile(fp)

    def _setup_chi2(self, fp: xr.Dataset, norm: np.ndarray, threshold: float) -> None:
        def column(name: str) -> np.ndarray:
            if name not in fp:
                return np.full(norm.shape, np.nan)
            return fp[name].to_numpy().astype(float) * self.ref_dnde

        self.value = norm * self.ref_dnde
        err = column("norm_err")
        errn, errp = column("norm_errn"), column("norm_errp")
        asymmetric = np.isfinite(errn) & np.isfinite(errp) & (errn > 0) & (errp > 0)
        self.err_lo = np.where(asymmetric, errn, err)
        self.err_hi = np.where(asymmetric, errp, err)
        if "is_ul" in fp:
            is_ul = fp["is_ul"].to_numpy().astype(bool)
        elif "sqrt_ts" in fp:
            is_ul = fp["sqrt_ts"].to_numpy() < threshold
        else:
            is_ul = np.zeros(norm.shape, bool)
        good = np.isfinite(self.value) & np.isfinite(self.err_lo) & np.isfinite(self.err_hi)
        self.use = good & (self.err_lo > 0) & (self.err_hi > 0) & ~is_ul
        if not self.use.any():
            raise FitError("FluxPointsCost: no flux point with a value and an error to fit")

    def _setup_profile(self, fp: xr.Dataset) -> None:
        if "stat_scan" not in fp or "norm_scan" not in fp.coords:
            raise FitError(
                "FluxPointsCost: method='profile' needs 'stat_scan' on a 'norm_scan' coordinate "
                "(flux_points(..., scan=...))"
            )
        from gammaxr.estimators.flux_points import reference_quantity

        if "ref_flux" in fp and "energy_lo" in fp.coords:
            self.lo = fp["energy_lo"].to_numpy().astype(float)
            self.hi = fp["energy_hi"].to_numpy().astype(float)
            self.ref_flux = reference_quantity(fp, "flux").to_numpy()
        else:
            self.lo = self.hi = self.ref_flux = None
        norms = fp["norm_scan"].to_numpy().astype(float)
        stat = fp["stat_scan"].transpose("energy", "norm_scan").to_numpy().astype(float)
        # bins with an infinite point (e.g. a norm that predicts no counts where some
        # were seen) keep the finite part of their profile
        stat = np.where(np.isfinite(stat), stat, np.nan)
        self.use = np.any(np.isfinite(stat), axis=1)
        self._splines = []
        self._rows = np.flatnonzero(self.use)
        for row in self._rows:
            finite = np.isfinite(stat[row])
            x, y = norms[finite], stat[row, finite] - np.nanmin(stat[row])
            if x.size < 2:
                continue
            spline = (
                scipy.interpolate.CubicSpline(x, y)
                if x.size > 2
                else (scipy.interpolate.make_interp_spline(x, y, k=1))
            )
            self._splines.append((row, x[0], x[-1], spline))

    @property
    def ndata(self) -> int:
        """Number of flux points that enter the statistic."""
        return int(np.sum(self.use))

    def _spectral(self, models: Models):
        from gammaxr.models import SkyModel

        name = self.source
        if name is None:
            sky = [key for key, m in models.items() if isinstance(m, SkyModel)]
            if self.default_source in sky:
                name = self.default_source
            elif len(sky) == 1:
                name = sky[0]
            else:
                raise FitError(
                    f"FluxPointsCost: several sky models {sky}; say which one with source="
                )
        if name not in models:
            raise FitError(f"FluxPointsCost: no model {name!r} in {list(models)}")
        return models[name].spectral

    def __call__(self, models: Models) -> float:
        """The statistic for ``models``."""
        spectral = self._spectral(models)
        if self.method == "chi2":
            model = np.asarray(spectral(self.energy), dtype=float)
            sigma = np.where(model > self.value, self.err_hi, self.err_lo)
            residual = (model - self.value) / sigma
            return float(np.sum(np.where(self.use, residual, 0.0) ** 2))
        if self.ref_flux is not None:
            norm = np.asarray(spectral.integral(self.lo, self.hi), dtype=float) / self.ref_flux
        else:
            norm = np.asarray(spectral(self.energy), dtype=float) / self.ref_dnde
        total = 0.0
        for row, x0, x1, spline in self._splines:
            total += _evaluate(spline, x0, x1, float(norm[row]))
        return float(total)

    def __repr__(self) -> str:
        return f"FluxPointsCost({self.method}, {self.ndata} points)"


def _evaluate(spline, x0: float, x1: float, x: float) -> float:
    """The spline inside ``[x0, x1]``; a parabola matched in value and slope beyond."""
    if x0 <= x <= x1:
        return float(spline(x))
    edge = x0 if x < x0 else x1
    value, slope = float(spline(edge)), float(spline(edge, 1))
    curvature = max(float(spline(edge, 2)), 0.0)
    dx = x - edge
    return value + slope * dx + 0.5 * curvature * dx * dx
