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
    fast = _stack_pair_numpy(a, b, drop=drop)
    if fast is not None:
        if ids_a is not None and ids_b is not None:
            fast.attrs["obs_ids"] = ids_a + ids_b
        return fast
    times = {key: PER_OBSERVATION_ATTRS[key] for key in _SUMMED_TIMES}
    members = [_promote(ds, times, drop=drop) for ds in (a, b)]
    joint = _concat(members, pd.Index([0, 1], name=OBS_ID), labels=["a", "b"])
    stacked = stack(joint)
    del stacked.attrs["obs_ids"]
    if ids_a is not None and ids_b is not None:
        stacked.attrs["obs_ids"] = ids_a + ids_b
    return stacked


# --------------------------------------------------------------------------------------
# stack_pair of in-memory datasets
# --------------------------------------------------------------------------------------

# The variables the numpy path of stack_pair knows (others take the general path).
_PAIR_VARIABLES = frozenset(_REQUIRED_DIMS) | frozenset(_SUMMED_TIMES)
_FIELD_DIMS = frozenset((ENERGY, LAT, LON))


def _stack_pair_numpy(a: xr.Dataset, b: xr.Dataset, *, drop: Sequence[str]) -> xr.Dataset | None:
    """:func:`stack_pair` of two in-memory datasets, computed with numpy.

    The operations of :func:`stack` on the concatenation of ``a`` and ``b``, in
    the same order and dtypes, so the result is bitwise the same, without
    xarray's concatenation, alignment and broadcasting (which cost several
    times the arithmetic on a map dataset). Returns None where it does not
    apply: Dask-backed or on-off datasets, variables without a rule here,
    unusual dims or dtypes, inputs that differ in geometry or variables (the
    general path then stacks or raises the proper error).
    """
    for ds in (a, b):
        if any(var.chunks is not None for var in ds.variables.values()):
            return None
    names = [str(name) for name in a.data_vars]
    others = set(map(str, b.data_vars))
    if set(names) - set(_SUMMED_TIMES) != others - set(_SUMMED_TIMES):
        return None
    if not set(names) <= _PAIR_VARIABLES:
        return None
    if "mask_safe" not in names or not _same_coords(a, b):
        return None
    times: dict[str, tuple[xr.Variable, xr.Variable]] = {}
    for key in _SUMMED_TIMES:
        pair = (_time_variable(a, key), _time_variable(b, key))
        if pair[0] is False or pair[1] is False or (pair[0] is None) != (pair[1] is None):
            return None
        if pair[0] is not None:
            times[key] = pair  # type: ignore[assignment]
    attrs = [
        {k: v for k, v in ds.attrs.items() if k not in drop and k not in _SUMMED_TIMES}
        for ds in (a, b)
    ]
    _check_attrs(attrs, ["a", "b"])
    variables = {}
    for name in names:
        if name in _SUMMED_TIMES:
            continue
        va, vb = a.variables[name], b.variables[name]
        if va.dims != vb.dims or va.shape != vb.shape or va.dtype != vb.dtype:
            return None
        if not set(_REQUIRED_DIMS[name]) <= set(va.dims):
            return None
        variables[name] = (va, vb)
    mask_dims = variables["mask_safe"][0].dims
    if not set(mask_dims) <= _FIELD_DIMS or ENERGY not in mask_dims:
        return None
    spatial = [name for name in (LAT, LON) if name in mask_dims]
    if len(spatial) == 1:
        return None
    for name, (va, _) in variables.items():
        kind = va.dtype
        if name in ("mask_safe", "mask_fit") and kind != np.bool_:
            return None
        if name in ("counts", "background") and (
            set(va.dims) != set(mask_dims) or not (kind.kind == "f" or kind == np.int64)
        ):
            return None
        if name == "exposure" and (set(va.dims) != {ENERGY_TRUE, *spatial} or kind.kind != "f"):
            return None
        if name in ("psf", "edisp", "psf_map", "edisp_map") and (
            kind.kind != "f" or {LAT, LON} & set(va.dims) or "exposure" not in variables
        ):
            return None
    if {"psf_map", "edisp_map"} & set(variables) and not spatial:
        return None

    def values(name: str) -> tuple[np.ndarray, np.ndarray]:
        va, vb = variables[name]
        return np.asarray(va.values), np.asarray(vb.values)

    masks = values("mask_safe")
    energy_axis = mask_dims.index(ENERGY)
    image_dims = tuple(name for name in mask_dims if name != ENERGY)
    images = tuple(m.any(axis=energy_axis) for m in masks)
    stacked: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    for name in ("counts", "background"):
        if name in variables:
            dims = variables[name][0].dims
            parts = [
                np.where(_along(m, mask_dims, dims), v, 0)
                for m, v in zip(masks, values(name), strict=True)
            ]
            stacked[name] = (dims, _pair_sum(*parts))
    if "exposure" in variables:
        dims = variables["exposure"][0].dims
        parts = [
            np.where(_along(m, image_dims, dims), v, 0)
            for m, v in zip(images, values("exposure"), strict=True)
        ]
        stacked["exposure"] = (dims, _pair_sum(*parts))
    for name in ("mask_safe", "mask_fit"):
        if name in variables:
            first, second = values(name)
            stacked[name] = (variables[name][0].dims, first | second)
    irfs = [name for name in ("psf", "edisp") if name in variables]
    if irfs:
        exposure_dims = variables["exposure"][0].dims
        at_centre = tuple(
            a.sizes[name] // 2 if name in spatial else slice(None) for name in exposure_dims
        )
        image_centre = tuple(a.sizes[name] // 2 for name in image_dims)
        weights = []
        for image, exposure in zip(images, values("exposure"), strict=True):
            weight = exposure[at_centre].astype(np.float64)  # (energy_true,)
            weights.append(np.where(image[image_centre] & (weight > 0), weight, 0.0))
        weight_dims = (ENERGY_TRUE,)
        total = weights[0] + weights[1]
        mask_centre = tuple(
            a.sizes[name] // 2 if name in spatial else slice(None) for name in mask_dims
        )
        for name in irfs:
            dims = variables[name][0].dims
            kernels = values(name)
            if name == "edisp":
                kernels = tuple(
                    np.where(_along(m[mask_centre], (ENERGY,), dims), k, 0)
                    for m, k in zip(masks, kernels, strict=True)
                )
            mean = _pair_weighted_mean(kernels, dims, weights, weight_dims, total)
            stacked[name] = (dims, mean)
    maps = [name for name in ("psf_map", "edisp_map") if name in variables]
    if maps:
        sampled = _stack_irf_maps_numpy(a, variables, maps, masks, mask_dims, images)
        if sampled is None:
            return None
        stacked.update(sampled)
    used = [bool(m.any()) for m in masks]
    out: dict[str, xr.Variable] = {}
    for name in names:
        if name in times:
            first, second = times[name]
            parts = [np.where(u, t.values, 0) for u, t in zip(used, (first, second), strict=True)]
            out[name] = xr.Variable((), _pair_sum(*parts), dict(first.attrs))
        else:
            dims, result = stacked[name]
            out[name] = xr.Variable(dims, result, dict(variables[name][0].attrs))
    for key in times:  # times given as attrs come after the variables, as _promote puts them
        if key not in out:
            first, second = times[key]
            parts = [np.where(u, t.values, 0) for u, t in zip(used, (first, second), strict=True)]
            out[key] = xr.Variable((), _pair_sum(*parts), dict(first.attrs))
    # Variables in the order xarray gives them when it merges the stacked DataArrays: each
    # variable after the coordinates on its dims not yet placed, then the other coordinates.
    coords = {str(key): a.variables[key] for key in a.coords}
    ordered: dict[str, xr.Variable] = {}
    for name, var in out.items():
        for key, coord in coords.items():
            if key not in ordered and set(coord.dims) <= set(var.dims):
                ordered[key] = coord
        ordered[name] = var
    ordered.update((key, coord) for key, coord in coords.items() if key not in ordered)
    return xr.Dataset(ordered, attrs=attrs[0]).set_coords(list(coords))


def _same_coords(a: xr.Dataset, b: xr.Dataset) -> bool:
    """Same coordinate names, dims and values (what the concatenation checks)."""
    if set(a.coords) != set(b.coords):
        return False
    for key in a.coords:
        first, second = a.variables[key], b.variables[key]
        if first is second:
            continue
        if first.dims != second.dims or first.dtype != second.dtype:
            return False
        nan = first.dtype.kind in "fc"
        if not np.array_equal(first.values, second.values, equal_nan=nan):
            return False
    return True


def _time_variable(ds: xr.Dataset, key: str) -> xr.Variable | None | bool:
    """A summed time of a stack_pair input as the 0-d float variable the joint form holds.

    None if absent; False if the numpy path cannot take it (then the general path
    decides: both an attr and a variable, not a number, not 0-d).
    """
    in_attrs, in_vars = key in ds.attrs, key in ds.data_vars
    if in_attrs and in_vars:
        return False
    if in_attrs:
        value = np.asarray(ds.attrs[key])
        if value.ndim != 0 or value.dtype.kind not in "iuf":
            return False
        return xr.Variable((), value.astype(np.float64), {"units": PER_OBSERVATION_ATTRS[key]})
    if in_vars:
        var = ds.variables[key]
        if var.ndim != 0 or var.dtype != np.float64:
            return False
        return var
    return None


def _along(values: np.ndarray, dims: Sequence[str], target: Sequence[str]) -> np.ndarray:
    """``values`` on ``dims`` (a subset of ``target``), arranged to broadcast on ``target``."""
    order = sorted(range(len(dims)), key=lambda i: list(target).index(dims[i]))
    arranged = np.transpose(values, order)
    shape = [values.shape[dims.index(name)] if name in dims else 1 for name in target]
    return arranged.reshape(shape)


def _pair_sum(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``_sum`` over a dim of two (float sums in float64, rounded to the input dtype).

    ``first`` may be overwritten. For float32 the float64 sum rounded to float32 is
    the float32 sum: double rounding is innocuous for an addition when the wider
    format has at least ``2p + 2`` bits of precision (53 >= 2 * 24 + 2; Figueroa,
    "When is double rounding innocuous?", 1995), so the sum is taken in float32
    without float64 copies of the cube.
    """
    if first.dtype in (np.float32, np.float64) or first.dtype.kind in "iu":
        return np.add(first, second, out=first if first.ndim else None)
    return (first.astype(np.float64) + second.astype(np.float64)).astype(first.dtype)


def _pair_weighted_mean(
    kernels: Sequence[np.ndarray],
    dims: Sequence[str],
    weights: Sequence[np.ndarray],
    weight_dims: Sequence[str],
    total: np.ndarray,
) -> np.ndarray:
    """:func:`_weighted_mean` of two observations (the same operations, in numpy)."""
    parts = []
    for kernel, weight in zip(kernels, weights, strict=True):
        w = _along(weight, weight_dims, dims)
        parts.append(np.where(w > 0, kernel.astype(np.float64) * w, 0.0))
    weighted = parts[0] + parts[1]
    total = _along(total, weight_dims, dims)
    mean = weighted / np.where(total > 0, total, np.nan)
    return np.where(np.isnan(mean), 0.0, mean).astype(kernels[0].dtype)


def _stack_irf_maps_numpy(
    a: xr.Dataset,
    variables: Mapping[str, tuple[xr.Variable, xr.Variable]],
    names: list[str],
    masks: Sequence[np.ndarray],
    mask_dims: Sequence[str],
    images: Sequence[np.ndarray],
) -> dict[str, tuple[tuple[str, ...], np.ndarray]] | None:
    """:func:`_stack_irf_maps` of two observations in numpy (None: not applicable)."""
    if IRF_LAT not in a.coords or IRF_LON not in a.coords:
        return None
    if LAT not in a.indexes or LON not in a.indexes:
        return None
    index = {}
    for fine, coarse in ((LAT, IRF_LAT), (LON, IRF_LON)):
        labels = np.asarray(a[coarse].values).astype(a[fine].dtype)
        found = a.indexes[fine].get_indexer(labels, method="nearest")
        if labels.ndim != 1 or (found < 0).any():
            return None
        index[fine] = found
    rename = {LAT: IRF_LAT, LON: IRF_LON}

    def sample(values: np.ndarray, dims: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
        for fine in (LAT, LON):
            values = np.take(values, index[fine], axis=list(dims).index(fine))
        return values, tuple(rename.get(name, name) for name in dims)

    exposure_dims = variables["exposure"][0].dims
    image_dims = tuple(name for name in mask_dims if name != ENERGY)
    weights = []
    for image, (exposure, dims) in zip(
        images,
        (sample(e, exposure_dims) for e in _pair_values(variables["exposure"])),
        strict=True,
    ):
        weight = exposure.astype(np.float64)
        image_sample, image_sample_dims = sample(image, image_dims)
        if not set(image_sample_dims) <= set(dims):
            return None
        cond = _along(image_sample, image_sample_dims, dims) & (weight > 0)
        weights.append(np.where(cond, weight, 0.0))
    weight_dims = dims
    total = weights[0] + weights[1]
    out = {}
    for name in names:
        target = variables[name][0].dims
        if not set(weight_dims) <= set(target):
            return None
        kernels = _pair_values(variables[name])
        if name == "edisp_map":
            sampled = [sample(m, mask_dims) for m in masks]
            kernels = tuple(
                np.where(_along(m, m_dims, target), k, 0)
                for (m, m_dims), k in zip(sampled, kernels, strict=True)
            )
        out[name] = (target, _pair_weighted_mean(kernels, target, weights, weight_dims, total))
    return out


def _pair_values(pair: tuple[xr.Variable, xr.Variable]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(pair[0].values), np.asarray(pair[1].values)


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


def _check_attrs(attrs: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> None:
    """The dataset attrs of datasets to concatenate must agree."""
    first = attrs[0]
    for label, other in zip(labels[1:], attrs[1:], strict=True):
        keys = set(first) ^ set(other)
        if keys:
            raise FormatError(
                f"attrs {sorted(keys)} are in some datasets only ({labels[0]} vs {label}); "
                "per-observation attrs must be listed in per_obs"
            )
        differ = [key for key in first if not _attr_equal(first[key], other[key])]
        if differ:
            raise FormatError(
                f"attrs {differ} differ between {labels[0]} and {label}; list per-observation "
                "attrs in per_obs (with their units) or make them agree"
            )


def _concat(members: list[xr.Dataset], index: pd.Index, *, labels: list[str]) -> xr.Dataset:
    """Concatenate datasets along a new dim; their attrs must agree."""
    _check_attrs([member.attrs for member in members], labels)
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
