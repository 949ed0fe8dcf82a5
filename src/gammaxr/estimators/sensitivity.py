r"""Differential point-source sensitivity of a spectrum dataset.

In each reconstructed-energy bin the *required excess* :math:`s` is the
smallest signal that a source must give for a detection, under three criteria
(the largest wins, and ``criterion`` says which):

1. **significance**: :math:`s` such that the significance of :math:`n_\mathrm{on}
   = b + s` reaches ``n_sigma``. For an on-off dataset (``counts_off``,
   acceptance ratio :math:`\alpha`) the background is :math:`b = \alpha
   n_\mathrm{off}` and the significance is Li & Ma (1983) eq. 17
   (:func:`gammaxr.estimators.significance`); for a dataset with a known
   background (``background``, no off counts; the limit :math:`\alpha \to 0`)
   it is the Cash form :math:`\sqrt{2[(b + s)\ln(1 + s/b) - s]}`
   (:func:`gammaxr.estimators.significance_cash`). Both grow monotonically with
   :math:`s`; the root is found for all bins at once (:func:`required_excess`).
2. **gamma**: at least ``gamma_min`` excess counts.
3. **bkg**: at least ``bkg_syst_fraction`` times the background, so that a
   systematic error of that fraction on the background cannot fake the signal.

The excess becomes a flux through the predicted counts of a reference spectral
model (default a power law of index 2): the model is folded through the
dataset's exposure and energy dispersion (:func:`gammaxr.models.fold`), giving
:math:`\mu_\mathrm{ref}` per reco bin, and the sensitivity is
:math:`(s / \mu_\mathrm{ref})\,\phi_\mathrm{ref}(E_\mathrm{ref})` at the bin's
log centre :math:`E_\mathrm{ref}`: ``dnde`` in cm-2 s-1 TeV-1 and ``e2dnde``
:math:`= E_\mathrm{ref}^2 \cdot` ``dnde`` in **erg cm-2 s-1** (the unit of most
published CTA and H.E.S.S. sensitivity curves; multiply by 0.62415 for TeV
cm-2 s-1). This is the procedure of Gammapy's ``SensitivityEstimator``
(checked against it in ``benchmarks/gammapy_sensitivity.py``).
"""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np
import scipy.special
import xarray as xr
import yaml

from gammaxr.conventions import ENERGY, LAT, LON, OBS_ID, hi_name, lo_name
from gammaxr.exceptions import DimensionError, FormatError
from gammaxr.models.npred import fold
from gammaxr.models.sky import Models, SkyModel
from gammaxr.models.spectral import PowerLawSpectralModel, SpectralModel
from gammaxr.stacking import stack, stack_on_off

__all__ = ["CRITERIA", "required_excess", "sensitivity"]

#: Values of the ``criterion`` variable: which condition sets the excess.
CRITERIA = ("significance", "gamma", "bkg")

#: erg per TeV.
_ERG_PER_TEV = float(u.TeV.to(u.erg))


def _solve_excess(ts_and_slope: Any, target: float, background: np.ndarray) -> np.ndarray:
    """Root ``s >= 0`` of ``TS(s) = target``, elementwise, by Newton's method from above.

    ``TS`` is increasing and convex in ``s`` for both statistics, so Newton
    steps from a start above the root decrease monotonically onto it.
    """
    s = np.full(background.shape, max(target, 1.0)) + np.sqrt(target * np.maximum(background, 0))
    for _ in range(2000):  # grow the start until it is above the root
        ts, _ = ts_and_slope(s)
        short = ts < target
        if not short.any():
            break
        s = np.where(short, 2.0 * s, s)
    for _ in range(200):
        ts, slope = ts_and_slope(s)
        step = np.where(slope > 0, (ts - target) / np.where(slope > 0, slope, 1.0), 0.0)
        s_new = np.maximum(s - step, 0.5 * s)  # never more than halve (safeguard)
        done = np.abs(s_new - s) <= 1e-13 * s
        s = s_new
        if done.all():
            break
    return s


