"""Check that Gammapy 2.1 reads the OGIP files gammaxr writes, with the same numbers.

Two steps, in the two environments (gammaxr never imports Gammapy):

    /work/venv/bin/python    benchmarks/gammapy_fixtures/check_gammapy_reads_gammaxr.py write DIR
    /work/gp-venv/bin/python benchmarks/gammapy_fixtures/check_gammapy_reads_gammaxr.py check DIR

``write`` reads the Gammapy-written sets of this folder with gammaxr, writes them
again with ``gammaxr.io.ogip.write_ogip`` (in TeV and in keV), adds a synthetic
set (masked channels, empty and all-zero response rows, a float64 BACKSCAL), and
stores what each dataset holds in ``DIR/expected.json``. ``check`` reads every
set with ``SpectrumDatasetOnOff.read(format="ogip")`` and compares counts,
counts_off, acceptance, acceptance_off, alpha, mask_safe, exposure, the edisp
matrix, the live time and the energy axes; for the re-written Gammapy sets it
also compares with Gammapy's own files, including the WStat of a power law
(``stat_sum``). It prints one line per set and exits with 1 on a mismatch.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[2] / "tests" / "io" / "data" / "ogip"
SETS = ["pha_obs23523.fits.gz", "pha_obs23526.fits.gz", "pha_stacked.fits.gz"]


def write(folder: Path) -> None:
    import numpy as np
    import xarray as xr

    import gammaxr as gx
    from gammaxr.io.ogip import read_ogip, write_ogip

    folder.mkdir(parents=True, exist_ok=True)
    datasets = {}
    for name in SETS:
        ds = read_ogip(HERE / name)
        stem = name.replace(".fits.gz", "")
        datasets[f"{stem}_tev.fits"] = (ds, "TeV", name)
        datasets[f"{stem}_kev.fits"] = (ds, "keV", name)
    rng = np.random.default_rng(1)
    energy = gx.energy_axis(0.3, 30, nbin=9)
    energy_true = gx.energy_axis(0.2, 60, nbin=15, name="energy_true")
    edisp = rng.uniform(0, 1, (15, 9))
    edisp[edisp < 0.4] = 0
    edisp[0] = 0
    edisp /= np.maximum(edisp.sum(axis=1, keepdims=True), 1)
    synthetic = xr.Dataset(
        {
            "counts": ("energy", rng.poisson(30, 9), {"units": ""}),
            "counts_off": ("energy", rng.poisson(90, 9), {"units": ""}),
            "acceptance": ("energy", np.ones(9), {"units": ""}),
            "acceptance_off": ("energy", rng.uniform(2, 12, 9), {"units": ""}),
            "exposure": (
                "energy_true",
                rng.uniform(1e7, 1e10, 15).astype(np.float32),
                {"units": "m2 s"},
            ),
            "edisp": (("energy_true", "energy"), edisp.astype(np.float32), {"units": ""}),
            "mask_safe": ("energy", np.array([0, 1, 1, 1, 1, 1, 1, 1, 0], bool), {"units": ""}),
        },
        coords={**energy.coords, **energy_true.coords},
        attrs={"obs_id": 4242, "livetime": 1234.5, "telescope": "SYNTH"},
    )
    datasets["pha_synthetic.fits"] = (synthetic, "TeV", None)
    expected = {}
    for filename, (ds, unit, source) in datasets.items():
        write_ogip(ds, folder / filename, energy_unit=unit)
        alpha = (ds.acceptance / ds.acceptance_off).values
        expected[filename] = {
            "source": source,
            "counts": ds.counts.values.tolist(),
            "counts_off": ds.counts_off.values.tolist(),
            "acceptance": ds.acceptance.values.astype(float).tolist(),
            "acceptance_off": ds.acceptance_off.values.astype(float).tolist(),
            "alpha": alpha.tolist(),
            "mask_safe": ds.mask_safe.values.astype(int).tolist(),
            "exposure_m2s": ds.exposure.values.astype(float).tolist(),
            "edisp": ds.edisp.transpose("energy_true", "energy").values.astype(float).tolist(),
            "livetime_s": float(ds.attrs["livetime"]),
            "energy_edges_tev": gx.conventions.edges(ds, "energy").tolist(),
            "energy_true_edges_tev": gx.conventions.edges(ds, "energy_true").tolist(),
        }
    (folder / "expected.json").write_text(json.dumps(expected))
    print(f"wrote {len(datasets)} OGIP sets to {folder}")


def check(folder: Path) -> int:
    import numpy as np
    from gammapy.datasets import SpectrumDatasetOnOff
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel

    expected = json.loads((folder / "expected.json").read_text())
    failures = 0
    model = SkyModel(
        spectral_model=PowerLawSpectralModel(index=2.6, amplitude="4e-11 cm-2 s-1 TeV-1")
    )
    for filename, ref in expected.items():
        ds = SpectrumDatasetOnOff.read(folder / filename, format="ogip")
        got = {
            "counts": ds.counts.data.ravel(),
            "counts_off": ds.counts_off.data.ravel(),
            "acceptance": ds.acceptance.data.ravel(),
            "acceptance_off": ds.acceptance_off.data.ravel(),
            "alpha": ds.alpha.data.ravel(),
            "mask_safe": ds.mask_safe.data.ravel().astype(int),
            "exposure_m2s": ds.exposure.quantity.to_value("m2 s").ravel(),
            "edisp": ds.edisp.get_edisp_kernel().data,
            "livetime_s": ds.exposure.meta["livetime"].to_value("s"),
            "energy_edges_tev": ds.counts.geom.axes["energy"].edges.to_value("TeV"),
            "energy_true_edges_tev": ds.exposure.geom.axes["energy_true"].edges.to_value("TeV"),
        }
        worst = {}
        for key, value in got.items():
            want = np.asarray(ref[key], dtype=float)
            value = np.asarray(value, dtype=float)
            if want.shape != value.shape:
                worst[key] = f"shape {value.shape} != {want.shape}"
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = np.abs(value - want) / np.where(want != 0, np.abs(want), 1)
            worst[key] = float(np.nanmax(rel)) if rel.size else 0.0
        bad = {k: v for k, v in worst.items() if isinstance(v, str) or v > 1e-6}
        largest = max(v for v in worst.values() if not isinstance(v, str))
        line = f"{filename:28s} max rel. diff {largest:.1e}"
        if ref["source"] is not None:
            original = SpectrumDatasetOnOff.read(HERE / ref["source"], format="ogip")
            stats = []
            for dataset in (original, ds):
                dataset.models = [model.copy(name="crab")]
                stats.append(dataset.stat_sum())
            line += f"; WStat(power law) {stats[0]:.12f} (Gammapy's file)"
            line += f" - {stats[1]:.12f} (gammaxr's) = {stats[0] - stats[1]:.1e}"
            if abs(stats[0] - stats[1]) > 1e-6 * abs(stats[0]):
                bad["stat_sum"] = stats
        print(line + ("" if not bad else f"  MISMATCH {bad}"))
        failures += bool(bad)
    print("all sets agree" if not failures else f"{failures} sets differ")
    return int(failures > 0)


if __name__ == "__main__":
    step, folder = sys.argv[1], Path(sys.argv[2])
    if step == "write":
        write(folder)
    elif step == "check":
        sys.exit(check(folder))
    else:
        raise SystemExit(f"unknown step {step!r}: use 'write' or 'check'")
