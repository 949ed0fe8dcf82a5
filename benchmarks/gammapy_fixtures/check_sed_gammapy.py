"""Flux-point tables between Gammapy 2.1 and gammaxr, both ways.

Three steps, in the two environments (gammaxr never imports Gammapy)::

    /work/gp-venv/bin/python benchmarks/gammapy_fixtures/check_sed_gammapy.py fixture
    /work/venv/bin/python    benchmarks/gammapy_fixtures/check_sed_gammapy.py write DIR
    /work/gp-venv/bin/python benchmarks/gammapy_fixtures/check_sed_gammapy.py check DIR

``fixture`` simulates a spectrum dataset (fixed seed: counts, background and
exposure stored in ``tests/io/data/gammapy_flux_points_input.json``), runs
Gammapy's ``FluxPointsEstimator`` on it (power law index 2.5, amplitude 4e-11,
five points, errors, upper limits and a norm scan) and writes the result with
``FluxPoints.write`` as ``gammapy_flux_points.ecsv`` / ``.fits`` (likelihood)
and ``gammapy_flux_points_dnde.ecsv``: the fixtures of ``tests/io/test_sed.py``.
``write`` computes gammaxr's flux points of the same dataset and writes them
with ``gammaxr.write_flux_points`` (ECSV, FITS, likelihood and dnde) plus the
numbers in ``DIR/expected.json``; ``check`` reads those files with
``FluxPoints.read`` and compares the norms, errors, upper limits, TS, reference
fluxes and the ``dnde`` conversion. It prints one line per file and exits with
1 on a mismatch.
"""

import json
import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "tests" / "io" / "data"
EDGES = np.geomspace(0.5, 50, 21)
FP_EDGES = EDGES[::4]
SCAN = np.linspace(0.0, 3.0, 31)
MODEL = {"index": 2.5, "amplitude": 4e-11}


def fixture() -> None:
    import astropy.units as u
    from gammapy.datasets import SpectrumDataset
    from gammapy.estimators import FluxPointsEstimator
    from gammapy.irf import EDispKernelMap
    from gammapy.maps import MapAxis, RegionGeom
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel

    rng = np.random.default_rng(42)
    energy = MapAxis.from_edges(EDGES, unit="TeV", name="energy", interp="log")
    energy_true = MapAxis.from_edges(EDGES, unit="TeV", name="energy_true", interp="log")
    geom = RegionGeom.create("icrs;circle(83.63, 22.01, 0.1)", axes=[energy])
    dataset = SpectrumDataset.create(geom, energy_axis_true=energy_true, name="sim")
    exposure = np.full(energy_true.nbin, 2e8)  # m2 s
    centre = energy.center.to_value("TeV")
    background = 5.0 * (centre / 0.5) ** -1.5
    model = PowerLawSpectralModel(
        index=MODEL["index"], amplitude=MODEL["amplitude"] * u.Unit("cm-2 s-1 TeV-1")
    )
    signal = (
        model.integral(EDGES[:-1] * u.TeV, EDGES[1:] * u.TeV).to_value("cm-2 s-1") * exposure * 1e4
    )
    counts = rng.poisson(signal + background)
    dataset.exposure.quantity = exposure.reshape(-1, 1, 1) * u.Unit("m2 s")
    dataset.background.data = background.reshape(-1, 1, 1)
    dataset.counts.data = counts.reshape(-1, 1, 1)
    dataset.mask_safe.data[...] = True
    dataset.edisp = EDispKernelMap.from_diagonal_response(energy, energy_true)
    dataset.models = SkyModel(spectral_model=model, name="src")
    estimator = FluxPointsEstimator(
        energy_edges=FP_EDGES * u.TeV, source="src",
        selection_optional=["errn-errp", "ul", "scan"], norm={"scan_values": SCAN},
    )  # fmt: skip
    fp = estimator.run([dataset])
    fp.write(DATA / "gammapy_flux_points.ecsv", overwrite=True)
    fp.write(DATA / "gammapy_flux_points.fits", overwrite=True)
    fp.write(DATA / "gammapy_flux_points_dnde.ecsv", sed_type="dnde", overwrite=True)
    inputs = {
        "edges": EDGES.tolist(), "fp_edges": FP_EDGES.tolist(), "scan": SCAN.tolist(),
        "model": MODEL, "exposure_m2_s": exposure.tolist(),
        "background": background.tolist(), "counts": counts.tolist(),
    }  # fmt: skip
    (DATA / "gammapy_flux_points_input.json").write_text(json.dumps(inputs, indent=1) + "\n")
    print(fp.to_table(sed_type="likelihood")["norm", "norm_err", "norm_ul", "ts"])


