r"""One amplitude fitted per element of a batch: the engine of the estimators.

Flux points, light curves, TS maps, excess maps and profiles all ask the same
question many times over: with everything else fixed, which scale ``norm`` of a
reference signal fits the counts best, how well is it constrained, and how
significant is it? The predicted counts in a bin are

.. math:: \mu = b + \mathrm{norm}\cdot s

(Cash statistic, background ``b`` known) or, for on-off data, the signal
:math:`\mathrm{norm}\cdot s` with the background profiled out (WStat). In both
cases the statistic is convex in ``norm``, so each fit is a one-dimensional root
search of its derivative; here it runs for every element of a batch at once
(every energy bin, time bin, region or pixel), with a Newton step safeguarded by
a bracket that always shrinks, on plain numpy arrays.

Errors follow the usual rules for a ``-2 ln L`` statistic: the symmetric error
from the curvature at the best fit, the asymmetric ones where the statistic has
risen by ``n_sigma**2``, the upper limit where it has risen by
``n_sigma_ul**2`` above the best fit (``n_sigma_ul = 2``: a rise of 4), and
``ts`` the drop from ``norm = 0`` to the best fit. ``norm`` may be negative, down
to where the predicted counts of a bin would reach zero (Cash); WStat has no
such bound (its profiled background grows instead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.special

from gammaxr.exceptions import GammaxrError
from gammaxr.fit.wstat import wstat, wstat_mu_bkg

__all__ = ["fit_norm", "norm_scan"]

#: Relative tolerance on norm of the root searches.
_TOL = 1e-9
_MAXITER = 100


class _Batch:
    """The statistic of ``B`` independent one-parameter problems of ``K`` bins each.

    Arrays are ``(B, K)`` float64; ``weight`` is the mask (0 or 1). Methods take
    ``x`` of shape ``(b,)`` and ``rows`` (indices into the batch, or a slice).
    """

    def __init__(
        self,
        counts: np.ndarray,
        signal: np.ndarray,
        background: np.ndarray | None,
        weight: np.ndarray,
        counts_off: np.ndarray | None,
        alpha: np.ndarray | None,
    ) -> None:
        self.n, self.s, self.b, self.w = counts, signal, background, weight
        self.n_off, self.alpha = counts_off, alpha
        self.onoff = counts_off is not None
        if not self.onoff:
            # Cash, split into what depends on x bin by bin (the bins with counts:
            # -2 n ln(b + x s)) and per-row sums (2 (sum b + x sum s) + the constant
            # 2 sum (n ln n - n)); bins without counts never need a logarithm.
            used = weight > 0
            self.wn = np.where(used & (counts > 0), counts, 0.0)
            self.has = self.wn > 0
            self.varies = self.has & (signal != 0)  # bins with counts whose mu depends on x
            self.s_sum = np.sum(np.where(used, signal, 0.0), axis=1)
            self.b_sum = np.sum(np.where(used, background, 0.0), axis=1)
            constant = scipy.special.xlogy(self.wn, self.wn) - self.wn
            self.constant = np.sum(constant, axis=1)

    def _mu(self, x: np.ndarray, rows: Any) -> np.ndarray:
        return self.b[rows] + x[:, None] * self.s[rows]

    def _inverse_mu(self, x: np.ndarray, rows: Any) -> tuple[np.ndarray, np.ndarray]:
        """``1 / mu`` in the bins with counts and signal (1 elsewhere); rows where one is <= 0."""
        mu = np.where(self.varies[rows], self._mu(x, rows), 1.0)
        outside = np.any(mu <= 0, axis=1)
        return 1.0 / mu, outside

    def stat(self, x: np.ndarray, rows: Any = slice(None)) -> np.ndarray:
        """The statistic (a deviance: ``-2 ln L`` up to a constant) at ``x``."""
        if self.onoff:
            n, w = self.n[rows], self.w[rows]
            terms = wstat(n, self.n_off[rows], self.alpha[rows], x[:, None] * self.s[rows])
            return np.sum(np.where(w > 0, terms, 0.0), axis=1)
        has = self.has[rows]
        mu = np.where(has, self._mu(x, rows), 1.0)
        outside = np.any(mu <= 0, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_term = np.sum(self.wn[rows] * np.log(mu), axis=1)
        value = 2.0 * (self.b_sum[rows] + x * self.s_sum[rows] + self.constant[rows] - log_term)
        return np.where(outside, np.inf, value)

    def grad(self, x: np.ndarray, rows: Any = slice(None)) -> np.ndarray:
        """The derivative of :meth:`stat` in ``x``."""
        if not self.onoff:
            return self.grad_curvature(x, rows, curvature=False)[0]
        n, s, w = self.n[rows], self.s[rows], self.w[rows]
        mu_sig = x[:, None] * s
        alpha, n_off = self.alpha[rows], self.n_off[rows]
        mu_bkg = wstat_mu_bkg(n, n_off, alpha, mu_sig)
        mu = mu_sig + alpha * mu_bkg
        # d stat / d mu_signal = 2 (1 - n / mu_on) (by the envelope theorem)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(n > 0, n / mu, 0.0)
        ratio = np.where((n > 0) & (mu <= 0), np.inf, ratio)
        terms = 2.0 * s * (1.0 - ratio)
        # no on counts and a negative signal: the profiled background sits on the
        # constraint mu_on = 0 (mu_bkg = -mu_sig / alpha), where the derivative is
        # -(2 / alpha) (1 - n_off / mu_bkg)
        bound = (n == 0) & (mu_sig < 0) & (mu <= 1e-9 * np.abs(mu_sig))
        with np.errstate(divide="ignore", invalid="ignore"):
            constrained = -2.0 * s / alpha * (1.0 - n_off / mu_bkg)
        terms = np.where(bound, constrained, terms)
        return np.sum(np.where((w > 0) & (s != 0), terms, 0.0), axis=1)

    def grad_curvature(
        self, x: np.ndarray, rows: Any = slice(None), *, curvature: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Cash: the first and (optionally) second derivative of :meth:`stat` in one pass.

        ``d/dx = 2 (sum s - sum n s / mu)``, ``d2/dx2 = 2 sum n s^2 / mu^2``;
        ``-inf`` / ``inf`` where a bin with counts has ``mu <= 0`` (below the domain).
        """
        inverse, outside = self._inverse_mu(x, rows)
        ratio = self.wn[rows] * self.s[rows] * inverse  # n s / mu
        grad = 2.0 * (self.s_sum[rows] - np.sum(ratio, axis=1))
        grad = np.where(outside, -np.inf, grad)
        if not curvature:
            return grad, None
        second = 2.0 * np.sum(ratio * self.s[rows] * inverse, axis=1)
        return grad, np.where(outside, np.inf, second)

    def stat_grad(self, x: np.ndarray, rows: Any = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`stat` and :meth:`grad` at ``x`` (one pass over the bins for Cash)."""
        if self.onoff:
            return self.stat(x, rows), self.grad(x, rows)
        mu = self._mu(x, rows)
        varies = self.varies[rows]
        with_counts = np.where(self.has[rows], mu, 1.0)
        outside = np.any(with_counts <= 0, axis=1)
        wn = self.wn[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_term = np.sum(wn * np.log(with_counts), axis=1)
            ratio = wn * self.s[rows] / np.where(varies, mu, 1.0)
        stat = 2.0 * (self.b_sum[rows] + x * self.s_sum[rows] + self.constant[rows] - log_term)
        grad = 2.0 * (self.s_sum[rows] - np.sum(ratio, axis=1))
        outside_varies = np.any(varies & (mu <= 0), axis=1)
        return np.where(outside, np.inf, stat), np.where(outside_varies, -np.inf, grad)

    def curvature(self, x: np.ndarray, rows: Any = slice(None)) -> np.ndarray:
        """The second derivative of :meth:`stat` in ``x`` (numerical for WStat)."""
        if self.onoff:
            h = 1e-5 * np.maximum(np.abs(x), 1e-3 * self.scale[rows])
            return (self.grad(x + h, rows) - self.grad(x - h, rows)) / (2.0 * h)
        return self.grad_curvature(x, rows)[1]

    @property
    def scale(self) -> np.ndarray:
        """A typical size of ``norm``'s error: sqrt(counts + background) / signal."""
        if not hasattr(self, "_scale"):
            ws = np.sum(self.w * self.s, axis=1)
            bkg = self.alpha * self.n_off if self.onoff else np.maximum(self.b, 0.0)
            spread = np.sqrt(np.sum(self.w * (self.n + bkg), axis=1) + 1.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                self._scale = np.where(ws > 0, spread / ws, np.nan)
        return self._scale


def _expand(
    func: Callable[[np.ndarray, np.ndarray], np.ndarray],
    start: np.ndarray,
    step: np.ndarray,
    direction: float,
    limit: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Walk from ``start`` in ``direction`` with doubling steps until ``func > 0``.

    Stops at ``limit`` (a domain bound, or +-inf). Returns the point reached and
    whether ``func`` is positive there.
    """
    x = start.copy()
    positive = np.zeros(x.shape, bool)
    rows = np.arange(x.size)
    for _ in range(_MAXITER):
        if not rows.size:
            break
        value = func(x[rows], rows)
        done = value > 0
        positive[rows[done]] = True
        rows = rows[~done]
        if not rows.size:
            break
        proposal = x[rows] + direction * step[rows]
        beyond = proposal * direction >= limit[rows] * direction
        proposal = np.where(beyond, limit[rows], proposal)
        stuck = beyond & (x[rows] == limit[rows])
        x[rows] = proposal
        step[rows] *= 2.0
        rows = rows[~stuck]
    return x, positive


def _bracket(
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray],
    guess: np.ndarray,
    scale: np.ndarray,
    lower: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(lo, hi, ok_lo, ok_hi)``: ``grad <= 0`` at ``lo`` and ``>= 0`` at ``hi``.

    The guess is the end its gradient's sign allows; from it, steps of
    ``scale`` (doubling) walk up to the other end, or down to it but not below
    the domain bound ``lower`` (``ok_lo`` False: the gradient is positive all
    the way down, the minimum is on the bound). NaN gradients walk both ways.
    """
    value = grad(guess, np.arange(guess.size))
    lo, hi = guess.copy(), guess.copy()
    ok_lo, ok_hi = value <= 0, value > 0
    up = np.flatnonzero(~ok_hi)
    if up.size:
        hi[up], ok_hi[up] = _expand(
            lambda x, rows: grad(x, up[rows]), guess[up] + scale[up], scale[up].copy(),
            +1.0, np.full(up.size, np.inf),
        )  # fmt: skip
    down = np.flatnonzero(~ok_lo)
    if down.size:
        start = np.maximum(guess[down] - scale[down], lower[down])
        lo[down], ok_lo[down] = _expand(
            lambda x, rows: -grad(x, down[rows]), start, scale[down].copy(), -1.0, lower[down],
        )  # fmt: skip
    return lo, hi, ok_lo, ok_hi


def _root(
    func: Callable[[np.ndarray, np.ndarray], np.ndarray],
    slope: Callable[[np.ndarray, np.ndarray], np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    x0: np.ndarray,
    *,
    both: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Roots of increasing functions on brackets ``func(lo) <= 0 <= func(hi)``.

    Newton steps from ``x0``, replaced by bisection when they would leave the
    bracket, which shrinks every iteration. ``both``, if given, returns
    ``(func, slope)`` in one call. Returns the roots and a convergence flag.
    """
    if both is None:

        def both(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return func(x, rows), slope(x, rows)

    lo, hi = lo.copy(), hi.copy()
    x = np.clip(x0, lo, hi)
    x = np.where(np.isfinite(x), x, 0.5 * (lo + hi))
    converged = np.zeros(x.shape, bool)
    rows = np.arange(x.size)
    for _ in range(_MAXITER):
        if not rows.size:
            break
        xr_ = x[rows]
        value, derivative = both(xr_, rows)
        below = value < 0
        lo[rows] = np.where(below, xr_, lo[rows])
        hi[rows] = np.where(below, hi[rows], xr_)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = xr_ - value / derivative
        inside = np.isfinite(newton) & (newton > lo[rows]) & (newton < hi[rows])
        new = np.where(inside, newton, 0.5 * (lo[rows] + hi[rows]))
        tol = _TOL * np.maximum(np.abs(new), 1.0)
        done = (np.abs(new - xr_) <= tol) | (hi[rows] - lo[rows] <= tol) | (value == 0)
        x[rows] = np.where(value == 0, xr_, new)
        converged[rows[done]] = True
        rows = rows[~done]
    return x, converged


def _as_batch(arrays: dict[str, Any], axis: Any) -> tuple[dict[str, np.ndarray], tuple]:
    """Broadcast, move the summed ``axis`` to the end and flatten to ``(B, K)``."""
    present = {k: np.asarray(v, dtype=float) for k, v in arrays.items() if v is not None}
    shapes = [v.shape for v in present.values()]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError as err:
        raise GammaxrError(f"fit_norm: the inputs do not broadcast together: {shapes}") from err
    ndim = len(shape)
    axes = tuple(range(ndim)) if axis is None else np.atleast_1d(axis).tolist()
    try:
        axes = tuple(sorted({int(a) % ndim for a in axes}))
    except ZeroDivisionError as err:
        raise GammaxrError("fit_norm: the inputs are scalars; give arrays of bins") from err
    if any(a >= ndim for a in np.atleast_1d(axis if axis is not None else [])):
        raise GammaxrError(f"fit_norm: axis {axis} out of range for shape {shape}")
    keep = tuple(a for a in range(ndim) if a not in axes)
    batch_shape = tuple(shape[a] for a in keep)
    n_bins = int(np.prod([shape[a] for a in axes]))
    out = {
        k: np.ascontiguousarray(
            np.broadcast_to(v, shape).transpose(keep + axes).reshape(-1, n_bins)
        )
        for k, v in present.items()
    }
    return out, batch_shape


def _prepare(
    counts: Any,
    signal: Any,
    background: Any,
    axis: Any,
    mask: Any,
    counts_off: Any,
    alpha: Any,
) -> tuple[_Batch, tuple]:
    if (counts_off is None) != (alpha is None):
        raise GammaxrError("fit_norm: give both counts_off and alpha (WStat) or neither (Cash)")
    onoff = counts_off is not None
    if not onoff and background is None:
        background = 0.0
    arrays = {
        "counts": counts,
        "signal": signal,
        "background": None if onoff else background,
        "mask": 1.0 if mask is None else np.asarray(mask, dtype=bool),
        "counts_off": counts_off,
        "alpha": alpha,
    }
    flat, batch_shape = _as_batch(arrays, axis)
    for name in ("counts", "signal", "counts_off", "alpha"):
        if name in flat and np.any(flat[name] < 0):
            raise GammaxrError(f"fit_norm: {name} must be >= 0 (got negative values)")
    if "background" in flat and np.any(flat["background"] < 0):
        raise GammaxrError("fit_norm: background must be >= 0 (got negative values)")
    weight = np.where(np.isfinite(flat["counts"]) & np.isfinite(flat["signal"]), flat["mask"], 0)
    batch = _Batch(
        np.nan_to_num(flat["counts"]),
        np.nan_to_num(flat["signal"]),
        None if onoff else np.nan_to_num(flat["background"]),
        weight,
        flat.get("counts_off"),
        flat.get("alpha"),
    )
    return batch, batch_shape


def _lower_bound(batch: _Batch) -> np.ndarray:
    """The smallest norm allowed.

    Cash: the norm keeping every predicted count >= 0. WStat: minus the
    measured background (alpha * off counts, plus one count) over the signal,
    so a negative signal never exceeds what the off measurement allows (a
    group without on counts would otherwise have its minimum far out).
    """
    if batch.onoff:
        background = np.sum(batch.w * batch.alpha * batch.n_off, axis=1) + 1.0
        signal = np.sum(batch.w * batch.s, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(signal > 0, -background / signal, -np.inf)
    positive = (batch.w > 0) & (batch.s > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(positive, -batch.b / np.where(positive, batch.s, 1.0), -np.inf)
    return ratio.max(axis=1)


def fit_norm(
    counts: Any,
    signal: Any,
    background: Any = None,
    *,
    axis: int | tuple[int, ...] | None = -1,
    mask: Any = None,
    counts_off: Any = None,
    alpha: Any = None,
    n_sigma: float = 1.0,
    n_sigma_ul: float = 2.0,
    asymmetric: bool = True,
    upper_limit: bool = True,
) -> dict[str, np.ndarray]:
    r"""Fit the amplitude ``norm`` of a signal, independently for each batch element.

    Parameters
    ----------
    counts : array_like
        Observed counts (on counts for WStat).
    signal : array_like
        Predicted signal counts at ``norm = 1`` (>= 0).
    background : array_like, optional
        Predicted background counts (Cash; >= 0). Default 0. Ignored with WStat.
    axis : int or tuple of int or None
        Axes (of the broadcast inputs) summed in one fit: the bins of one
        problem. The other axes are the batch. ``None``: all (one fit).
    mask : array_like of bool, optional
        Bins that count (others are ignored). Bins with non-finite counts or
        signal are ignored too.
    counts_off, alpha : array_like, optional
        Off counts and on/off acceptance ratio: the WStat statistic instead of
        Cash (both or neither).
    n_sigma : float
        Asymmetric errors at a rise of ``n_sigma**2``.
    n_sigma_ul : float
        Upper limit at a rise of ``n_sigma_ul**2`` above the best fit.
    asymmetric, upper_limit : bool
        Whether to compute the asymmetric errors and the upper limit (each
        costs a root search like the fit itself).

    Returns
    -------
    dict of numpy.ndarray
        Over the batch shape: ``norm``; ``norm_err`` (from the curvature);
        ``norm_errn``, ``norm_errp`` (positive distances to the crossings
        below / above; NaN where the statistic does not rise that much before
        the domain ends); ``norm_ul``; ``ts`` (statistic at ``norm = 0`` minus
        at the best fit, >= 0); ``stat`` and ``stat_null`` (the deviance at the
        best fit and at 0); ``success``; ``counts`` and ``npred_signal`` (sums
        of the counts and of the signal at ``norm = 1`` over the bins used);
        ``npred_background`` (Cash: the background; WStat: the profiled
        background at the best fit). Elements without any signal in their bins
        are NaN with ``success = False``.

    Raises
    ------
    GammaxrError
        If the inputs do not broadcast, have negative counts or signal, or only
        one of ``counts_off`` / ``alpha`` is given.

    Examples
    --------
    Two energy bins, each fitted on its own (``axis`` sums nothing else):

    >>> import numpy as np
    >>> from gammaxr.estimators.norm_fit import fit_norm
    >>> res = fit_norm(np.array([[30, 20]]), np.array([[10.0, 10.0]]),
    ...                np.array([[10.0, 10.0]]), axis=0)
    >>> res["norm"].round(6).tolist()   # (n - b) / s
    [2.0, 1.0]
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _fit_norm(
            counts, signal, background, axis, mask, counts_off, alpha,
            n_sigma, n_sigma_ul, asymmetric, upper_limit,
        )  # fmt: skip


def _fit_norm(
    counts, signal, background, axis, mask, counts_off, alpha,
    n_sigma, n_sigma_ul, asymmetric, upper_limit,
) -> dict[str, np.ndarray]:  # fmt: skip
    batch, batch_shape = _prepare(counts, signal, background, axis, mask, counts_off, alpha)
    size = batch.n.shape[0]
    lower = _lower_bound(batch)
    npred_signal = np.sum(batch.w * batch.s, axis=1)
    valid = npred_signal > 0
    scale = np.where(valid, batch.scale, 1.0)
    bkg_guess = batch.alpha * batch.n_off if batch.onoff else batch.b
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = np.sum(batch.w * (batch.n - bkg_guess), axis=1) / npred_signal
    guess = np.where(valid, guess, 0.0)
    guess = np.where(guess <= lower, lower + 0.5 * scale, guess)

    rows_valid = np.flatnonzero(valid)

    def on(func: Callable) -> Callable:
        # evaluate on a subset `rows` of the valid rows
        return lambda x, rows: func(x, rows_valid[rows])

    grad, curvature, stat = on(batch.grad), on(batch.curvature), on(batch.stat)
    stat_grad = on(batch.stat_grad)
    g_lo, g_scale, g_guess = lower[valid], scale[valid], guess[valid]
    # bracket of the minimum: grad <= 0 at lo, >= 0 at hi; the guess is one end
    # (by the sign of the gradient there) and the walk looks for the other
    lo, hi, ok_lo, ok_hi = _bracket(grad, g_guess, g_scale, g_lo)
    # ok_lo False: grad > 0 all the way down to the domain bound -> minimum on the bound
    fused = None if batch.onoff else on(batch.grad_curvature)
    best, converged = _root(grad, curvature, lo, hi, g_guess, both=fused)
    best = np.where(ok_lo, best, g_lo)
    converged &= ok_hi
    stat_best = stat(best, np.arange(best.size))
    stat_null = stat(np.zeros(best.size), np.arange(best.size))

    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.sqrt(2.0 / curvature(best, np.arange(best.size)))

    def crossing(level: float, direction: float) -> tuple[np.ndarray, np.ndarray]:
        def rise(x, rows):
            return direction * (stat(x, rows) - stat_best[rows] - level)

        def rise_slope(x, rows):
            return direction * grad(x, rows)

        def rise_both(x, rows):
            value, slope = stat_grad(x, rows)
            return direction * (value - stat_best[rows] - level), direction * slope

        step = np.where(np.isfinite(err), err, g_scale) * np.sqrt(level)
        limit = np.full(best.size, np.inf) if direction > 0 else g_lo
        start = best + direction * step
        if direction < 0:  # start strictly inside the domain, walk down to its bound
            start = np.where(start <= g_lo, 0.5 * (best + g_lo), start)
            step = np.minimum(step, np.maximum(start - g_lo, 0.0) + 1e-300)
        # rise as seen walking away from the best fit: increasing in direction
        outer, found = _expand(
            lambda x, rows: direction * rise(x, rows), start, step.copy(), direction, limit,
        )  # fmt: skip
        if direction > 0:
            root, ok = _root(rise, rise_slope, best.copy(), outer, start, both=rise_both)
        else:
            root, ok = _root(rise, rise_slope, outer, best.copy(), start, both=rise_both)
        return np.where(found, root, np.nan), ok & found

    out: dict[str, np.ndarray] = {}

    def put(name: str, values: np.ndarray, fill: Any = np.nan) -> None:
        full = np.full(size, fill, dtype=np.asarray(values).dtype)
        full[valid] = values
        out[name] = full.reshape(batch_shape)

    put("norm", best)
    put("norm_err", err)
    if asymmetric:
        upper, _ = crossing(n_sigma**2, +1.0)
        lower_x, _ = crossing(n_sigma**2, -1.0)
        put("norm_errp", upper - best)
        put("norm_errn", best - lower_x)
    if upper_limit:
        ul, _ = crossing(n_sigma_ul**2, +1.0)
        put("norm_ul", ul)
    put("ts", np.maximum(stat_null - stat_best, 0.0))
    put("stat", stat_best)
    put("stat_null", stat_null)
    put("success", converged, fill=False)
    out["counts"] = np.sum(batch.w * batch.n, axis=1).reshape(batch_shape)
    out["npred_signal"] = npred_signal.reshape(batch_shape)
    if batch.onoff:
        full_best = np.zeros(size)
        full_best[valid] = best
        mu_sig = full_best[:, None] * batch.s
        mu_bkg = batch.alpha * wstat_mu_bkg(batch.n, batch.n_off, batch.alpha, mu_sig)
        npred_bkg = np.sum(batch.w * mu_bkg, axis=1)
    else:
        npred_bkg = np.sum(batch.w * batch.b, axis=1)
    out["npred_background"] = npred_bkg.reshape(batch_shape)
    return out


def norm_scan(
    counts: Any,
    signal: Any,
    background: Any = None,
    norms: Any = None,
    *,
    axis: int | tuple[int, ...] | None = -1,
    mask: Any = None,
    counts_off: Any = None,
    alpha: Any = None,
) -> np.ndarray:
    """The statistic (deviance) at each of ``norms``, for each batch element.

    Same inputs as :func:`fit_norm`; ``norms`` is a 1D array. Returns an array
    of the batch shape plus a last axis over ``norms``; ``inf`` where a norm
    makes a predicted count of an observed bin <= 0.
    """
    if norms is None:
        raise GammaxrError("norm_scan: give the norm values to scan")
    norms = np.atleast_1d(np.asarray(norms, dtype=float))
    if norms.ndim != 1:
        raise GammaxrError(f"norm_scan: norms must be 1D, got shape {norms.shape}")
    batch, batch_shape = _prepare(counts, signal, background, axis, mask, counts_off, alpha)
    rows = np.arange(batch.n.shape[0])
    stats = np.stack([batch.stat(np.full(rows.size, value), rows) for value in norms], axis=-1)
    return stats.reshape(*batch_shape, norms.size)
