r"""Optimiser backends behind one signature, and profile-likelihood helpers.

Every backend is a function

.. code-block:: python

    optimize(cost_fn, x0, bounds, *, scales, errordef=1.0, covariance=True,
             minos=False, **options) -> OptimizeResult

that minimises ``cost_fn(x) -> float`` over a vector ``x`` of parameter values.
The optimiser works on the scaled factors ``x / scales`` (each of order one)
and reports values, errors and covariance back in the units of ``x``.
Backends are found by name in :data:`BACKENDS`, then among the
``gammaxr.fit_backends`` entry points; an optional dependency is imported only
when its backend runs.

``"minuit"``
    iminuit's MIGRAD; HESSE for the covariance; MINOS for asymmetric errors.
``"scipy"``
    :func:`scipy.optimize.minimize` (L-BFGS-B, with bounds); the covariance is
    :math:`2\,\mathrm{errordef}\,H^{-1}` from a finite-difference Hessian at
    the optimum (:func:`numerical_hessian`); asymmetric errors are
    profile-likelihood crossings (:func:`profile_crossing`), what MINOS computes.

A fit that does not converge is *reported* (``success=False`` and the
optimiser's message), never raised. Where the cost is not finite (models that
overflow far from the data) or the optimiser proposes a non-finite value, the
optimiser sees :data:`PENALTY` and backs off; the message counts such points,
and a minimisation that ends at one fails with the parameters of the lowest
finite cost it found.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

import numpy as np

from gammaxr.exceptions import FitError

__all__ = [
    "BACKENDS",
    "Backend",
    "OptimizeResult",
    "check_options",
    "get_backend",
    "minimize_fixed",
    "numerical_hessian",
    "optimize",
    "optimize_minuit",
    "optimize_scipy",
    "profile_crossing",
]

CostFunction = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class OptimizeResult:
    """What a backend returns (values in the units of the cost function's ``x``).

    Attributes
    ----------
    x : numpy.ndarray
        Best-fit values.
    fun : float
        Cost at ``x``.
    covariance : numpy.ndarray
        Covariance matrix of ``x`` (NaN when not computed or not available).
    success : bool
        Whether the optimiser converged.
    message : str
        The optimiser's account of what happened.
    nfev : int
        Number of cost evaluations (optimisation, covariance and MINOS).
    backend : str
        Backend name.
    errors_lo, errors_hi : numpy.ndarray
        Asymmetric errors as positive distances below / above ``x`` (NaN unless
        ``minos=True``).
    """

    x: np.ndarray
    fun: float
    covariance: np.ndarray
    success: bool
    message: str
    nfev: int
    backend: str
    errors_lo: np.ndarray = field(default_factory=lambda: np.empty(0))
    errors_hi: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __post_init__(self) -> None:
        n = len(self.x)
        for name in ("errors_lo", "errors_hi"):
            if len(getattr(self, name)) == 0:
                object.__setattr__(self, name, np.full(n, np.nan))
        for name in ("x", "covariance", "errors_lo", "errors_hi"):
            array = np.array(getattr(self, name), dtype=float)
            array.setflags(write=False)
            object.__setattr__(self, name, array)


class Backend(Protocol):
    """The signature every backend implements (see the module docstring)."""

    def __call__(
        self,
        cost_fn: CostFunction,
        x0: np.ndarray,
        bounds: Any,
        *,
        scales: np.ndarray,
        errordef: float = 1.0,
        covariance: bool = True,
        minos: bool = False,
        **options: Any,
    ) -> OptimizeResult:
        """Minimise ``cost_fn`` from ``x0`` within ``bounds``."""


#: What a backend's function returns where the cost is not finite (the models
#: overflow outside their domain, e.g. a power law of index 700) or where the
#: optimiser proposes a non-finite value: a large *finite* value. MIGRAD's line
#: search then backs off from the step; given NaN or inf instead, MINUIT goes on
#: to propose NaN parameter values.
PENALTY = 1e30


class _Counted:
    """``cost_fn`` in scaled factors ``z`` (``x = z * scales``), counting calls.

    Non-finite ``z`` (not passed on to ``cost_fn``) and non-finite costs give
    :data:`PENALTY`; ``n_bad`` counts them. ``best_z`` / ``best_fun`` keep the
    lowest finite cost seen (``best_z`` is None until there is one).
    """

    def __init__(self, cost_fn: CostFunction, scales: np.ndarray, offset: float = 0.0) -> None:
        self.cost_fn, self.scales, self.offset, self.nfev = cost_fn, scales, offset, 0
        self.n_bad = 0
        self.best_z: np.ndarray | None = None
        self.best_fun = math.inf

    def __call__(self, z: np.ndarray) -> float:
        self.nfev += 1
        z = np.asarray(z, dtype=float)
        value = float(self.cost_fn(z * self.scales)) if np.isfinite(z).all() else math.nan
        if not math.isfinite(value):
            self.n_bad += 1
            return PENALTY
        value -= self.offset
        if value < self.best_fun:
            self.best_z, self.best_fun = z.copy(), value
        return value

    def outside(self, z: np.ndarray, value: float) -> bool:
        """Whether ``(z, value)`` is a penalised point (outside the cost's finite domain)."""
        return not (np.isfinite(z).all() and value < 0.5 * PENALTY)

    def note(self) -> str:
        """What to add to a message about rejected evaluations ('' if none)."""
        if not self.n_bad:
            return ""
        return (
            f"; {self.n_bad} of {self.nfev} evaluations had a non-finite cost or parameter "
            "value (outside the models' domain) and were rejected"
        )


def _as_bounds(bounds: Any, n: int) -> np.ndarray:
    """Bounds as an ``(n, 2)`` float array; None or NaN become -inf / +inf."""
    array = np.full((n, 2), np.nan) if bounds is None else np.array(bounds, dtype=float)
    if array.shape != (n, 2):
        raise FitError(f"bounds must be {n} (min, max) pairs, got shape {array.shape}")
    array[:, 0] = np.where(np.isnan(array[:, 0]), -np.inf, array[:, 0])
    array[:, 1] = np.where(np.isnan(array[:, 1]), np.inf, array[:, 1])
    return array


# --------------------------------------------------------------------------------------
# minuit


def optimize_minuit(
    cost_fn: CostFunction,
    x0: np.ndarray,
    bounds: Any,
    *,
    scales: np.ndarray,
    errordef: float = 1.0,
    covariance: bool = True,
    minos: bool = False,
    tol: float = 0.01,
    strategy: int = 1,
    max_calls: int | None = None,
    steps: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    print_level: int = 0,
) -> OptimizeResult:
    """Minimise with iminuit: MIGRAD, then HESSE and (optionally) MINOS.

    Parameters
    ----------
    cost_fn : callable
        ``cost_fn(x) -> float``.
    x0 : array
        Start values.
    bounds : sequence of (min, max)
        Bounds of each value (NaN, inf or None: unbounded).
    scales : array
        Typical magnitudes; MIGRAD sees ``x / scales``.
    errordef : float
        Cost rise for a 1-sigma error (1 for ``-2 ln L``).
    covariance : bool
        Run HESSE after a converged MIGRAD.
    minos : bool
        Run MINOS after a converged MIGRAD.
    tol : float
        MIGRAD tolerance: it stops at EDM < ``0.002 * tol * errordef``. The
        default 0.01 (iminuit's is 0.1) puts best-fit values within ~0.01 sigma.
    strategy : {0, 1, 2}
        MINUIT strategy (speed versus robustness).
    max_calls : int, optional
        Call limit of MIGRAD (default: MINUIT's heuristic).
    steps : array, optional
        Initial step sizes, in the units of ``x`` (default: MINUIT's heuristic).
    names : sequence of str, optional
        Parameter names, for MINUIT's printout.
    print_level : int
        MINUIT's verbosity.

    Returns
    -------
    OptimizeResult
    """
    import iminuit

    scales = np.asarray(scales, dtype=float)
    fcn = _Counted(cost_fn, scales)
    z_bounds = _as_bounds(bounds, len(x0)) / scales[:, None]
    m = iminuit.Minuit(fcn, np.asarray(x0, dtype=float) / scales, name=names)
    m.errordef = errordef
    m.tol = tol
    m.strategy = strategy
    m.print_level = print_level
    m.limits = [tuple(b) for b in z_bounds]
    if steps is not None:
        z_steps = np.asarray(steps, dtype=float) / scales
        ok = np.isfinite(z_steps) & (z_steps > 0)
        m.errors = np.where(ok, z_steps, np.asarray(m.errors))
    m.migrad(ncall=max_calls)
    success = bool(m.fmin.is_valid)
    message = _minuit_message(m.fmin)
    z, fval = np.array(m.values), float(m.fval)
    if fcn.outside(z, fval):
        success = False
        message = _outside_message(fcn, "MIGRAD", x0, scales)
        if fcn.best_z is not None:
            z, fval = fcn.best_z, fcn.best_fun
            m.values = z
    else:
        message += fcn.note()
    n = len(x0)
    cov = np.full((n, n), np.nan)
    if covariance and success:
        m.hesse()
        if m.covariance is not None and m.fmin.has_covariance and not m.fmin.hesse_failed:
            cov = np.array(m.covariance) * np.outer(scales, scales)
        else:
            message += "; HESSE failed"
        if m.fmin.has_made_posdef_covar:
            message += "; covariance forced positive definite"
    lo, hi = np.full(n, np.nan), np.full(n, np.nan)
    if minos and success:
        m.minos()
        for i, name in enumerate(m.parameters):
            error = m.merrors[name]
            if error.is_valid:
                lo[i], hi[i] = -error.lower * scales[i], error.upper * scales[i]
    if fcn.outside(z, fval):  # not even the start was finite
        z, fval = np.asarray(x0, dtype=float) / scales, math.nan
    return OptimizeResult(
        x=z * scales,
        fun=fval,
        covariance=cov,
        success=success,
        message=message,
        nfev=fcn.nfev,
        backend="minuit",
        errors_lo=lo,
        errors_hi=hi,
    )


def _outside_message(fcn: _Counted, name: str, x0: np.ndarray, scales: np.ndarray) -> str:
    """The message of a minimisation that ended where the cost is not finite."""
    if fcn.best_z is None:
        where = "no evaluation gave a finite cost: the parameters are left at their start values"
        if not np.isfinite(np.asarray(x0, dtype=float)).all():
            where = "the start values are not finite"
    else:
        where = "the parameters are those of the lowest finite cost found"
    return (
        f"{name} did not converge: it ended where the cost is not finite (the models left "
        f"their domain, e.g. an overflowing spectrum); {where}{fcn.note()}"
    )


def _minuit_message(fmin: Any) -> str:
    if fmin.is_valid:
        return f"MIGRAD converged: EDM {fmin.edm:.2g} below its goal {fmin.edm_goal:.2g}"
    reasons = []
    if fmin.has_reached_call_limit:
        reasons.append("call limit reached")
    if fmin.is_above_max_edm:
        reasons.append(f"EDM {fmin.edm:.3g} above its goal {fmin.edm_goal:.3g}")
    if not fmin.has_valid_parameters:
        reasons.append("invalid parameters")
    if not fmin.has_posdef_covar:
        reasons.append("covariance not positive definite")
    return "MIGRAD did not converge: " + (", ".join(reasons) or "invalid minimum")


# --------------------------------------------------------------------------------------
# scipy


def optimize_scipy(
    cost_fn: CostFunction,
    x0: np.ndarray,
    bounds: Any,
    *,
    scales: np.ndarray,
    errordef: float = 1.0,
    covariance: bool = True,
    minos: bool = False,
    method: str = "L-BFGS-B",
    max_calls: int | None = None,
    tol: float | None = None,
    options: dict[str, Any] | None = None,
    names: Sequence[str] | None = None,
) -> OptimizeResult:
    """Minimise with :func:`scipy.optimize.minimize`; covariance from a numerical Hessian.

    Parameters
    ----------
    cost_fn, x0, bounds, scales, errordef, covariance : see :func:`optimize_minuit`
    minos : bool
        Compute asymmetric errors as profile-likelihood crossings
        (:func:`profile_crossing` at ``errordef``), re-optimising the others.
    method : str
        A bounded :func:`scipy.optimize.minimize` method (default L-BFGS-B).
    max_calls : int, optional
        Limit on cost evaluations (``maxfun``, finite-difference gradients
        included) for L-BFGS-B, iterations otherwise.
    tol : float, optional
        Passed to :func:`scipy.optimize.minimize`.
    options : dict, optional
        Further ``options`` for the method.
    names : sequence of str, optional
        Unused (accepted for a uniform signature).

    Returns
    -------
    OptimizeResult

    Notes
    -----
    The cost is shifted by its value at ``x0`` so that the relative
    convergence test of L-BFGS-B (``ftol``) acts on differences of order one,
    not on the large constant of a Poisson statistic.
    """
    import scipy.optimize

    scales = np.asarray(scales, dtype=float)
    x_bounds = _as_bounds(bounds, len(x0))
    z0 = np.asarray(x0, dtype=float) / scales
    fcn = _Counted(cost_fn, scales)
    start = fcn(z0)
    fcn.offset = start if start < 0.5 * PENALTY else 0.0
    fcn.best_fun -= fcn.offset
    opts = dict(options or {})
    if max_calls is not None:
        opts["maxfun" if method.upper() == "L-BFGS-B" else "maxiter"] = int(max_calls)
    z_bounds = [
        (None if np.isinf(a) else a, None if np.isinf(b) else b)
        for a, b in x_bounds / scales[:, None]
    ]
    res = scipy.optimize.minimize(fcn, z0, method=method, bounds=z_bounds, tol=tol, options=opts)
    z, fun_z = np.asarray(res.x, dtype=float), float(res.fun)
    success, message = bool(res.success), str(res.message)
    if fcn.outside(z, fun_z):
        success = False
        message = _outside_message(fcn, "scipy.optimize.minimize", x0, scales)
        z, fun_z = (z0, math.nan) if fcn.best_z is None else (fcn.best_z, fcn.best_fun)
    else:
        message += fcn.note()
    x = np.clip(z * scales, x_bounds[:, 0], x_bounds[:, 1])
    n = len(x0)
    cov = np.full((n, n), np.nan)
    if covariance and success:
        hessian = numerical_hessian(fcn, z, bounds=x_bounds / scales[:, None], errordef=errordef)
        try:
            np.linalg.cholesky(hessian)
            cov = 2.0 * errordef * np.linalg.inv(hessian) * np.outer(scales, scales)
        except np.linalg.LinAlgError:
            message += "; Hessian not positive definite: no covariance"
    fun = fun_z + fcn.offset
    lo, hi = np.full(n, np.nan), np.full(n, np.nan)
    if minos and success:
        sigma = np.sqrt(np.diag(cov))
        for i in range(n):
            step = sigma[i] if np.isfinite(sigma[i]) else 0.1 * max(abs(x[i]), scales[i])
            args = (optimize_scipy, cost_fn, x, fun, x_bounds, scales, i)
            kwargs = {
                "delta": errordef,
                "step": step,
                "errordef": errordef,
                "method": method,
                "tol": tol,
            }
            lo[i] = x[i] - profile_crossing(*args, direction=-1, **kwargs, counter=fcn)
            hi[i] = profile_crossing(*args, direction=+1, **kwargs, counter=fcn) - x[i]
    return OptimizeResult(
        x=x,
        fun=fun,
        covariance=cov,
        success=success,
        message=message,
        nfev=fcn.nfev,
        backend="scipy",
        errors_lo=lo,
        errors_hi=hi,
    )


def numerical_hessian(
    fun: CostFunction,
    x: np.ndarray,
    *,
    bounds: Any = None,
    errordef: float = 1.0,
    steps: np.ndarray | None = None,
) -> np.ndarray:
    r"""Hessian of ``fun`` at ``x`` by central finite differences.

    Step sizes adapt to the curvature: a first pass with ``steps`` (default
    :math:`10^{-3} \max(|x|, 1)`) estimates each standard error
    :math:`\sigma_i = \sqrt{2\,\mathrm{errordef}/H_{ii}}`, and the Hessian is
    then computed with steps :math:`0.1\,\sigma_i` (well inside the quadratic
    region, yet large enough that rounding of a cost of order 1e5 is
    negligible). Near a bound the stencil is moved inside the bounds (the
    Hessian of a near-quadratic cost hardly changes over a step).
    Cost: ``2n + 2n + 4 n (n - 1) / 2`` evaluations.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float``.
    x : array
        Where to evaluate the Hessian.
    bounds : array of (min, max), optional
        Bounds the evaluations must respect.
    errordef : float
        Cost rise of a 1-sigma error (sets the second-pass steps).
    steps : array, optional
        First-pass steps.

    Returns
    -------
    numpy.ndarray
        The ``(n, n)`` Hessian.
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    limits = _as_bounds(bounds, n)
    h = np.maximum(np.abs(x), 1.0) * 1e-3 if steps is None else np.asarray(steps, dtype=float)

    def centre(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        width = limits[:, 1] - limits[:, 0]
        h = np.minimum(h, width / 2.5)
        return np.clip(x, limits[:, 0] + h, limits[:, 1] - h), h

    def diagonal(c: np.ndarray, h: np.ndarray, f0: float) -> np.ndarray:
        eye = np.eye(n) * h
        return np.array(
            [(fun(c + eye[i]) - 2.0 * f0 + fun(c - eye[i])) / h[i] ** 2 for i in range(n)]
        )

    c, h = centre(h)
    curvature = diagonal(c, h, fun(c))
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.sqrt(2.0 * errordef / curvature)
    h = np.where(np.isfinite(sigma) & (sigma > 0), 0.1 * sigma, h)
    c, h = centre(h)
    f0 = fun(c)
    hessian = np.diag(diagonal(c, h, f0))
    eye = np.eye(n) * h
    for i in range(n):
        for j in range(i + 1, n):
            value = (
                fun(c + eye[i] + eye[j])
                - fun(c + eye[i] - eye[j])
                - fun(c - eye[i] + eye[j])
                + fun(c - eye[i] - eye[j])
            ) / (4.0 * h[i] * h[j])
            hessian[i, j] = hessian[j, i] = value
    return hessian


# --------------------------------------------------------------------------------------
# profiles at the vector level


def minimize_fixed(
    backend: Backend,
    cost_fn: CostFunction,
    x: np.ndarray,
    bounds: Any,
    scales: np.ndarray,
    index: int,
    value: float,
    **options: Any,
) -> tuple[float, np.ndarray, bool]:
    """Minimise ``cost_fn`` over every value but ``x[index]``, which is held at ``value``.

    Returns
    -------
    fun : float
        The profiled cost.
    x : numpy.ndarray
        The full vector at the conditional minimum.
    success : bool
        Whether that minimisation converged (True when nothing is left free).
    """
    x = np.array(x, dtype=float)
    x[index] = value
    others = np.arange(len(x)) != index
    if not others.any():
        return float(cost_fn(x)), x, True

    def sub(y: np.ndarray) -> float:
        full = x.copy()
        full[others] = y
        return cost_fn(full)

    limits = _as_bounds(bounds, len(x))[others]
    result = backend(
        sub, x[others], limits, scales=np.asarray(scales)[others], covariance=False, **options
    )
    x[others] = result.x
    return result.fun, x, result.success


def profile_crossing(
    backend: Backend,
    cost_fn: CostFunction,
    x_best: np.ndarray,
    fun_best: float,
    bounds: Any,
    scales: np.ndarray,
    index: int,
    *,
    delta: float,
    direction: int,
    step: float,
    max_doublings: int = 12,
    counter: Any = None,
    **options: Any,
) -> float:
    """Where the profiled cost of ``x[index]`` rises by ``delta`` above its minimum.

    The other values are re-optimised at every trial value (warm-started from
    the previous one). The crossing is bracketed by steps of ``step``,
    doubling, away from ``x_best[index]`` in ``direction`` (+1 or -1), then
    found by Brent's method to ``1e-3 * step``.

    Parameters
    ----------
    backend : callable
        Backend used for the re-optimisation.
    cost_fn, x_best, fun_best, bounds, scales : as for the backends
        ``x_best`` must be the minimum, with cost ``fun_best``.
    index : int
        Which value to profile.
    delta : float
        The rise: ``errordef`` for 1-sigma errors, 2.71 for 95 % one-sided
        upper limits (``errordef * chi2.ppf(2 cl - 1, 1)``).
    direction : {+1, -1}
        Search above or below the best fit.
    step : float
        Initial step (about one standard error).
    max_doublings : int
        Bracketing gives up after this many doublings.
    counter : object, optional
        An object whose ``nfev`` attribute is increased by the evaluations made.
    **options
        Backend options.

    Returns
    -------
    float
        The crossing, or NaN if it is not inside the bounds.
    """
    from scipy.optimize import brentq

    limit = _as_bounds(bounds, len(x_best))[index, 1 if direction > 0 else 0]
    start = float(x_best[index])
    state: dict[str, Any] = {"x": np.array(x_best, dtype=float), "nfev": 0}
    known = {start: -delta}  # brentq re-evaluates the bracket ends: reuse them

    def excess(value: float) -> float:
        if value not in known:
            fun, x, _ = minimize_fixed(
                backend, _tally(cost_fn, state), state["x"], bounds, scales, index, value,
                **options,
            )  # fmt: skip
            state["x"] = x
            known[value] = fun - fun_best - delta
        return known[value]

    inner, outer = start, start
    found = False
    for k in range(max_doublings):
        outer = start + direction * step * 2.0**k
        if (outer - limit) * direction >= 0:
            outer = limit
        if excess(outer) > 0:
            found = True
            break
        if outer == limit:
            break
        inner = outer
    if found:
        root = brentq(excess, min(inner, outer), max(inner, outer), xtol=1e-3 * step)
    else:
        root = math.nan
    if counter is not None:
        counter.nfev += state["nfev"]
    return float(root)


def _tally(cost_fn: CostFunction, state: dict[str, Any]) -> CostFunction:
    def counted(x: np.ndarray) -> float:
        state["nfev"] += 1
        return cost_fn(x)

    return counted


# --------------------------------------------------------------------------------------
# registry

#: Backends by name.
BACKENDS: dict[str, Backend] = {"minuit": optimize_minuit, "scipy": optimize_scipy}


def get_backend(name: str) -> Backend:
    """The backend called ``name``: in :data:`BACKENDS` or a ``gammaxr.fit_backends`` entry point.

    Raises
    ------
    FitError
        If there is no such backend (the message names the known ones).
    """
    if name in BACKENDS:
        return BACKENDS[name]
    for entry in entry_points(group="gammaxr.fit_backends"):
        if entry.name == name:
            return entry.load()
    known = sorted({*BACKENDS, *(e.name for e in entry_points(group="gammaxr.fit_backends"))})
    raise FitError(f"unknown fit backend {name!r}; use one of {known}")


def check_options(backend: Backend, options: dict[str, Any], name: str = "") -> None:
    """Raise :class:`FitError` if ``options`` holds keywords ``backend`` does not take."""
    parameters = inspect.signature(backend).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    fixed = {"cost_fn", "x0", "bounds", "scales", "errordef", "covariance", "minos"}
    allowed = sorted(set(parameters) - fixed)
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise FitError(f"fit backend {name!r} has no options {unknown}; it takes {allowed}")


def optimize(
    cost_fn: CostFunction,
    x0: np.ndarray,
    bounds: Any,
    *,
    scales: np.ndarray,
    backend: str = "minuit",
    **options: Any,
) -> OptimizeResult:
    """Minimise ``cost_fn`` with the backend called ``backend`` (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from gammaxr.fit.backends import optimize
    >>> result = optimize(lambda x: ((x[0] - 3.0) / 0.5) ** 2, [1.0], None, scales=[1.0])
    >>> round(float(result.x[0]), 4), round(float(np.sqrt(result.covariance[0, 0])), 4)
    (3.0, 0.5)
    """
    func = get_backend(backend)
    check_options(func, options, backend)
    return func(
        cost_fn, np.asarray(x0, dtype=float), bounds, scales=np.asarray(scales, float), **options
    )
