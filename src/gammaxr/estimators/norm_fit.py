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
            log_n = np.log(self.wn, out=np.zeros_like(self.wn), where=self.has)
            self.constant = np.einsum("ij,ij->i", self.wn, log_n) - np.sum(self.wn, axis=1)
            # mu of the bins with counts and signal as b_v + x s_v (1 + 0 x elsewhere)
            self.b_v = np.where(self.varies, background, 1.0)
            self.s_v = np.where(self.varies, signal, 0.0)
            self.wn_s = self.wn * self.s_v
            # bins with counts but no signal: their log term is a constant too
            # (a row with such a bin at b <= 0 is outside the domain everywhere)
            fixed = self.has & ~self.varies
            self.dead = np.any(fixed & (background <= 0), axis=1)
            log_b = np.log(background, out=np.zeros_like(self.wn), where=fixed & (background > 0))
            self.constant_v = self.constant - np.einsum("ij,ij->i", self.wn, log_b)

    def _mu(self, x: np.ndarray, rows: Any) -> np.ndarray:
        return self.b[rows] + x[:, None] * self.s[rows]

    def _inverse_mu(self, x: np.ndarray, rows: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``1 / mu`` in the bins with counts and signal (1 elsewhere); rows where one is <= 0.

        Also returns ``s_v[rows]`` (the signal of those bins, 0 elsewhere).
        """
        s_v = self.s_v[rows]
        mu = x[:, None] * s_v
        mu += self.b_v[rows]
        outside = mu.min(axis=1, initial=np.inf) <= 0
        with np.errstate(divide="ignore"):
            np.reciprocal(mu, out=mu)
        return mu, outside, s_v

    def stat(self, x: np.ndarray, rows: Any = slice(None)) -> np.ndarray:
        """The statistic (a deviance: ``-2 ln L`` up to a constant) at ``x``."""
        if self.onoff:
            n, w = self.n[rows], self.w[rows]
            terms = wstat(n, self.n_off[rows], self.alpha[rows], x[:, None] * self.s[rows])
            return np.sum(np.where(w > 0, terms, 0.0), axis=1)
        mu = x[:, None] * self.s_v[rows]
        mu += self.b_v[rows]
        outside = (mu.min(axis=1, initial=np.inf) <= 0) | self.dead[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_term = np.einsum("ij,ij->i", self.wn[rows], np.log(mu))
        value = 2.0 * (self.b_sum[rows] + x * self.s_sum[rows] + self.constant_v[rows] - log_term)
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
        inverse, outside, s_v = self._inverse_mu(x, rows)
        ratio = self.wn_s[rows] * inverse  # n s / mu
        grad = 2.0 * (self.s_sum[rows] - np.sum(ratio, axis=1))
        grad = np.where(outside, -np.inf, grad)
        if not curvature:
            return grad, None
        ratio *= inverse
        second = 2.0 * np.einsum("ij,ij->i", ratio, s_v)
        return grad, np.where(outside, np.inf, second)

    def derivatives(
        self, x: np.ndarray, rows: Any = slice(None)
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cash: the first three derivatives of :meth:`stat` in ``x``, in one pass.

        With ``q = s / mu`` and ``t = n q``: ``2 (sum s - sum t)``,
        ``2 sum t q`` and ``-4 sum t q^2``; ``-inf`` / ``inf`` / ``-inf`` where a
        bin with counts has ``mu <= 0``.
        """
        inverse, outside, s_v = self._inverse_mu(x, rows)
        t = self.wn_s[rows] * inverse  # n q, q = s / mu
        inverse *= s_v  # q
        t_q = t * inverse
        grad = 2.0 * (self.s_sum[rows] - np.sum(t, axis=1))
        second = 2.0 * np.sum(t_q, axis=1)
        third = -4.0 * np.einsum("ij,ij->i", t_q, inverse)
        return (
            np.where(outside, -np.inf, grad),
            np.where(outside, np.inf, second),
            np.where(outside, -np.inf, third),
        )

    def stat_grad(self, x: np.ndarray, rows: Any = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`stat` and :meth:`grad` at ``x`` (one pass over the bins for Cash)."""
        if self.onoff:
            return self.stat(x, rows), self.grad(x, rows)
        return self.stat_derivatives(x, rows, curvature=False)[:2]

    def stat_derivatives(
        self, x: np.ndarray, rows: Any = slice(None), *, curvature: bool = True
    ) -> tuple[np.ndarray, ...]:
        """Cash: :meth:`stat`, :meth:`grad` and (optionally) the curvature, in one pass."""
        s_v = self.s_v[rows]
        mu = x[:, None] * s_v
        mu += self.b_v[rows]
        outside_varies = mu.min(axis=1, initial=np.inf) <= 0
        wn = self.wn[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_term = np.einsum("ij,ij->i", wn, np.log(mu))
            np.reciprocal(mu, out=mu)
        stat = 2.0 * (self.b_sum[rows] + x * self.s_sum[rows] + self.constant_v[rows] - log_term)
        ratio = self.wn_s[rows] * mu  # n s / mu
        grad = 2.0 * (self.s_sum[rows] - np.sum(ratio, axis=1))
        stat = np.where(outside_varies | self.dead[rows], np.inf, stat)
        grad = np.where(outside_varies, -np.inf, grad)
        if not curvature:
            return stat, grad
        ratio *= mu
        second = 2.0 * np.einsum("ij,ij->i", ratio, s_v)
        return stat, grad, np.where(outside_varies, np.inf, second)

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
    both: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]] | None = None,
    first: tuple[np.ndarray, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Roots of increasing functions on brackets ``func(lo) <= 0 <= func(hi)``.

    Newton steps from ``x0``, replaced by bisection when they would leave the
    bracket, which shrinks every iteration. ``both``, if given, returns
    ``(func, slope)`` in one call, or ``(func, slope, curvature)``: then the
    steps are Halley's (cubic convergence, and exact for ``a + b / (x - c)``,
    the shape of a Cash gradient near a pole), Newton's where Halley's would
    leave the bracket. ``first``, if given, is what ``both`` gives at ``x0``
    (which must then lie in its bracket). Returns the roots and a convergence
    flag.
    """
    if both is None:

        def both(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return func(x, rows), slope(x, rows)

    lo, hi = lo.copy(), hi.copy()
    x = np.clip(x0, lo, hi)
    x = np.where(np.isfinite(x), x, 0.5 * (lo + hi))
    converged = np.zeros(x.shape, bool)
    previous = np.full(x.size, np.inf)  # the last Halley step of each row
    rows = np.arange(x.size)
    for _ in range(_MAXITER):
        if not rows.size:
            break
        xr_ = x[rows]
        if first is not None:
            values = first
            first = None
        else:
            values = both(xr_, rows)
        value, derivative = values[0], values[1]
        below = value < 0
        lo[rows] = np.where(below, xr_, lo[rows])
        hi[rows] = np.where(below, hi[rows], xr_)
        took_halley = np.zeros(rows.size, bool)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = xr_ - value / derivative
            if len(values) == 3:
                denominator = 2.0 * derivative**2 - value * values[2]
                halley = xr_ - 2.0 * value * derivative / denominator
                fits = np.isfinite(halley) & (halley > lo[rows]) & (halley < hi[rows])
                took_halley = fits & (denominator > 0)
                newton = np.where(took_halley, halley, newton)
        inside = np.isfinite(newton) & (newton > lo[rows]) & (newton < hi[rows])
        # a bracket open on one side (Newton's steps are known to stay inside)
        # has nothing to bisect: a step that leaves it ends the search there
        open_ = ~(np.isfinite(lo[rows]) & np.isfinite(hi[rows]))
        new = np.where(inside, newton, np.where(open_, xr_, 0.5 * (lo[rows] + hi[rows])))
        tol = _TOL * np.maximum(np.abs(new), 1.0)
        done = (np.abs(new - xr_) <= tol) | (hi[rows] - lo[rows] <= tol) | (value == 0)
        # Halley's steps shrink cubically: after steps d1 then d2 the next one
        # is about d2^4 / d1^3; below the tolerance, the new point is taken as
        # the root without evaluating it
        step = np.abs(new - xr_)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            last = previous[rows]
            predicted = np.where(np.isfinite(last), step * (step / last) ** 3, np.inf)
        done |= took_halley & inside & (1e3 * predicted <= tol)
        previous[rows] = np.where(took_halley & inside, step, np.inf)
        settled = np.isfinite(newton) & (np.abs(newton - xr_) <= tol)
        failed = open_ & ~inside & ~settled & (value != 0)
        x[rows] = np.where(value == 0, xr_, new)
        converged[rows[done & ~failed]] = True
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
    bound = ratio.max(axis=1)
    # whether a bin with counts sets the bound (the gradient has a pole there)
    batch.pole_at_bound = np.any(batch.has & (ratio == bound[:, None]), axis=1)
    return bound


def _minimum(
    batch: _Batch, rows_valid: np.ndarray, guess: np.ndarray, scale: np.ndarray, lower: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The best-fit norm of rows ``rows_valid``: bracket walk, then Newton with bisection.

    Returns the minimum and a convergence flag; a minimum on the domain bound
    ``lower`` (the gradient positive all the way down) counts as converged.
    """

    def on(func: Callable, subset: np.ndarray) -> Callable:
        return lambda x, rows: func(x, rows_valid[subset[rows]])

    everything = np.arange(guess.size)
    # bracket of the minimum: grad <= 0 at lo, >= 0 at hi; the guess is one end
    # (by the sign of the gradient there) and the walk looks for the other
    lo, hi, ok_lo, ok_hi = _bracket(on(batch.grad, everything), guess, scale, lower)
    # ok_lo False: grad > 0 all the way down to the domain bound -> minimum on the bound
    # ok_hi False: grad < 0 as far up as the walk went -> no minimum found.
    # Only the rows with a true bracket are searched (a row whose minimum is on
    # the bound would otherwise bisect down to it, ~35 steps).
    best = np.where(ok_lo, hi, lower)
    converged = ok_lo & ok_hi
    solve = np.flatnonzero(converged)
    if solve.size:
        fused = None if batch.onoff else on(batch.derivatives, solve)
        best[solve], converged[solve] = _root(
            on(batch.grad, solve), on(batch.curvature, solve), lo[solve], hi[solve],
            guess[solve], both=fused,
        )  # fmt: skip
    converged |= ~ok_lo & ok_hi
    return best, converged


def _cash_minimum(
    batch: _Batch, rows_valid: np.ndarray, guess: np.ndarray, scale: np.ndarray, lower: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_minimum` for Cash, bracketed by one Newton step from the guess.

    The Cash gradient is increasing and concave in ``norm`` (its second
    derivative, ``-4 sum n s^3 / mu^3``, is negative), so a tangent never
    passes below it: a Newton step lands on the near side of the root from
    the left, on the left of it from the right. The guess is therefore a left
    end when its gradient is <= 0 (no right end is needed: the steps from
    there increase towards the root) and otherwise a right end, with the
    Newton step from it a left end. Rows where that step leaves the domain
    (or rounding spoils the sign) go to the general :func:`_minimum`.
    """
    size = guess.size
    everything = np.arange(size)
    value, slope, third = batch.derivatives(guess, rows_valid)
    lo, hi = guess.copy(), np.full(size, np.inf)
    x0 = guess.copy()
    right = value > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        step = guess[right] - value[right] / slope[right]
    usable = np.isfinite(step) & (step > lower[right])
    general = np.zeros(size, bool)
    on_bound = np.zeros(size, bool)
    # a step below the domain bound: a gradient >= 0 at the bound puts the
    # minimum there (it can be, when the bin setting the bound has no counts);
    # otherwise the root is between the bound and the guess, and Halley's step
    # from the guess starts the search (near the bound of a bin with counts
    # the gradient goes as -1 / distance: Halley's steps are exact for that,
    # Newton's only double the distance)
    beyond = np.flatnonzero(right)[~usable]
    if beyond.size:
        v0 = np.full(beyond.size, -np.inf)
        smooth = ~batch.pole_at_bound[rows_valid[beyond]]
        v0[smooth] = batch.grad(lower[beyond[smooth]], rows_valid[beyond[smooth]])
        on_bound[beyond] = v0 >= 0
        inner = beyond[v0 < 0]
        g, d1, d2 = value[inner], slope[inner], third[inner]
        with np.errstate(divide="ignore", invalid="ignore"):
            denominator = 2.0 * d1**2 - g * d2
            halley = guess[inner] - 2.0 * g * d1 / denominator
        fits = np.isfinite(halley) & (halley > lower[inner]) & (halley < guess[inner])
        start = np.where(fits & (denominator > 0), halley, 0.5 * (lower[inner] + guess[inner]))
        value[inner], slope[inner], third[inner] = batch.derivatives(start, rows_valid[inner])
        lo[inner], hi[inner], x0[inner] = lower[inner], guess[inner], start
    moved = np.flatnonzero(right)[usable]
    if moved.size:
        v1, s1, t1 = batch.derivatives(step[usable], rows_valid[moved])
        left_of_root = v1 <= 0
        general[moved[~left_of_root]] = True
        kept = moved[left_of_root]
        hi[kept] = guess[kept]
        lo[kept] = x0[kept] = step[usable][left_of_root]
        value[kept], slope[kept] = v1[left_of_root], s1[left_of_root]
        third[kept] = t1[left_of_root]
    general |= ~on_bound & (~np.isfinite(value) | ~(slope > 0))
    best = np.where(on_bound, lower, np.nan)
    converged = on_bound.copy()
    newton = everything[~general & ~on_bound]
    if newton.size:
        rows = rows_valid[newton]
        best[newton], converged[newton] = _root(
            lambda x, r: batch.grad(x, rows[r]), lambda x, r: batch.curvature(x, rows[r]),
            lo[newton], hi[newton], x0[newton],
            both=lambda x, r: batch.derivatives(x, rows[r]),
            first=(value[newton], slope[newton], third[newton]),
        )  # fmt: skip
    rest = everything[general]
    if rest.size:
        best[rest], converged[rest] = _minimum(
            batch, rows_valid[rest], guess[rest], scale[rest], lower[rest]
        )
    return best, converged


def _cash_crossing_up(
    batch: _Batch,
    rows_valid: np.ndarray,
    best: np.ndarray,
    stat_best: np.ndarray,
    err: np.ndarray,
    scale: np.ndarray,
    level: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Cash: where the statistic has risen by ``level`` above the best fit, upwards.

    The rise is convex and increasing above the best fit, so its tangents
    pass below it: a Newton step from anywhere above the best fit lands at or
    beyond the crossing, and from there the steps decrease monotonically onto
    it. No bracket walk is needed; the search starts at the parabolic
    estimate ``best + sqrt(level) * err``. Returns the crossings and whether
    each was found (for Cash it exists whenever there is signal).
    """

    def rise_both(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        value, slope, second = batch.stat_derivatives(x, rows_valid[rows])
        return value - stat_best[rows] - level, slope, second

    everything = np.arange(best.size)
    step = np.where(np.isfinite(err) & (err > 0), err, scale) * np.sqrt(level)
    start = best + step
    value, slope, second = rise_both(start, everything)
    lo = np.where(value < 0, start, best)
    hi = np.where(value < 0, np.inf, start)
    root, ok = _root(
        lambda x, rows: rise_both(x, rows)[0], lambda x, rows: rise_both(x, rows)[1],
        lo, hi, start, both=rise_both, first=(value, slope, second),
    )  # fmt: skip
    ok &= np.isfinite(value) & (slope > 0) & np.isfinite(root)
    return np.where(ok, root, np.nan), ok


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
    batch, batch_shape = _prepare(counts, signal, background, axis, mask, counts_off, alpha)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _fit_norm(batch, batch_shape, n_sigma, n_sigma_ul, asymmetric, upper_limit)


def fit_norm_rows(
    counts: np.ndarray,
    signal: np.ndarray,
    background: np.ndarray,
    mask: np.ndarray,
    *,
    n_sigma: float = 1.0,
    n_sigma_ul: float = 2.0,
    asymmetric: bool = True,
    upper_limit: bool = True,
) -> dict[str, np.ndarray]:
    """:func:`fit_norm` (Cash) of each row of ``(B, K)`` arrays, for callers that own them.

    The inputs must already be float64 ``(B, K)`` arrays, finite, counts,
    signal and background >= 0, with the boolean ``mask``; nothing is checked
    or copied (the TS map builds millions of such rows). Returns what
    :func:`fit_norm` returns, over ``B``.
    """
    batch = _Batch(counts, signal, background, mask, None, None)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _fit_norm(batch, (counts.shape[0],), n_sigma, n_sigma_ul, asymmetric, upper_limit)


def _fit_norm(
    batch: _Batch,
    batch_shape: tuple,
    n_sigma: float,
    n_sigma_ul: float,
    asymmetric: bool,
    upper_limit: bool,
) -> dict[str, np.ndarray]:
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
    if batch.onoff:
        best, converged = _minimum(batch, rows_valid, g_guess, g_scale, g_lo)
    else:
        best, converged = _cash_minimum(batch, rows_valid, g_guess, g_scale, g_lo)
    if batch.onoff:
        stat_best = stat(best, np.arange(best.size))
        curvature_best = curvature(best, np.arange(best.size))
    else:
        stat_best, _, curvature_best = batch.stat_derivatives(best, rows_valid)
    stat_null = stat(np.zeros(best.size), np.arange(best.size))

    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.sqrt(2.0 / curvature_best)

    def crossing(level: float, direction: float) -> tuple[np.ndarray, np.ndarray]:
        if direction > 0 and not batch.onoff:
            return _cash_crossing_up(batch, rows_valid, best, stat_best, err, g_scale, level)
        return general_crossing(level, direction)

    def general_crossing(level: float, direction: float) -> tuple[np.ndarray, np.ndarray]:
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
