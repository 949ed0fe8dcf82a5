"""Joint and stacked datasets: concatenation along ``obs_id`` and its reduction.

A *joint* dataset holds per-observation datasets on one geometry, concatenated
along ``obs_id`` (:func:`concat_observations`). *Stacking* (:func:`stack`) is
the reduction of a joint dataset over ``obs_id``, with the rules of Gammapy's
``MapDataset.stack`` (``Datasets.stack_reduce``). With ``m_i(E, p)`` the safe
mask of observation ``i`` (reco energy ``E``, sky pixel ``p``; no ``p`` for a
spectrum dataset) and ``a_i(p) = OR_E m_i(E, p)`` its safe *image*:

==============  ======================================================================
variable        stacked value
==============  ======================================================================
``counts``      ``sum_i m_i C_i``: bins outside an observation's safe mask add nothing
``background``  ``sum_i m_i B_i`` (predicted counts, as for ``counts``)
``exposure``    ``sum_i a_i(p) X_i(E_true, p)``: a pixel adds an observation's exposure
                at all true energies if it is safe at any reco energy (exposure has
                no reco-energy axis to mask; Gammapy's ``mask_safe_image``)
``mask_safe``   ``OR_i m_i``
``mask_fit``    ``OR_i`` (Gammapy stacks fit masks without weights)
``psf``         ``sum_i w_i psf_i / sum_i w_i``, an exposure-weighted mean per true energy
``edisp``       ``sum_i w_i m_i(E, c) K_i / sum_i w_i``: each observation's migration
                rows are zeroed in reco bins outside its safe range at the centre ``c``,
                so stacked rows sum to less than one where observations' safe ranges
                differ, and stacked ``exposure * edisp`` reproduces the sum of the
                observations' safe predicted counts
``psf_map``,    the same on the coarse grid (``irf_lat``, ``irf_lon``): weights are the
``edisp_map``   exposure (and safe mask) in the fine pixel nearest each coarse pixel centre
``livetime``    ``sum_i`` over observations with any safe bin (as Gammapy); also
                ``ontime``
==============  ======================================================================

The PSF / edisp weight ``w_i(E_true) = a_i(c) X_i(E_true, c)`` is the exposure of
observation ``i`` at the geometry centre ``c``, counted only if the centre is in
its safe image (Gammapy weights IRF maps by their own exposure map and the safe
mask at the IRF position; here one PSF and one edisp stand for the geometry
centre). The centre pixel is index ``n // 2`` along ``lat`` and ``lon``: the
central pixel for an odd number of pixels, the one just above the centre for an
even number. Where the summed weight of a true-energy bin is zero the stacked
PSF and edisp are zero there (as Gammapy). Entries with zero weight never enter
a sum, so NaN in an unsafe bin or in an IRF at zero exposure does no harm; NaN
inside a safe bin propagates (Gammapy would turn it into 0).

On-off datasets (with ``counts_off``, ``acceptance``, ``acceptance_off``) are
stacked by :func:`stack_on_off`, which :func:`stack` calls for them: off counts
are summed within the safe masks and alpha is recomputed from the
observations' background estimates (Gammapy's ``SpectrumDatasetOnOff.stack``);
all other variables follow the table above.

These rules make stacking associative: stacking a stacked dataset with another
one (:func:`stack_pair`) equals stacking all observations at once, because a
stacked dataset's safe mask is the union of its observations' masks and its
exposure already carries their weights.

Per-observation metadata
------------------------
A per-observation dataset holds scalar metadata in attrs (``obs_id``,
``livetime``, ...). In the joint form :func:`concat_observations` makes
``obs_id`` the index of the new dim and each attribute listed in
:data:`PER_OBSERVATION_ATTRS` (or given as ``per_obs``) a ``(obs_id)`` data
variable with its unit in ``attrs["units"]``; all other attributes must agree
between observations and stay dataset attrs. :func:`stack` sums ``livetime``
and ``ontime`` into 0-d variables (0-d so that stacking stays lazy), drops the
other ``(obs_id)``-only variables and ``(obs_id)`` coordinates (they describe
single observations), and records the stacked ids as ``attrs["obs_ids"]``.

Everything is vectorised and lazy: Dask-backed inputs give Dask-backed outputs
and nothing is computed.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from gammaxr.conventions import (
    ENERGY,
    ENERGY_TRUE,
    IRF_LAT,
    IRF_LON,
    LAT,
    LON,
    OBS_ID,
    RAD,
    require_dims,
)
from gammaxr.exceptions import DimensionError, FormatError

__all__ = [
    "ON_OFF_VARIABLES",
    "PER_OBSERVATION_ATTRS",
    "concat_observations",
    "on_off_alpha",
    "stack",
    "stack_on_off",
    "stack_pair",
]

#: The variables an on-off dataset adds to a spectrum (or map) dataset.
ON_OFF_VARIABLES = ("counts_off", "acceptance", "acceptance_off")

#: Attributes of a per-observation dataset that become ``(obs_id)`` variables
#: in the joint form, with their units.
#: (The names written by :func:`gammaxr.reduce.make_map_dataset`.)
PER_OBSERVATION_ATTRS: Mapping[str, str] = {
    "livetime": "s",
    "ontime": "s",
    "deadc": "",
    "tstart": "s",
    "tstop": "s",
    "time_start": "",
    "time_stop": "",
    "pointing_ra": "deg",
    "pointing_dec": "deg",
    "pointing_alt": "deg",
    "pointing_az": "deg",
    "irf_offset": "deg",
    "off_regions": "",
    "n_off_regions": "",
}

# Per-observation scalars that stacking sums (over observations with a safe bin).
_SUMMED_TIMES = ("livetime", "ontime")
# Variables with a stacking rule, and the dims each must have (besides obs_id).
_REQUIRED_DIMS: dict[str, tuple[str, ...]] = {
    "counts": (ENERGY,),
    "background": (ENERGY,),
    "exposure": (ENERGY_TRUE,),
    "mask_safe": (ENERGY,),
    "mask_fit": (ENERGY,),
    "psf": (ENERGY_TRUE, RAD),
    "edisp": (ENERGY_TRUE, ENERGY),
    "psf_map": (ENERGY_TRUE, RAD, IRF_LAT, IRF_LON),
    "edisp_map": (ENERGY_TRUE, ENERGY, IRF_LAT, IRF_LON),
}
# Variables that must carry the obs_id dim; IRFs and mask_fit may be shared.
_PER_OBSERVATION_VARIABLES = ("counts", "background", "exposure", "mask_safe")


def concat_observations(
    datasets: Sequence[xr.Dataset],
    *,
    per_obs: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """Concatenate per-observation datasets along a new ``obs_id`` dim (the joint form).

    Parameters
    ----------
    datasets : sequence of xarray.Dataset
        Datasets on one geometry, each with an integer ``attrs["obs_id"]``
        (unique) and no ``obs_id`` dim.
    per_obs : mapping of str to str, optional
        Attributes that differ between observations (numbers or strings),
        mapped to their unit; each one present becomes a ``(obs_id)`` variable
        with ``attrs["units"]`` (float64 for ``livetime`` and ``ontime``, else
        of the attribute's own type). It replaces the default,
        :data:`PER_OBSERVATION_ATTRS`: times (``livetime``, ``ontime``,
        ``tstart``, ``tstop`` in s; ``time_start``, ``time_stop`` as ISO
        strings), ``deadc``, the pointing (``pointing_ra``, ``pointing_dec``,
        ``pointing_alt``, ``pointing_az``) and ``irf_offset`` in deg.

    Returns
    -------
    xarray.Dataset
        Every data variable gains a leading ``obs_id`` dim (index: the ids, in
        the given order); dataset attrs are those shared by all observations.

    Raises
    ------
    FormatError
        If an ``obs_id`` is missing or repeated, a per-observation attribute
        is in some datasets only, or another attribute differs between them.
    DimensionError
        If a dataset already has an ``obs_id`` dim or the geometries differ.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from gammaxr.stacking import concat_observations
    >>> obs = [
    ...     xr.Dataset({"counts": ("energy", np.array([1, 2]), {"units": ""})},
    ...                attrs={"obs_id": i, "livetime": 100.0 * i, "frame": "icrs"})
    ...     for i in (1, 2)
    ... ]
    >>> joint = concat_observations(obs)
    >>> joint.livetime.values.tolist(), joint.attrs
    ([100.0, 200.0], {'frame': 'icrs'})
    """
    per_obs = PER_OBSERVATION_ATTRS if per_obs is None else per_obs
    if not datasets:
        raise FormatError("concat_observations: no datasets given")
    ids = []
    for position, ds in enumerate(datasets):
        if OBS_ID in ds.dims:
            raise DimensionError(
                f"concat_observations: dataset {position} already has an {OBS_ID!r} dim; "
                "concatenate joint datasets with xarray.concat"
            )
        if OBS_ID not in ds.attrs:
            raise FormatError(f"concat_observations: dataset {position} has no attrs['obs_id']")
        ids.append(ds.attrs[OBS_ID])
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise FormatError(f"concat_observations: repeated obs_id {repeated}")
    members = [_promote(ds, per_obs, drop=(OBS_ID,)) for ds in datasets]
    index = pd.Index(ids, name=OBS_ID)
    joint = _concat(members, index, labels=[f"obs_id {i}" for i in ids])
    joint[OBS_ID].attrs["units"] = ""
    return joint


def stack(ds: xr.Dataset, *, dim: str = OBS_ID) -> xr.Dataset:
    """Stack a joint dataset: reduce it over ``dim`` with Gammapy's rules.

    The rules are listed in the module documentation: counts and background
    are summed within each observation's safe mask, exposure within its safe
    image, PSF and edisp are exposure-weighted means (edisp rows zeroed outside
    each observation's safe reco-energy range), masks are ORed and the live
    time is summed. Works for map datasets (``lat``, ``lon``) and spectrum
    datasets (neither), numpy- or Dask-backed; nothing is computed.

    An on-off dataset (one with ``counts_off``) is stacked by
    :func:`stack_on_off`: off counts summed within the safe masks and
    ``acceptance_off`` set so that the stacked alpha times the stacked off
    counts is the sum of the observations' background estimates (a plain sum
    of acceptances would give a wrong alpha).

    Parameters
    ----------
    ds : xarray.Dataset
        Joint dataset with a ``dim`` dim and a ``mask_safe(dim, energy[, lat,
        lon])`` variable; optional ``counts``, ``background``, ``exposure``,
        ``psf(energy_true, rad)``, ``edisp(energy_true, energy)``, ``mask_fit``,
        ``livetime`` (s), ``ontime`` (s).
        With ``counts_off``, also ``acceptance`` and ``acceptance_off``.
    dim : str
        The observation dim.

    Returns
    -------
    xarray.Dataset
        The stacked dataset: same variables (minus ``(dim)``-only ones other
        than ``livetime``/``ontime``, which become 0-d), dtypes and attrs;
        dataset attrs plus ``obs_ids``, the list of stacked ids (when ``dim``
        has an index).

    Raises
    ------
    DimensionError
        If ``dim`` is missing, a variable lacks the dims it needs, or the PSF or
        edisp has sky dims (PSF / edisp maps are not supported yet).
    FormatError
        If ``mask_safe`` is missing (or, for an on-off dataset, ``acceptance``
        or ``acceptance_off``), a variable along ``dim`` has no stacking rule,
        psf/edisp come without exposure, or per-observation times
        (``livetime``, ``ontime``) are dataset attrs instead of ``(dim)``
        variables (build the joint form with :func:`concat_observations`).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from gammaxr.stacking import concat_observations, stack
    >>> obs = [
    ...     xr.Dataset(
    ...         {
    ...             "counts": ("energy", np.array([5, 7]), {"units": ""}),
    ...             "mask_safe": ("energy", np.array(safe), {"units": ""}),
    ...         },
    ...         attrs={"obs_id": i, "livetime": 100.0},
    ...     )
    ...     for i, safe in ((1, [True, True]), (2, [False, True]))
    ... ]
    >>> stacked = stack(concat_observations(obs))
    >>> stacked.counts.values.tolist(), float(stacked.livetime), stacked.attrs["obs_ids"]
    ([5, 14], 200.0, [1, 2])
    """
    if dim not in ds.dims:
        raise DimensionError(f"stack: dataset has no {dim!r} dim; it has {list(ds.dims)}")
    if "counts_off" in ds.data_vars:
        return stack_on_off(ds, dim=dim)
    return _stack_sum(ds, dim)


def _stack_sum(ds: xr.Dataset, dim: str) -> xr.Dataset:
    """:func:`stack` of a dataset without off counts (the rules of the module docs)."""
    _check_joint(ds, dim)
    mask = ds["mask_safe"]
    spatial = [name for name in (LAT, LON) if name in mask.dims]
    if len(spatial) == 1:
        raise DimensionError(f"stack: mask_safe has {spatial[0]!r} without its partner")
    for name in ("counts", "background", "exposure"):
        if name in ds:
            require_dims(ds[name], spatial, what=f"stack: {name} of a map dataset")
    mask_image = mask.any(ENERGY)
    used = mask.any([name for name in mask.dims if name != dim])
    centre = {name: ds.sizes[name] // 2 for name in spatial}

    stacked: dict[Hashable, xr.DataArray] = {}
    for name in ("counts", "background"):
        if name in ds and dim in ds[name].dims:
            stacked[name] = _sum(ds[name].where(mask, 0), dim)
    if "exposure" in ds:
        stacked["exposure"] = _sum(ds["exposure"].where(mask_image, 0), dim)
    for name in ("mask_safe", "mask_fit"):
        if name in ds and dim in ds[name].dims:
            stacked[name] = ds[name].any(dim)
    for name in _SUMMED_TIMES:
        if name in ds:
            stacked[name] = _sum(ds[name].where(used, 0), dim)
    irfs = [name for name in ("psf", "edisp") if name in ds and dim in ds[name].dims]
    if irfs:
        if "exposure" not in ds:
            raise FormatError(f"stack: {irfs} need exposure to be weighted; dataset has none")
        # Exposure at the geometry centre, counted if the centre is safe: (dim, energy_true).
        # (NaN or non-positive exposure counts as no weight.)
        weight = ds["exposure"].isel(centre, drop=True).astype(np.float64)
        weight = weight.where(mask_image.isel(centre, drop=True) & (weight > 0), 0.0)
        total = weight.sum(dim)
        if "psf" in irfs:
            stacked["psf"] = _weighted_mean(ds["psf"], weight, total, dim)
        if "edisp" in irfs:
            kernel = ds["edisp"].where(mask.isel(centre, drop=True), 0)
            stacked["edisp"] = _weighted_mean(kernel, weight, total, dim)
    maps = [name for name in ("psf_map", "edisp_map") if name in ds and dim in ds[name].dims]
    if maps:
        stacked.update(_stack_irf_maps(ds, maps, mask, mask_image, dim))
    for name, result in stacked.items():
        result.attrs = dict(ds[name].attrs)

    kept = ds.drop_dims(dim)
    data_vars = {
        name: stacked[name] if name in stacked else kept[name]
        for name in ds.data_vars
        if name in stacked or name in kept.data_vars
    }
    attrs = {key: value for key, value in ds.attrs.items() if key not in (OBS_ID, "obs_ids")}
    if dim in ds.indexes:
        attrs["obs_ids"] = [_python_scalar(value) for value in ds.indexes[dim]]
    return xr.Dataset(data_vars, coords=kept.coords, attrs=attrs)


def stack_pair(a: xr.Dataset, b: xr.Dataset) -> xr.Dataset:
    """Stack two datasets without an ``obs_id`` dim: single observations or stacks.

    ``functools.reduce(stack_pair, datasets)`` stacks observations one at a
    time (Gammapy's ``Datasets.stack_reduce``) and equals
    ``stack(concat_observations(datasets))``. The ``livetime`` / ``ontime`` of
    each input may be an attribute (a single observation) or a 0-d variable
    (a stack); the other :data:`PER_OBSERVATION_ATTRS` are dropped, as
    :func:`stack` drops them.

    Parameters
    ----------
    a, b : xarray.Dataset
        Datasets on one geometry, without an ``obs_id`` dim.

    Returns
    -------
    xarray.Dataset
        The stack of both, with ``attrs["obs_ids"]`` the ids of ``a`` then
        ``b`` (from their ``obs_ids`` or ``obs_id`` attrs) when both have ids.

    Raises
    ------
    DimensionError
        If an input has an ``obs_id`` dim or the geometries differ.
    FormatError
        As for :func:`stack`, or if the inputs' other attributes differ.
    """
    for label, ds in (("a", a), ("b", b)):
        if OBS_ID in ds.dims:
            raise DimensionError(
                f"stack_pair: {label} has an {OBS_ID!r} dim; stack a joint dataset with stack()"
            )
    ids_a, ids_b = _obs_ids(a), _obs_ids(b)
    drop = (OBS_ID, "obs_ids", *(key for key in PER_OBSERVATION_ATTRS if key not in _SUMMED_TIMES))
    times = {key: PER_OBSERVATION_ATTRS[key] for key in _SUMMED_TIMES}
    members = [_promote(ds, times, drop=drop) for ds in (a, b)]
    joint = _concat(members, pd.Index([0, 1], name=OBS_ID), labels=["a", "b"])
    stacked = stack(joint)
    del stacked.attrs["obs_ids"]
    if ids_a is not None and ids_b is not None:
        stacked.attrs["obs_ids"] = ids_a + ids_b
    return stacked


# --------------------------------------------------------------------------------------
# On-off datasets
# --------------------------------------------------------------------------------------


def on_off_alpha(ds: xr.Dataset) -> xr.DataArray:
    """The on/off acceptance ratio ``acceptance / acceptance_off`` of an on-off dataset.

    As Gammapy's ``MapDatasetOnOff.alpha``, bins where the ratio is not finite
    (``acceptance_off == 0``) get 0.

    Parameters
    ----------
    ds : xarray.Dataset
        An on-off dataset with ``acceptance`` and ``acceptance_off``.

    Returns
    -------
    xarray.DataArray
        ``alpha``, float64, dimensionless (``attrs["units"] == ""``).

    Raises
    ------
    FormatError
        If ``acceptance`` or ``acceptance_off`` is missing.
    """
    _require_variables(ds, ("acceptance", "acceptance_off"), what="on_off_alpha")
    acceptance = ds["acceptance"].astype(np.float64)
    acceptance_off = ds["acceptance_off"].astype(np.float64)
    ratio = acceptance / acceptance_off.where(acceptance_off != 0)
    alpha = ratio.where(np.isfinite(ratio), 0.0)
    alpha.name = "alpha"
    alpha.attrs = {"units": ""}
    return alpha


def stack_on_off(ds: xr.Dataset, *, dim: str = OBS_ID) -> xr.Dataset:
    r"""Stack a joint on-off dataset over ``dim``, as Gammapy's ``SpectrumDatasetOnOff.stack``.

    With :math:`m_i` the safe mask of observation :math:`i` and
    :math:`\alpha_i = A_i / A^\mathrm{off}_i` (0 where not finite):

    ==================  ===============================================================
    ``counts_off``      :math:`N^\mathrm{off} = \sum_i m_i n^\mathrm{off}_i`
    ``acceptance``      :math:`A = \sum_i m_i A_i`
    ``acceptance_off``  :math:`A\, N^\mathrm{off} / \sum_i m_i \alpha_i n^\mathrm{off}_i`,
                        so that :math:`\alpha = \sum_i m_i \alpha_i n^\mathrm{off}_i /
                        N^\mathrm{off}` and the background estimate
                        :math:`\alpha N^\mathrm{off}` is the sum of the observations';
                        where :math:`N^\mathrm{off} = 0`, :math:`A / \bar\alpha` with
                        :math:`\bar\alpha = \sum_{E,i} m_i \alpha_i n^\mathrm{off}_i /
                        \sum_{E,i} m_i n^\mathrm{off}_i` (the average over all bins)
    everything else     the rules of :func:`stack` (counts within each safe mask,
                        exposure within each safe range, edisp exposure-weighted,
                        masks ORed, live time summed)
    ==================  ===============================================================

    Bins outside an observation's safe mask contribute nothing. For bins with
    off counts the result does not depend on the order of the observations;
    :math:`\bar\alpha` (only for bins without off counts) is the average over
    all observations, as at the last step of Gammapy's pairwise stacking.

    Parameters
    ----------
    ds : xarray.Dataset
        Joint on-off dataset: ``counts``, ``counts_off``, ``acceptance``,
        ``acceptance_off`` and ``mask_safe`` with dims ``(dim, energy)``, plus
        optional ``exposure(dim, energy_true)``, ``edisp``, ``livetime(dim)``...
        as accepted by :func:`stack`.
    dim : str
        The observation dim.

    Returns
    -------
    xarray.Dataset
        The stacked on-off dataset (dtypes and attrs of the input variables;
        ``attrs["obs_ids"]`` the stacked ids). Lazy for dask-backed input.

    Raises
    ------
    DimensionError
        If ``dim`` is missing or an on-off variable lacks ``energy``.
    FormatError
        If an on-off variable or ``mask_safe`` is missing.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from gammaxr.stacking import stack_on_off
    >>> def obs(i, off, acc_off):
    ...     var = lambda v: ("energy", np.array(v), {"units": ""})
    ...     return xr.Dataset(
    ...         {"counts": var([5, 6]), "counts_off": var(off), "acceptance": var([1.0, 1.0]),
    ...          "acceptance_off": var(acc_off), "mask_safe": var([True, True])},
    ...         coords={"obs_id": i},
    ...     )
    >>> joint = xr.concat([obs(1, [10, 10], [5.0, 5.0]), obs(2, [30, 30], [10.0, 10.0])],
    ...                   dim="obs_id")
    >>> stacked = stack_on_off(joint)
    >>> (stacked.acceptance / stacked.acceptance_off).values.round(6)  # (2 + 3) / 40
    array([0.125, 0.125])
    """
    if dim not in ds.dims:
        raise DimensionError(f"stack_on_off: dataset has no {dim!r} dim; it has {list(ds.dims)}")
    _require_variables(ds, (*ON_OFF_VARIABLES, "mask_safe"), what="stack_on_off")
    require_dims(ds["counts_off"], (dim, ENERGY), what="stack_on_off: counts_off")
    for name in ("acceptance", "acceptance_off"):
        require_dims(ds[name], (ENERGY,), what=f"stack_on_off: {name}")
    mask = ds["mask_safe"].astype(bool)
    counts_off = ds["counts_off"]
    alpha = on_off_alpha(ds)

    def masked_sum(da: xr.DataArray) -> xr.DataArray:
        # Gammapy's Map.stack(nan_to_num=True): non-finite entries add nothing.
        da = da.astype(np.float64)
        return da.where(mask & np.isfinite(da), 0.0).sum(dim)

    total_acceptance = masked_sum(ds["acceptance"])
    total_off = masked_sum(counts_off)
    total_alpha_off = masked_sum(alpha * counts_off)
    off_sum = total_off.sum(ENERGY)
    mean_alpha = total_alpha_off.sum(ENERGY) / off_sum.where(off_sum != 0)
    with_off = total_acceptance * total_off / total_alpha_off.where(total_alpha_off != 0)
    without_off = total_acceptance / mean_alpha.where(mean_alpha != 0)
    acceptance_off = xr.where(total_off > 0, with_off, without_off)

    rest = _stack_sum(ds.drop_vars(list(ON_OFF_VARIABLES)), dim)
    stacked = {
        "counts_off": _sum_like(counts_off, mask, dim),
        "acceptance": total_acceptance.astype(_float_dtype(ds["acceptance"])),
        "acceptance_off": acceptance_off.astype(_float_dtype(ds["acceptance_off"])),
    }
    for name, result in stacked.items():
        result.attrs = dict(ds[name].attrs)
        result.name = name
    data_vars = {
        name: stacked[name] if name in stacked else rest[name]
        for name in ds.data_vars
        if name in stacked or name in rest.data_vars
    }
    return xr.Dataset(data_vars, coords=rest.coords, attrs=rest.attrs)


def _sum_like(da: xr.DataArray, mask: xr.DataArray, dim: str) -> xr.DataArray:
    """Masked sum over ``dim`` in the input's dtype (float sums in float64)."""
    if da.dtype.kind == "f":
        return da.where(mask & np.isfinite(da), 0).astype(np.float64).sum(dim).astype(da.dtype)
    return da.where(mask, 0).sum(dim).astype(da.dtype)


def _float_dtype(da: xr.DataArray) -> np.dtype:
    return da.dtype if da.dtype.kind == "f" else np.dtype(np.float64)


def _require_variables(ds: xr.Dataset, names: Sequence[str], *, what: str) -> None:
    missing = [name for name in names if name not in ds.variables]
    if missing:
        raise FormatError(
            f"{what}: the dataset lacks {missing}; an on-off dataset has counts, counts_off, "
            f"acceptance, acceptance_off and mask_safe. It has {sorted(map(str, ds.variables))}"
        )


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _check_joint(ds: xr.Dataset, dim: str) -> None:
    """Validate a joint dataset before stacking (schema, dims, per-observation attrs)."""
    if "mask_safe" not in ds:
        raise FormatError("stack: dataset has no mask_safe variable; stacking needs it")
    stray = [key for key in _SUMMED_TIMES if key in ds.attrs and key not in ds]
    if stray:
        raise FormatError(
            f"stack: {stray} are dataset attrs of a joint dataset, so they describe one "
            f"observation only; build the joint form with concat_observations, which makes "
            f"them ({dim}) variables"
        )
    for name, dims in _REQUIRED_DIMS.items():
        if name not in ds:
            continue
        needed = (dim, *dims) if name in _PER_OBSERVATION_VARIABLES else dims
        require_dims(ds[name], needed, what=f"stack: {name}")
    for name in ("psf", "edisp"):
        if name in ds and {LAT, LON} & set(ds[name].dims):
            raise DimensionError(
                f"stack: {name} has sky dims {list(ds[name].dims)}; only a {name} for the "
                "geometry centre (no lat/lon) can be stacked so far"
            )
    for name in _SUMMED_TIMES:
        if name in ds and ds[name].dims != (dim,):
            raise DimensionError(f"stack: {name} must have dims ({dim!r},), has {ds[name].dims}")
    unknown = [
        str(name)
        for name, var in ds.data_vars.items()
        if dim in var.dims and name not in _REQUIRED_DIMS and var.dims != (dim,)
    ]
    if unknown:
        raise FormatError(
            f"stack: no stacking rule for the variables {unknown}; drop them first "
            "(rules exist for counts, background, exposure, psf, edisp, mask_safe, mask_fit)"
        )


def _stack_irf_maps(
    ds: xr.Dataset, names: list[str], mask: xr.DataArray, mask_image: xr.DataArray, dim: str
) -> dict[str, xr.DataArray]:
    """Exposure-weighted means of coarse PSF / edisp maps.

    The weight of an observation in a coarse pixel is its exposure in the fine
    pixel nearest the coarse pixel centre, if that pixel is safe; its edisp
    rows are zeroed outside its safe reco-energy range there (as for ``edisp``).
    """
    if "exposure" not in ds:
        raise FormatError(f"stack: {names} need exposure to be weighted; dataset has none")
    at = {
        LAT: xr.DataArray(ds[IRF_LAT].values, dims=IRF_LAT),
        LON: xr.DataArray(ds[IRF_LON].values, dims=IRF_LON),
    }
    fine = [name for name, c in ds.coords.items() if set(c.dims) & {LAT, LON}]

    def sample(da: xr.DataArray) -> xr.DataArray:
        return da.sel(at, method="nearest").drop_vars(fine, errors="ignore")

    weight = sample(ds["exposure"]).astype(np.float64)
    weight = weight.where(sample(mask_image) & (weight > 0), 0.0)
    total = weight.sum(dim)
    out = {}
    if "psf_map" in names:
        out["psf_map"] = _weighted_mean(ds["psf_map"], weight, total, dim)
    if "edisp_map" in names:
        kernel = ds["edisp_map"].where(sample(mask), 0)
        out["edisp_map"] = _weighted_mean(kernel, weight, total, dim)
    return out


def _sum(da: xr.DataArray, dim: str) -> xr.DataArray:
    """Sum over ``dim`` without skipping NaN, in float64 for floats, in the input dtype."""
    if da.dtype.kind == "f":
        return da.astype(np.float64).sum(dim, skipna=False).astype(da.dtype)
    return da.sum(dim)


def _weighted_mean(
    da: xr.DataArray, weight: xr.DataArray, total: xr.DataArray, dim: str
) -> xr.DataArray:
    """``sum(weight * da) / sum(weight)`` over ``dim``; zero where the total weight is zero.

    Entries with zero weight are left out of the sum, so NaN there does no harm.
    """
    weighted = (da.astype(np.float64) * weight).where(weight > 0, 0.0).sum(dim, skipna=False)
    mean = (weighted / total.where(total > 0)).fillna(0.0)
    return mean.transpose(*(name for name in da.dims if name != dim)).astype(da.dtype)


def _promote(ds: xr.Dataset, per_obs: Mapping[str, str], *, drop: Sequence[str]) -> xr.Dataset:
    """Per-observation attrs of ``ds`` as 0-d variables; ``drop`` attrs removed.

    Live and on times become float64; other attrs keep their type (a number or string).
    """
    attrs = {key: value for key, value in ds.attrs.items() if key not in drop}
    promoted: dict[str, xr.Variable] = {}
    for key, units in per_obs.items():
        if key not in attrs:
            continue
        value = np.asarray(attrs.pop(key))
        if value.ndim != 0 or value.dtype.kind not in "iufU":
            raise FormatError(
                f"per-observation attr {key!r} must be a number or a string, got {value!r}"
            )
        if key in _SUMMED_TIMES:
            value = value.astype(np.float64)
        promoted[key] = xr.Variable((), value, attrs={"units": units})
    # one assignment (each Dataset.__setitem__ would merge and copy the whole dataset)
    out = ds.assign(promoted)
    out.attrs = attrs
    return out


def _concat(members: list[xr.Dataset], index: pd.Index, *, labels: list[str]) -> xr.Dataset:
    """Concatenate datasets along a new dim; their attrs must agree."""
    first = members[0].attrs
    for label, member in zip(labels[1:], members[1:], strict=True):
        keys = set(first) ^ set(member.attrs)
        if keys:
            raise FormatError(
                f"attrs {sorted(keys)} are in some datasets only ({labels[0]} vs {label}); "
                "per-observation attrs must be listed in per_obs"
            )
        differ = [key for key in first if not _attr_equal(first[key], member.attrs[key])]
        if differ:
            raise FormatError(
                f"attrs {differ} differ between {labels[0]} and {label}; list per-observation "
                "attrs in per_obs (with their units) or make them agree"
            )
    names = [set(member.data_vars) for member in members]
    if any(n != names[0] for n in names):
        raise FormatError(
            f"datasets have different variables: {[sorted(map(str, n)) for n in names]}"
        )
    try:
        return xr.concat(
            members,
            dim=index,
            data_vars="all",
            coords="minimal",
            compat="equals",
            join="exact",
            combine_attrs="override",
        )
    except ValueError as err:
        raise DimensionError(f"datasets do not share one geometry: {err}") from err


def _attr_equal(a: Any, b: Any) -> bool:
    """Attribute equality for scalars, strings, lists and arrays (NaN equals NaN)."""
    if isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
    except TypeError:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _obs_ids(ds: xr.Dataset) -> list[Any] | None:
    """The observation ids a dataset stands for: ``obs_ids`` of a stack, or its ``obs_id``."""
    if "obs_ids" in ds.attrs:
        return list(np.atleast_1d(ds.attrs["obs_ids"]).tolist())
    if OBS_ID in ds.attrs:
        return [_python_scalar(ds.attrs[OBS_ID])]
    return None


def _python_scalar(value: Any) -> Any:
    """A numpy scalar as a Python scalar (for attrs); other values unchanged."""
    return value.item() if isinstance(value, np.generic) else value
