"""Differential sensitivity: gammaxr against Gammapy's ``SensitivityEstimator``.

Run in the Gammapy environment:

    /work/gp-venv/bin/python benchmarks/gammapy_sensitivity.py [--data PATH] \
        [--gammaxr-python /work/venv/bin/python]

For the CTA prod5 South and North IRFs (20 deg zenith, 50 h optimisation) it
simulates with Gammapy an on-off spectrum dataset of 50 h at 0.5 deg offset in
a 0.1 deg on region (exposure with PSF containment, energy dispersion,
background; off region 5 times larger, ``counts_off = background / alpha``) and
runs Gammapy's ``SensitivityEstimator`` (5 sigma, 10 gammas, 5% background
systematics, power law of index 2). The dataset's arrays go to a ``.npz`` file;
the script then runs itself under the gammaxr Python (``--gammaxr-python``),
which rebuilds the dataset as an xarray Dataset and runs
``gammaxr.estimators.sensitivity``, so both tools see identical inputs. It
writes ``benchmarks/results/sensitivity.md`` (and ``.json``) with the curves,
their ratio, the criteria and the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
IRFS = {
    "South": "Prod5-South-20deg-AverageAz-14MSTs37SSTs.180000s-v0.1.fits.gz",
    "North": "Prod5-North-20deg-AverageAz-4LSTs09MSTs.180000s-v0.1.fits.gz",
}
#: label: (site, on radius deg, live time h). The last two cases make the
#: background-systematics (wide region) and the 10-gamma (short, narrow) criteria apply.
CASES = {
    "South, r = 0.1 deg, 50 h": ("South", 0.1, 50.0),
    "North, r = 0.1 deg, 50 h": ("North", 0.1, 50.0),
    "South, r = 2.0 deg, 50 h": ("South", 2.0, 50.0),
    "South, r = 0.05 deg, 0.5 h": ("South", 0.05, 0.5),
}
ALPHA = 0.2
OPTIONS = {"n_sigma": 5.0, "gamma_min": 10.0, "bkg_syst_fraction": 0.05}


def data_folder(arg: str | None) -> Path:
    for candidate in (arg, os.environ.get("GAMMAXR_DATA"), HERE.parent.parent / "shared/data"):
        if candidate and (Path(candidate) / "cta-caldb").is_dir():
            return Path(candidate)
    sys.exit("no data folder with cta-caldb: pass --data or set GAMMAXR_DATA")


def best_of(func, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


# --------------------------------------------------------------------------------------
# Gammapy side
# --------------------------------------------------------------------------------------


def gammapy_case(irf_path: Path, site: str, radius: float, livetime: float) -> dict:
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from gammapy.data import FixedPointingInfo, Observation, observatory_locations
    from gammapy.datasets import SpectrumDataset, SpectrumDatasetOnOff
    from gammapy.estimators import SensitivityEstimator
    from gammapy.irf import load_irf_dict_from_file
    from gammapy.makers import SpectrumDatasetMaker
    from gammapy.maps import MapAxis, RegionGeom
    from regions import CircleSkyRegion

    irfs = load_irf_dict_from_file(irf_path)
    target = SkyCoord(0.0, 0.5, unit="deg", frame="icrs")
    pointing = FixedPointingInfo(fixed_icrs=SkyCoord(0.0, 0.0, unit="deg", frame="icrs"))
    location = observatory_locations["cta_south" if site == "South" else "cta_north"]
    obs = Observation.create(
        pointing=pointing, irfs=irfs, livetime=livetime * u.h, location=location
    )
    energy = MapAxis.from_energy_bounds(0.03, 100, nbin=7, per_decade=True, unit="TeV")
    energy_true = MapAxis.from_energy_bounds(
        0.01, 300, nbin=20, per_decade=True, unit="TeV", name="energy_true"
    )
    geom = RegionGeom.create(CircleSkyRegion(target, radius * u.deg), axes=[energy])
    empty = SpectrumDataset.create(geom=geom, energy_axis_true=energy_true)
    maker = SpectrumDatasetMaker(
        selection=["exposure", "edisp", "background"], containment_correction=True
    )
    dataset = maker.run(empty, obs)
    on_off = SpectrumDatasetOnOff.from_spectrum_dataset(
        dataset=dataset, acceptance=1, acceptance_off=1 / ALPHA
    )
    estimator = SensitivityEstimator(**OPTIONS)
    table = estimator.run(on_off)
    seconds = best_of(lambda: estimator.run(on_off))
    return {
        "arrays": {
            "energy_edges": energy.edges.to_value("TeV"),
            "energy_true_edges": energy_true.edges.to_value("TeV"),
            "exposure_m2s": on_off.exposure.quantity[:, 0, 0].to_value("m2 s"),
            "edisp": on_off.edisp.get_edisp_kernel().data,
            "counts_off": on_off.counts_off.data[:, 0, 0].astype(float),
            "acceptance": on_off.acceptance.data[:, 0, 0].astype(float),
            "acceptance_off": on_off.acceptance_off.data[:, 0, 0].astype(float),
        },
        "e2dnde": table["e2dnde"].quantity.to_value("erg cm-2 s-1").tolist(),
        "excess": np.asarray(table["excess"]).tolist(),
        "background": np.asarray(table["background"]).tolist(),
        "criterion": [str(c) for c in table["criterion"]],
        "seconds": seconds,
    }


# --------------------------------------------------------------------------------------
# gammaxr side (runs under the gammaxr Python)
# --------------------------------------------------------------------------------------


def gammaxr_case(npz_path: str) -> dict:
    import xarray as xr

    import gammaxr as gx
    from gammaxr.estimators.sensitivity import sensitivity

    arrays = np.load(npz_path)
    energy = gx.axis_from_edges(arrays["energy_edges"], name="energy", units="TeV", interp="log")
    energy_true = gx.axis_from_edges(
        arrays["energy_true_edges"], name="energy_true", units="TeV", interp="log"
    )
    coords = {**energy.coords, **energy_true.coords}

    def spectrum(name, values):
        return ("energy", values, {"units": ""})

    ds = xr.Dataset(
        {
            "exposure": ("energy_true", arrays["exposure_m2s"], {"units": "m2 s"}),
            "edisp": (("energy_true", "energy"), arrays["edisp"], {"units": ""}),
            "counts_off": spectrum("counts_off", arrays["counts_off"]),
            "acceptance": spectrum("acceptance", arrays["acceptance"]),
            "acceptance_off": spectrum("acceptance_off", arrays["acceptance_off"]),
        },
        coords=coords,
    )
    result = sensitivity(ds, **OPTIONS)
    seconds = best_of(lambda: sensitivity(ds, **OPTIONS))
    return {
        "e2dnde": result.e2dnde.values.tolist(),
        "excess": result.excess.values.tolist(),
        "background": result.background.values.tolist(),
        "criterion": [str(c) for c in result.criterion.values],
        "energy": result.energy.values.tolist(),
        "seconds": seconds,
    }


# --------------------------------------------------------------------------------------


def report(cases: dict, out: Path) -> None:
    lines = [
        "# Differential sensitivity: gammaxr vs Gammapy 2.1",
        "",
        "`benchmarks/gammapy_sensitivity.py`: CTA prod5 IRFs (20 deg zenith, 50 h "
        "optimisation), a source at 0.5 deg offset, a circular on region "
        f"(PSF containment in the exposure), alpha = {ALPHA}, counts_off = background / "
        "alpha; 5 sigma, 10 gammas, 5% background systematics, power law of index 2. "
        "The on-off dataset is made by Gammapy and given to both estimators.",
        "",
        f"Load average when run: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
        f"({os.cpu_count()} CPUs; wall times on a shared machine vary by up to 2x).",
        "",
    ]
    for site, case in cases.items():
        gp, gx_ = case["gammapy"], case["gammaxr"]
        ratio = np.array(gx_["e2dnde"]) / np.array(gp["e2dnde"])
        lines += [
            f"## {site}",
            "",
            "| E (TeV) | e2dnde gammaxr (erg cm-2 s-1) | Gammapy | ratio | excess gammaxr |"
            " Gammapy | criterion gammaxr | Gammapy |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for i, energy in enumerate(gx_["energy"]):
            lines.append(
                f"| {energy:.4g} | {gx_['e2dnde'][i]:.5e} | {gp['e2dnde'][i]:.5e} | "
                f"{ratio[i]:.8f} | {gx_['excess'][i]:.5g} | {gp['excess'][i]:.5g} | "
                f"{gx_['criterion'][i]} | {gp['criterion'][i]} |"
            )
        finite = np.isfinite(ratio)
        agree = sum(a == b for a, b in zip(gx_["criterion"], gp["criterion"], strict=True))
        lines += [
            "",
            f"Largest relative difference in e2dnde: {np.max(np.abs(ratio[finite] - 1)):.2e}; "
            f"criteria agree in {agree}"
            f" of {len(ratio)} bins.",
            f"Time per run (best of 5): gammaxr {gx_['seconds'] * 1e3:.2f} ms, "
            f"Gammapy {gp['seconds'] * 1e3:.2f} ms "
            f"(ratio {gp['seconds'] / gx_['seconds']:.1f}x).",
            "",
        ]
    out.with_suffix(".md").write_text("\n".join(lines))
    out.with_suffix(".json").write_text(json.dumps(cases, indent=1))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data")
    parser.add_argument("--gammaxr-python", default="/work/venv/bin/python")
    parser.add_argument("--gammaxr", nargs=2, metavar=("NPZ", "JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gammaxr:  # the gammaxr half, in the gammaxr environment
        Path(args.gammaxr[1]).write_text(json.dumps(gammaxr_case(args.gammaxr[0])))
        return
    data = data_folder(args.data)
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        for index, (label, (site, radius, livetime)) in enumerate(CASES.items()):
            gp = gammapy_case(data / "cta-caldb" / IRFS[site], site, radius, livetime)
            npz, out = Path(tmp) / f"{index}.npz", Path(tmp) / f"{index}.json"
            np.savez(npz, **gp.pop("arrays"))
            subprocess.run(
                [args.gammaxr_python, __file__, "--gammaxr", str(npz), str(out)], check=True
            )
            cases[label] = {"gammapy": gp, "gammaxr": json.loads(out.read_text())}
    report(cases, HERE / "results" / "sensitivity")


if __name__ == "__main__":
    main()
