r"""Likelihood profiles, asymmetric errors, upper limits and source significance.

All of these compare values of a ``-2 ln L`` statistic (see
:mod:`gammaxr.fit.statistics`). Their error levels rely on **Wilks' theorem**:
for a large sample, and a true value *inside* the allowed range, the rise of the
profiled statistic at the true value of :math:`k` parameters is
:math:`\chi^2_k`-distributed. Hence the 1-sigma interval of one parameter is
where the profile rises by 1, a one-sided 95 % upper limit where it rises by
:math:`\chi^2_1`'s 90 % quantile (2.71), and the test statistic of a source
with one free amplitude gives its significance as :math:`\sqrt{TS}`. Wilks does
*not* hold when the null value sits on a bound (an amplitude with ``min = 0``:
TS is then half :math:`\chi^2_0`, half :math:`\chi^2_1`) or for
parameters that vanish under the null (a position without a source); with few
counts the quantiles are only approximate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.special
import xarray as xr

from gammaxr.exceptions import FitError
from gammaxr.fit.backends import check_options, get_backend, minimize_fixed, profile_crossing
from gammaxr.fit.fit import CostLike, Problem, as_cost, fit

if TYPE_CHECKING:
    from gammaxr.models import Models

__all__ = ["asymmetric_errors", "profile", "significance_from_ts", "ts_source", "upper_limit"]


def _locate(problem: Problem, parameter: str) -> int:
    for index, group in enumerate(problem.groups):
        if parameter in group:
            return index
    if parameter in problem.models.parameters:
        raise FitError(f"parameter {parameter!r} is frozen; free it to profile it")
    raise FitError(f"no parameter {parameter!r}; the free ones are {problem.names}")


def profile(
    data: CostLike,
    models: Models,
    parameter: str,
    values: Any,
    *,
    reoptimize: bool = True,
    backend: str = "minuit",
    **options: Any,
) -> xr.Dataset:
    """The statistic as a function of one parameter.

    Parameters
    ----------
    data : Cost, dataset, or a sequence or mapping of them
        What to fit (see :func:`gammaxr.fit.as_cost`).
    models : Models
        The models, usually the best fit (``result.models``). The other free
        parameters start (``reoptimize=True``) or stay (``False``) there.
    parameter : str
        Full name of a free parameter (``"crab.spectral.index"``); a linked
        parameter moves with its group.
    values : array
        Values to scan, in the parameter's unit.
    reoptimize : bool
        Re-fit the other free parameters at each value (a profile likelihood)
        rather than keep them fixed (a likelihood slice).
    backend : str
        Backend for the re-fits.
    **options
        Backend options.

    Returns
    -------
    xarray.Dataset
        On dim ``value`` (the scanned values): ``statistic``, ``success``
        (whether each re-fit converged) and one variable per other free
        parameter, named by its full name, with its best value.
    """
    problem = Problem(as_cost(data), models)
    index = _locate(problem, parameter)
    values = np.atleast_1d(np.asarray(values, dtype=float))
    func = get_backend(backend)
    options = {k: v for k, v in options.items() if k not in ("minos", "covariance")}
    check_options(func, options, backend)
    x = problem.x0.copy()
    stats, success, best = [], [], []
    for value in values:
        if reoptimize:
            fun, x, ok = minimize_fixed(
                func, problem, x, problem.bounds, problem.scales, index, value,
                errordef=problem.cost.errordef, **options,
            )  # fmt: skip
        else:
            x = problem.x0.copy()
            x[index] = value
            fun, ok = problem(x), True
        stats.append(fun)
        success.append(ok)
        best.append(x.copy())
    coords = {"value": ("value", values, {"units": models.parameters[parameter].unit})}
    variables: dict[str, Any] = {
        "statistic": ("value", np.array(stats)),
        "success": ("value", np.array(success)),
    }
    columns = np.array(best).reshape(len(values), len(problem.groups))
    for i, group in enumerate(problem.groups):
        if i != index:
            for name in group:
                unit = models.parameters[name].unit
                variables[name] = ("value", columns[:, i], {"units": unit})
    return xr.Dataset(variables, coords=coords, attrs={"parameter": parameter})


def asymmetric_errors(
    data: CostLike,
    models: Models,
    *,
    backend: str = "minuit",
    **options: Any,
) -> pd.DataFrame:
    """Asymmetric 1-sigma errors of every free parameter (profile likelihood).

    With ``backend="minuit"`` this is MINOS; with ``"scipy"`` the crossings of
    the profiled statistic at ``best + errordef`` are found by root finding.
    Both fit first, starting from ``models``.

    Returns
    -------
    pandas.DataFrame
        Index ``name`` (free parameters); columns ``value``, ``error``,
        ``error_lo``, ``error_hi`` (positive distances below / above the value).
    """
    result = fit(data, models, backend=backend, minos=True, **options)
    table = result.parameters
    return table.loc[~table["frozen"], ["value", "error", "error_lo", "error_hi"]]


def upper_limit(
    data: CostLike,
    models: Models,
    parameter: str,
    *,
    cl: float = 0.95,
    backend: str = "minuit",
    **options: Any,
) -> float:
    r"""One-sided upper limit of a parameter from the profile likelihood.

    The models are fitted, then the value above the best fit where the
    profiled statistic rises by :math:`\chi^2_1(2\,cl - 1)` (2.71 for
    ``cl = 0.95``) is found by Brent's method (the other free parameters are
    re-fitted at every trial value). If the parameter has a lower bound and
    the best fit sits on it, the rise is counted from that bound (the
    bounded-likelihood limit, which over-covers slightly).

    Parameters
    ----------
    data, models : see :func:`profile`
    parameter : str
        Full name of a free parameter.
    cl : float
        Confidence level of the one-sided limit (0.5 < cl < 1).
    backend : str
        Backend for the fits.
    **options
        Backend options.

    Returns
    -------
    float
        The limit, in the parameter's unit (NaN if the profile does not rise
        enough before the parameter's maximum).
    """
    if not 0.5 < cl < 1:
        raise FitError(f"upper_limit: cl must be between 0.5 and 1, got {cl}")
    cost = as_cost(data)
    problem = Problem(cost, models)
    index = _locate(problem, parameter)
    result = problem.minimize(backend, **options)
    if not result.success:
        raise FitError(f"upper_limit: the fit did not converge ({result.message})")
    # the chi2 (1 dof) quantile of 2 cl - 1 (scipy.special: no scipy.stats import, ~1 s)
    delta = cost.errordef * scipy.special.chdtri(1, 2.0 - 2.0 * cl)
    sigma = float(np.sqrt(result.covariance[index, index]))
    step = sigma * np.sqrt(delta) if np.isfinite(sigma) and sigma > 0 else problem.scales[index]
    options = {k: v for k, v in options.items() if k not in ("minos", "covariance")}
    return profile_crossing(
        get_backend(backend), problem, result.x, result.fun, problem.bounds, problem.scales,
        index, delta=delta, direction=+1, step=step, errordef=cost.errordef, **options,
    )  # fmt: skip


def ts_source(
    data: CostLike,
    models: Models,
    source_name: str,
    *,
    backend: str = "minuit",
    **options: Any,
) -> float:
    """Test statistic of one source: ``stat(without it) - stat(with it)``, both re-fitted.

    Parameters
    ----------
    data, models : see :func:`profile`
        ``models`` must contain ``source_name``.
    source_name : str
        The model to test.
    backend : str
        Backend for the two fits.
    **options
        Backend options.

    Returns
    -------
    float
        TS. Under the null hypothesis (no source) and Wilks' conditions it is
        chi2-distributed with as many degrees of freedom as the source has free
        parameters (see the module docstring for when it is not).

    Raises
    ------
    FitError
        If ``source_name`` is not in ``models`` or either fit fails to converge.
    """
    if source_name not in models:
        raise FitError(f"ts_source: no model {source_name!r}; the models are {list(models)}")
    from gammaxr.models import Models

    cost = as_cost(data)
    without = Models(m for name, m in models.items() if name != source_name)
    options = {k: v for k, v in options.items() if k not in ("minos", "covariance")}
    results = [
        Problem(cost, m).minimize(backend, covariance=False, **options) for m in (models, without)
    ]
    failed = [r.message for r in results if not r.success]
    if failed:
        raise FitError(f"ts_source: a fit did not converge: {failed}")
    return results[1].fun - results[0].fun


def significance_from_ts(ts: Any, *, sign: Any = 1.0) -> Any:
    r"""Significance :math:`\mathrm{sign} \cdot \sqrt{\max(TS, 0)}` for one degree of freedom.

    Valid under Wilks' theorem for a source with one free parameter whose null
    value is not on a bound (see the module docstring). Vectorised: ``ts`` and
    ``sign`` may be arrays or DataArrays (e.g. a TS map and the fitted
    amplitude, whose sign marks deficits). For on-off counts,
    :func:`gammaxr.estimators.significance` gives the Li & Ma significance.

    Examples
    --------
    >>> from gammaxr.fit import significance_from_ts
    >>> float(significance_from_ts(25.0)), float(significance_from_ts(25.0, sign=-2e-12))
    (5.0, -5.0)
    """
    return np.sign(sign) * np.sqrt(np.maximum(ts, 0.0))