def write(folder: Path) -> None:
    import xarray as xr

    import gammaxr as gx
    from gammaxr.estimators import flux_points
    from gammaxr.models import Models, PowerLawSpectralModel, SkyModel

    folder.mkdir(parents=True, exist_ok=True)
    inputs = json.loads((DATA / "gammapy_flux_points_input.json").read_text())
    energy = gx.axis_from_edges(EDGES, name="energy", units="TeV", interp="log")
    energy_true = gx.axis_from_edges(EDGES, name="energy_true", units="TeV", interp="log")
    ds = xr.Dataset(
        {
            "counts": ("energy", np.array(inputs["counts"])),
            "background": ("energy", np.array(inputs["background"]), {"units": ""}),
            "exposure": ("energy_true", np.array(inputs["exposure_m2_s"]), {"units": "m2 s"}),
        },
        coords={**energy.coords, **energy_true.coords},
        attrs={"name": "sim"},
    )
    models = Models([SkyModel(PowerLawSpectralModel(**MODEL), name="src")])
    fp = flux_points(ds, models, "src", FP_EDGES, scan=SCAN)
    for name in ("fp.ecsv", "fp.fits"):
        gx.write_flux_points(fp, folder / name)
    gx.write_flux_points(fp, folder / "fp_dnde.ecsv", sed_type="dnde")
    expected = {k: fp[k].values.tolist() for k in ("norm", "norm_err", "norm_errn",
                "norm_errp", "norm_ul", "ts", "ref_dnde", "ref_flux", "ref_eflux")}  # fmt: skip
    expected["e_min"] = fp.energy_lo.values.tolist()
    expected["e_max"] = fp.energy_hi.values.tolist()
    (folder / "expected.json").write_text(json.dumps(expected))
    print(f"wrote {folder}")


def check(folder: Path) -> int:
    from gammapy.estimators import FluxPoints

    expected = json.loads((folder / "expected.json").read_text())
    failures = 0
    for name in ("fp.ecsv", "fp.fits", "fp_dnde.ecsv"):
        if name.endswith("dnde.ecsv"):
            fp = FluxPoints.read(folder / name, sed_type="dnde")
            got = fp.dnde.quantity.to_value("cm-2 s-1 TeV-1").ravel()
            want = np.array(expected["norm"]) * np.array(expected["ref_dnde"])
            pairs = {"dnde": (got, want)}
        else:
            fp = FluxPoints.read(folder / name)
            pairs = {
                key: (getattr(fp, key).data.ravel(), np.array(expected[key]))
                for key in ("norm", "norm_err", "norm_errn", "norm_errp", "norm_ul", "ts")
            }
            pairs["ref_dnde"] = (fp.dnde_ref.to_value("cm-2 s-1 TeV-1").ravel(),
                                 np.array(expected["ref_dnde"]))  # fmt: skip
            pairs["ref_eflux"] = (fp.eflux_ref.to_value("TeV cm-2 s-1").ravel(),
                                  np.array(expected["ref_eflux"]))  # fmt: skip
            dnde = np.array(expected["norm"]) * np.array(expected["ref_dnde"])
            pairs["dnde"] = (fp.dnde.quantity.to_value("cm-2 s-1 TeV-1").ravel(), dnde)
        edges = fp.energy_axis.edges.to_value("TeV")
        pairs["edges"] = (edges, np.append(expected["e_min"], expected["e_max"][-1]))
        if fp.n_sigma_ul != 2:
            pairs["n_sigma_ul"] = (np.array([fp.n_sigma_ul]), np.array([2.0]))
        bad = [
            key for key, (a, b) in pairs.items()
            if not np.allclose(np.ma.filled(a, np.nan), b, rtol=1e-9, equal_nan=True)
        ]  # fmt: skip
        status = "OK" if not bad else f"MISMATCH {bad}"
        failures += bool(bad)
        print(f"Gammapy reads gammaxr's {name}: {status}")
    return 1 if failures else 0


if __name__ == "__main__":
    step = sys.argv[1] if len(sys.argv) > 1 else ""
    if step == "fixture":
        fixture()
    elif step == "write":
        write(Path(sys.argv[2]))
    elif step == "check":
        sys.exit(check(Path(sys.argv[2])))
    else:
        sys.exit(__doc__)
