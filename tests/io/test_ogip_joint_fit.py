"""Joint fits of OGIP spectra from several instruments (different energy axes and IRFs).

The H.E.S.S. spectra are gammaxr's reduction of the four shipped Crab runs,
stored as OGIP sets (tests/io/data/ogip_crab, written by
benchmarks/make_crab_ogip.py). A second instrument is simulated here with its
own reco / true energy binning, effective area, energy resolution and off
regions, and written to OGIP; all are read back with ``gx.read_ogip_set``.

The joint fit is checked against the combined likelihood computed here from
the arrays alone (analytic power-law integrals, the response as a matrix
product, WStat from its closed form, minimised by scipy), and against the
truth of the simulation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.optimize
import scipy.special
import xarray as xr

import gammaxr as gx
from gammaxr.models import Models, PowerLawSpectralModel, SkyModel

HESS = Path(__file__).parent / "data" / "ogip_crab"
HESS_RUNS = (23523, 23526, 23559, 23592)
#: Truth of the simulated instruments (a Crab-like power law, reference 1 TeV).
TRUTH = {"index": 2.6, "amplitude": 4.2e-11}


# --------------------------------------------------------------------------------------
# A simulated instrument, and an independent likelihood
# --------------------------------------------------------------------------------------


def power_law_integral(lo, hi, index, amplitude):
    """Integral flux of a power law (reference 1 TeV) over [lo, hi] TeV, cm-2 s-1."""
    return amplitude / (1 - index) * (hi ** (1 - index) - lo ** (1 - index))


def gaussian_edisp(true_edges, reco_edges, resolution):
    """Migration probabilities for a Gaussian in ln(E_reco / E_true) of width ``resolution``."""
    log_true = np.log(np.sqrt(true_edges[:-1] * true_edges[1:]))[:, None]
    cdf = scipy.special.ndtr((np.log(reco_edges)[None, :] - log_true) / resolution)
    return np.diff(cdf, axis=1)


def predicted_signal(ds, index, amplitude):
    """Signal counts per reco bin: exposure x integral flux per true bin, through edisp."""
    flux = power_law_integral(ds.energy_true_lo.values, ds.energy_true_hi.values, index, amplitude)
    per_true = ds.exposure.values.astype(float) * 1e4 * flux  # m2 s -> cm2 s
    return per_true @ ds.edisp.values.astype(float)


def wstat_closed_form(n_on, n_off, alpha, mu_sig):
    """WStat deviance per bin, background profiled (Cash 1979 / XSPEC's formula)."""
    c = alpha * (n_on + n_off) - (1 + alpha) * mu_sig
    d = np.sqrt(c**2 + 4 * alpha * (1 + alpha) * n_off * mu_sig)
    mu_bkg = (c + d) / (2 * alpha * (1 + alpha))
    mu_on = mu_sig + alpha * mu_bkg
    on = mu_on - n_on + scipy.special.xlogy(n_on, n_on) - scipy.special.xlogy(n_on, mu_on)
    off = mu_bkg - n_off + scipy.special.xlogy(n_off, n_off) - scipy.special.xlogy(n_off, mu_bkg)
    return 2 * (on + off)


def combined_wstat(datasets, index, amplitude):
    """The joint statistic: the sum over datasets of their safe bins' WStat."""
    total = 0.0
    for ds in datasets:
        alpha = ds.acceptance.values.astype(float) / ds.acceptance_off.values.astype(float)
        terms = wstat_closed_form(
            ds.counts.values.astype(float),
            ds.counts_off.values.astype(float),
            alpha,
            predicted_signal(ds, index, amplitude),
        )
        total += terms[ds.mask_safe.values].sum()
    return total


def simulate_instrument(
    rng,
    *,
    obs_id,
    reco,
    true,
    area,
    threshold,
    resolution,
    livetime,
    n_off_regions,
    background,
    instrument,
):
    """An on-off spectrum of a power law (``TRUTH``) seen by an invented instrument.

    ``reco`` / ``true``: (emin, emax, nbin) in TeV; ``area``: plateau effective
    area (m2) reached above ``threshold`` (TeV); ``background``: on-region
    background counts per reco bin at 1 TeV, falling as E^-1.7 per bin.
    """
    energy = gx.energy_axis(*reco[:2], nbin=reco[2])
    energy_true = gx.energy_axis(*true[:2], nbin=true[2], name="energy_true")
    true_edges = np.append(energy_true.energy_true_lo.values, energy_true.energy_true_hi[-1])
    reco_edges = np.append(energy.energy_lo.values, energy.energy_hi[-1])
    e_true = energy_true.values
    exposure = area * livetime / (1 + (threshold / e_true) ** 3)  # m2 s
    edisp = gaussian_edisp(true_edges, reco_edges, resolution)
    ds = xr.Dataset(
        {
            "exposure": ("energy_true", exposure.astype(np.float32), {"units": "m2 s"}),
            "edisp": (("energy_true", "energy"), edisp.astype(np.float32), {"units": ""}),
        },
        coords={**energy.coords, **energy_true.coords},
    )
    mu_sig = predicted_signal(ds, TRUTH["index"], TRUTH["amplitude"])
    mu_bkg = background * energy.values**-1.7
    n = energy.size
    ds["counts"] = ("energy", rng.poisson(mu_sig + mu_bkg).astype(np.int64), {"units": ""})
    ds["counts_off"] = (
        "energy",
        rng.poisson(mu_bkg * n_off_regions).astype(np.int64),
        {"units": ""},
    )
    ds["acceptance"] = ("energy", np.ones(n, np.float32), {"units": ""})
    ds["acceptance_off"] = ("energy", np.full(n, n_off_regions, np.float32), {"units": ""})
    ds["mask_safe"] = ("energy", energy.energy_lo.values >= threshold, {"units": ""})
    ds.attrs = {"obs_id": obs_id, "livetime": livetime, "telescope": instrument}
    return ds


#: Two invented instruments: a large array with 10 % energy resolution over
#: 0.1-100 TeV (15 reco bins, 45 true bins), and a small coarse one with 25 %
#: resolution over 1-30 TeV (6 reco bins, 20 true bins).
INSTRUMENTS = {
    "SIM-B": dict(reco=(0.1, 100, 15), true=(0.05, 200, 45), area=4e5, threshold=0.2,
                  resolution=0.1, livetime=1800.0, n_off_regions=5, background=40.0),
    "SIM-C": dict(reco=(1, 30, 6), true=(0.5, 60, 20), area=5e4, threshold=1.0,
                  resolution=0.25, livetime=7200.0, n_off_regions=3, background=5.0),
}  # fmt: skip


def start_models():
    return Models(
        [SkyModel(PowerLawSpectralModel(index=2.3, amplitude=2e-11, reference=1.0), name="src")]
    )


def best(result, name):
    row = result.parameters.loc[f"src.spectral.{name}"]
    return row["value"], row["error"]


def minimise_independently(datasets):
    """Best fit and 1-sigma errors of :func:`combined_wstat` (scipy; amplitude in 1e-11)."""

    def stat(x):
        return combined_wstat(datasets, x[0], x[1] * 1e-11)

    options = {"xatol": 1e-9, "fatol": 1e-11, "maxiter": 4000}
    first = scipy.optimize.minimize(stat, [2.3, 2.0], method="Nelder-Mead", options=options)
    x = first.x
    # Curvature by central differences: errors from the inverse of half the Hessian.
    steps = np.array([1e-3, 1e-3 * x[1]])
    hessian = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            di, dj = np.eye(2)[i] * steps[i], np.eye(2)[j] * steps[j]
            hessian[i, j] = (
                stat(x + di + dj) - stat(x + di - dj) - stat(x - di + dj) + stat(x - di - dj)
            ) / (4 * steps[i] * steps[j])
    errors = np.sqrt(np.diag(np.linalg.inv(hessian / 2)))
    return {
        "index": (x[0], errors[0]),
        "amplitude": (x[1] * 1e-11, errors[1] * 1e-11),
        "stat": first.fun,
    }


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instruments(tmp_path_factory):
    """H.E.S.S. (4 runs) and two simulated instruments, all read back from OGIP files."""
    folder = tmp_path_factory.mktemp("ogip")
    rng = np.random.default_rng(1)
    paths = [HESS / f"pha_obs{i}.fits.gz" for i in HESS_RUNS]
    for obs_id, name in enumerate(INSTRUMENTS, start=1):
        ds = simulate_instrument(rng, obs_id=obs_id, instrument=name, **INSTRUMENTS[name])
        paths.append(gx.write_ogip(ds, folder / f"pha_{ds.attrs['telescope']}.fits")["pha"])
    datasets = gx.read_ogip_set(paths)
    return {"hess": datasets[:4], "b": datasets[4], "c": datasets[5]}


def test_read_set_keeps_each_instrument(instruments):
    hess, b, c = instruments["hess"], instruments["b"], instruments["c"]
    assert [ds.attrs["obs_id"] for ds in hess] == list(HESS_RUNS)
    assert [ds.sizes["energy"] for ds in (hess[0], b, c)] == [16, 15, 6]
    assert [ds.sizes["energy_true"] for ds in (hess[0], b, c)] == [30, 45, 20]
    assert (b.attrs["telescope"], c.attrs["telescope"]) == ("SIM-B", "SIM-C")


def test_joint_fit_equals_the_independent_combined_likelihood(instruments):
    datasets = [*instruments["hess"], instruments["b"], instruments["c"]]
    result = gx.fit(datasets, start_models())
    assert result.success
    assert result.ndata == sum(int(ds.mask_safe.sum()) for ds in datasets)
    index, amplitude = best(result, "index"), best(result, "amplitude")
    # The statistic gammaxr minimised is the combined likelihood, to round-off.
    ours = combined_wstat(datasets, index[0], amplitude[0])
    assert result.statistic == pytest.approx(ours, rel=1e-10)
    # Its minimum and curvature are those found by an independent minimiser.
    reference = minimise_independently(datasets)
    assert result.statistic == pytest.approx(reference["stat"], abs=1e-6)
    for name, (value, error) in (("index", index), ("amplitude", amplitude)):
        ref_value, ref_error = reference[name]
        assert abs(value - ref_value) < 1e-3 * error, name
        assert error == pytest.approx(ref_error, rel=0.01), name


def test_joint_fit_of_simulated_instruments_recovers_the_truth(instruments):
    b, c = instruments["b"], instruments["c"]
    joint = gx.fit([b, c], start_models())
    alone = [gx.fit(ds, start_models()) for ds in (b, c)]
    assert joint.success and all(r.success for r in alone)
    for name in ("index", "amplitude"):
        value, error = best(joint, name)
        assert abs(value - TRUTH[name]) < 3 * error, name
        # The joint measurement is tighter than either instrument's.
        assert error < min(best(r, name)[1] for r in alone), name
    # The joint statistic is the sum of both at the joint best fit.
    both = combined_wstat([b, c], best(joint, "index")[0], best(joint, "amplitude")[0])
    assert joint.statistic == pytest.approx(both, rel=1e-10)


def test_joint_fit_pulls_are_unbiased(instruments):
    """Re-simulated counts on the OGIP-read responses: pulls with mean 0 and spread 1."""
    rng = np.random.default_rng(2)
    pulls = []
    for _ in range(30):
        fresh = [resimulate(instruments[key], rng) for key in ("b", "c")]
        result = gx.fit(fresh, start_models())
        assert result.success
        value, error = best(result, "index")
        pulls.append((value - TRUTH["index"]) / error)
    pulls = np.array(pulls)
    # 30 realisations: standard errors 0.18 (mean) and 0.13 (spread).
    assert abs(pulls.mean()) < 0.6
    assert 0.65 < pulls.std() < 1.4


def resimulate(ds, rng):
    """New Poisson counts on the response of an OGIP-read simulated dataset."""
    setup = INSTRUMENTS[ds.attrs["telescope"]]
    mu_sig = predicted_signal(ds, TRUTH["index"], TRUTH["amplitude"])
    mu_bkg = setup["background"] * ds.energy.values**-1.7
    return ds.assign(
        counts=ds.counts.copy(data=rng.poisson(mu_sig + mu_bkg)),
        counts_off=ds.counts_off.copy(data=rng.poisson(mu_bkg * setup["n_off_regions"])),
    )