def required_excess(
    background: Any,
    *,
    n_sigma: float = 5.0,
    n_off: Any = None,
    alpha: Any = None,
) -> np.ndarray:
    r"""Excess counts needed for a detection at ``n_sigma`` over a background.

    Parameters
    ----------
    background : array-like
        Expected background counts in the on region, :math:`b`. For on-off
        data it must be :math:`\alpha\, n_\mathrm{off}` (it is recomputed so
        when ``n_off`` and ``alpha`` are given).
    n_sigma : float
        Significance to reach, in Gaussian sigmas (> 0).
    n_off, alpha : array-like, optional
        Off counts and on/off acceptance ratio: Li & Ma significance of
        :math:`n_\mathrm{on} = \alpha n_\mathrm{off} + s` against
        :math:`n_\mathrm{off}`. Without them the background is known exactly
        (Cash statistic).

    Returns
    -------
    numpy.ndarray
        The excess :math:`s` (float64, counts), broadcast; NaN where the
        inputs are NaN or negative (or ``alpha <= 0``).

    Notes
    -----
    With :math:`n_\mathrm{on} = b + s`, the test statistic is :math:`TS =
    2[n_\mathrm{on} \ln(1 + s/b) - s]` (Cash) or Li & Ma's eq. 17 (WStat); both
    increase and are convex in :math:`s`, with slopes :math:`2 \ln(1 + s/b)`
    and :math:`2 \ln[(1 + \alpha) n_\mathrm{on} / (\alpha (n_\mathrm{on} +
    n_\mathrm{off}))]`. The root of :math:`TS = n_\sigma^2` is found for every
    bin at once by Newton steps from above (to ~1e-13 relative).

    Examples
    --------
    >>> from gammaxr.estimators.sensitivity import required_excess
    >>> round(float(required_excess(100.0, n_sigma=5)), 3)  # known background
    54.013
    >>> round(float(required_excess(20.0, n_off=100.0, alpha=0.2, n_sigma=5)), 3)
    30.226
    """
    if not np.isfinite(n_sigma) or n_sigma <= 0:
        raise FormatError(f"required_excess: n_sigma must be a positive number, got {n_sigma!r}")
    if (n_off is None) != (alpha is None):
        raise FormatError("required_excess: give both n_off and alpha (on-off) or neither")
    if n_off is None:
        bkg = np.asarray(background, dtype=np.float64)
        valid = np.isfinite(bkg) & (bkg >= 0)
        bkg = np.where(valid, bkg, 1.0)
        # below 1e-25 the background is floored there (as significance_cash does)
        bkg_floor = np.maximum(bkg, 1e-25)

        def ts_and_slope(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            log_ratio = np.log1p(s / bkg_floor)
            return 2.0 * ((bkg_floor + s) * log_ratio - s), 2.0 * log_ratio

    else:
        n_off, alpha = np.broadcast_arrays(
            np.asarray(n_off, dtype=np.float64), np.asarray(alpha, dtype=np.float64)
        )
        valid = np.isfinite(n_off) & np.isfinite(alpha) & (n_off >= 0) & (alpha > 0)
        n_off = np.where(valid, n_off, 0.0)
        alpha = np.where(valid, alpha, 1.0)
        bkg = alpha * n_off

        def ts_and_slope(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            n_on = bkg + s
            total = n_on + n_off
            log_on = np.log((1.0 + alpha) / alpha * n_on / total)
            ts = 2.0 * (n_on * log_on + scipy.special.xlogy(n_off, (1.0 + alpha) * n_off / total))
            return ts, 2.0 * log_on

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        result = _solve_excess(ts_and_slope, float(n_sigma) ** 2, bkg)
    return np.where(valid, result, np.nan)


def sensitivity(
    dataset: xr.Dataset,
    *,
    n_sigma: float = 5.0,
    gamma_min: float = 10.0,
    bkg_syst_fraction: float = 0.05,
    spectral_model: SpectralModel | None = None,
) -> xr.Dataset:
    r"""Differential point-source sensitivity per reconstructed-energy bin.

    See the module documentation for the method.

    Parameters
    ----------
    dataset : xarray.Dataset
        A spectrum dataset (dims ``energy``, ``energy_true``, no ``lat``/``lon``)
        with ``exposure(energy_true)`` (area x time), optional
        ``edisp(energy_true, energy)`` and ``mask_safe(energy)``, and either
        ``background(energy)`` (predicted counts, known exactly: Cash) or the
        on-off variables ``counts_off``, ``acceptance``, ``acceptance_off``
        (background ``alpha * counts_off``: Li & Ma). In the joint form
        (``obs_id`` dim) it is stacked first. The counts are not used (the
        sensitivity is that of the exposure and background).
    n_sigma : float
        Detection significance, Gaussian sigmas (default 5).
    gamma_min : float
        Minimum number of excess counts (default 10).
    bkg_syst_fraction : float
        Minimum excess as a fraction of the background (default 0.05).
    spectral_model : SpectralModel, optional
        Reference spectrum (its shape matters; its amplitude cancels). Default
        a power law of index 2.

    Returns
    -------
    xarray.Dataset
        On dim ``energy`` (coords ``energy``, ``energy_lo``, ``energy_hi``, TeV):

        - ``excess``: required excess counts;
        - ``background``: background counts in the on region;
        - ``counts_off``, ``alpha``: for on-off datasets;
        - ``criterion``: ``"significance"``, ``"gamma"`` or ``"bkg"``
          (``""`` in masked bins);
        - ``ref_npred``: predicted counts of the reference model;
        - ``norm``: ``excess / ref_npred``, the reference model's scale at
          the sensitivity;
        - ``dnde`` (cm-2 s-1 TeV-1) and ``e2dnde`` (erg cm-2 s-1) at ``energy``.

        Bins outside ``mask_safe`` are NaN. attrs: ``n_sigma``, ``gamma_min``,
        ``bkg_syst_fraction``, ``statistic`` (``"wstat"`` or ``"cash"``),
        ``spectral_model`` (Gammapy model YAML).

    Raises
    ------
    DimensionError
        If the dataset has sky dims or lacks ``energy``.
    FormatError
        If it has neither ``background`` nor the on-off variables, or an
        option is out of range.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> import gammaxr as gx
    >>> from gammaxr.estimators.sensitivity import sensitivity
    >>> geom = gx.make_geom(gx.energy_axis(1, 10, nbin=2),
    ...                     gx.energy_axis(1, 10, nbin=2, name="energy_true"))
    >>> ds = geom.assign(
    ...     exposure=("energy_true", np.full(2, 1e10), {"units": "cm2 s"}),
    ...     background=("energy", np.array([100.0, 1.0]), {"units": ""}),
    ... )
    >>> sens = sensitivity(ds)
    >>> [str(c) for c in sens.criterion.values]
    ['significance', 'gamma']
    """
    for name, value, low in (
        ("n_sigma", n_sigma, 0.0),
        ("gamma_min", gamma_min, None),
        ("bkg_syst_fraction", bkg_syst_fraction, None),
    ):
        if not np.isfinite(value) or (value <= low if low is not None else value < 0):
            kind = "positive" if low is not None else "non-negative"
            raise FormatError(f"sensitivity: {name} must be a {kind} number, got {value!r}")
    if spectral_model is None:
        spectral_model = PowerLawSpectralModel(index=2.0, amplitude=1e-12)
    if not isinstance(spectral_model, SpectralModel) or spectral_model.is_norm:
        raise FormatError(
            "sensitivity: spectral_model must be a SpectralModel with a flux unit, got "
            f"{spectral_model!r}"
        )
    if LAT in dataset.dims or LON in dataset.dims:
        raise DimensionError(
            "sensitivity: expected a spectrum dataset (no lat/lon dims); reduce the map to a "
            "region first (e.g. gx.make_spectrum_dataset)"
        )
    if ENERGY not in dataset.dims:
        raise DimensionError("sensitivity: the dataset has no 'energy' (reco) dim")
    on_off = "counts_off" in dataset
    if not on_off and "background" not in dataset:
        raise FormatError(
            "sensitivity: the dataset needs 'background' (known background) or 'counts_off', "
            "'acceptance', 'acceptance_off' (on-off)"
        )
    if OBS_ID in dataset.dims:
        dataset = stack_on_off(dataset) if on_off else stack(dataset)

    energy_coords = {name: dataset[name] for name in (ENERGY, lo_name(ENERGY), hi_name(ENERGY))}
    if on_off:
        # alpha as gammaxr.fit.wstat.on_off_alpha: 0 where not finite (then NaN below)
        n_off, acceptance, acceptance_off = (
            dataset[name].transpose(ENERGY).values.astype(np.float64)
            for name in ("counts_off", "acceptance", "acceptance_off")
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = acceptance / acceptance_off
        alpha = np.where(np.isfinite(alpha), alpha, 0.0)
        bkg = alpha * n_off
        s_sig = required_excess(bkg, n_sigma=n_sigma, n_off=n_off, alpha=alpha)
    else:
        bkg = dataset["background"].transpose(ENERGY).values.astype(np.float64)
        s_sig = required_excess(bkg, n_sigma=n_sigma)
    s_syst = bkg_syst_fraction * bkg
    excess = np.maximum(s_sig, np.maximum(gamma_min, s_syst))
    criterion = np.where(
        s_sig >= np.maximum(gamma_min, s_syst),
        "significance",
        np.where(gamma_min >= s_syst, "gamma", "bkg"),
    ).astype("<U12")

    if "mask_safe" in dataset:
        mask = dataset["mask_safe"].transpose(ENERGY).values.astype(bool)
    else:
        mask = np.ones(bkg.shape, dtype=bool)
    mask &= np.isfinite(excess)
    excess = np.where(mask, excess, np.nan)
    criterion = np.where(mask, criterion, "")

    reference = SkyModel(spectral_model, name="reference")
    ref_npred = fold(dataset, reference).transpose(ENERGY).values
    energy = dataset[ENERGY].values
    ref_dnde = np.asarray(spectral_model(energy), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = np.where(ref_npred > 0, excess / ref_npred, np.nan)
    dnde = norm * ref_dnde
    e2dnde = dnde * energy**2 * _ERG_PER_TEV

    def var(values: np.ndarray, units: str | None = "") -> tuple:
        attrs = {} if units is None else {"units": units}
        return (ENERGY, values, attrs)

    data = {
        "excess": var(excess),
        "background": var(np.where(mask, bkg, np.nan)),
    }
    if on_off:
        data["counts_off"] = var(np.where(mask, n_off, np.nan))
        data["alpha"] = var(np.where(mask, alpha, np.nan))
    data.update(
        criterion=var(criterion, None),
        ref_npred=var(ref_npred),
        norm=var(norm),
        dnde=var(dnde, "cm-2 s-1 TeV-1"),
        e2dnde=var(e2dnde, "erg cm-2 s-1"),
    )
    model_yaml = yaml.safe_dump(_models_dict(reference), sort_keys=False)
    return xr.Dataset(
        data,
        coords=energy_coords,
        attrs={
            "n_sigma": float(n_sigma),
            "gamma_min": float(gamma_min),
            "bkg_syst_fraction": float(bkg_syst_fraction),
            "statistic": "wstat" if on_off else "cash",
            "spectral_model": model_yaml,
        },
    )


def _models_dict(model: SkyModel) -> dict:
    from gammaxr.io.models_yaml import models_to_dict

    return models_to_dict(Models([model]))
