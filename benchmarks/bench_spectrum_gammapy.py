"""Gammapy side of bench_spectrum.py: one case in a fresh process (Gammapy environment).

    /work/gp-venv/bin/python benchmarks/bench_spectrum_gammapy.py --case spectrum_1d --data DIR

Prints one JSON line: the step times (wall clock and CPU of this process, s)
and the numbers bench_spectrum.py compares. The cases follow
gammapy/gammapy-benchmarks ``spectrum_1d`` and ``spectrum_1d_joint`` (see
bench_spectrum.py for the setup); ``crab_1d`` is the four shipped Crab runs
(read here from ``DIR/hess-dl3-dr1``, the same files).
"""

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

CRAB_RUNS = (23523, 23526, 23559, 23592)
N_OBS = 10
FIT_OPTIONS = {"tol": 0.1, "strategy": 1}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", required=True)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()

    import astropy.units as u
    import gammapy
    import numpy as np
    from astropy.coordinates import SkyCoord
    from gammapy.data import DataStore
    from gammapy.datasets import Datasets, SpectrumDatasetOnOff
    from gammapy.estimators import FluxPointsEstimator
    from gammapy.makers import (
        ReflectedRegionsBackgroundMaker,
        SafeMaskMaker,
        SpectrumDatasetMaker,
    )
    from gammapy.maps import MapAxis, RegionGeom, WcsGeom
    from gammapy.modeling import Fit
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
    from regions import CircleSkyRegion

    out = {"tool": "gammapy", "version": gammapy.__version__, "case": args.case}
    out["import"] = time.perf_counter() - T_START
    times, cpu = {}, {}
    clock = [time.perf_counter(), time.process_time()]

    def lap(name):
        now = [time.perf_counter(), time.process_time()]
        times[name], cpu[name] = now[0] - clock[0], now[1] - clock[1]
        clock[:] = now

    def power_law():
        spectral = PowerLawSpectralModel(
            index=2, amplitude=2e-11 * u.Unit("cm-2 s-1 TeV-1"), reference=1 * u.TeV
        )
        return SkyModel(spectral_model=spectral, name="crab")

    def best(result):
        pars = result.models.parameters
        return {
            "index": [float(pars["index"].value), float(pars["index"].error)],
            "amplitude": [float(pars["amplitude"].value), float(pars["amplitude"].error)],
            "stat": float(result.total_stat),
            "success": bool(result.success),
        }

    data = Path(args.data) / "hess-dl3-dr1"
    if args.case in ("spectrum_1d", "spectrum_1d_joint"):
        joint = args.case == "spectrum_1d_joint"
        store = DataStore.from_dir(data)
        observations = store.get_observations([23523] * N_OBS)
        target = SkyCoord(83.63, 22.01, unit="deg", frame="icrs")
        on_region = CircleSkyRegion(center=target, radius=0.11 * u.deg)
        excluded = CircleSkyRegion(
            center=SkyCoord(183.604, -8.708, unit="deg", frame="galactic"), radius=0.5 * u.deg
        )
        mask_geom = WcsGeom.create(
            npix=(150, 150), binsz=0.05, skydir=target.galactic, proj="TAN", frame="galactic"
        )
        exclusion_mask = mask_geom.region_mask([excluded], inside=False)
        e_reco = MapAxis.from_bounds(0.1, 40, nbin=40, interp="log", unit="TeV", name="energy")
        e_true = MapAxis.from_bounds(
            0.05, 100, nbin=200, interp="log", unit="TeV", name="energy_true"
        )
        geom = RegionGeom(on_region, axes=[e_reco])
        empty = SpectrumDatasetOnOff.create(geom=geom, energy_axis_true=e_true, name="stacked")
        maker = SpectrumDatasetMaker(
            containment_correction=joint, selection=["counts", "exposure", "edisp"]
        )
        background = ReflectedRegionsBackgroundMaker(exclusion_mask=exclusion_mask)
        safe = SafeMaskMaker(methods=["aeff-max"], aeff_percent=10)
        datasets = Datasets()
        stacked = empty.copy(name="stacked")
        for index, observation in enumerate(observations):
            dataset = maker.run(empty.copy(name=f"dataset{index}"), observation)
            dataset = safe.run(background.run(dataset, observation), observation)
            if joint:
                datasets.append(dataset)
            else:
                stacked.stack(dataset)
        if not joint:
            datasets.append(stacked)
        datasets.models = [power_law()]
        lap("data_preparation")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder)
            datasets.write(
                path / "datasets.yaml", filename_models=path / "models.yaml", overwrite=True
            )
            lap("writing")
            datasets = Datasets.read(path / "datasets.yaml", filename_models=path / "models.yaml")
            lap("reading")
        result = Fit(optimize_opts=FIT_OPTIONS).run(datasets)
        lap("data_fitting")
        edges = MapAxis.from_bounds(0.7, 30, nbin=11, interp="log", unit="TeV").edges
        points = FluxPointsEstimator(energy_edges=edges, source="crab").run(datasets=datasets)
        lap("flux_points")
        out["fit"] = best(result)
        out["flux_points"] = {
            "energy_lo": points.energy_min.to_value("TeV").tolist(),
            "norm": np.asarray(points.norm.data).ravel().tolist(),
            "norm_err": np.asarray(points.norm_err.data).ravel().tolist(),
            "ts": np.asarray(points.ts.data).ravel().tolist(),
        }
        out["counts"] = int(sum(int(d.counts.data[d.mask_safe.data].sum()) for d in datasets))
    elif args.case == "crab_1d":
        store = DataStore.from_dir(data)
        observations = store.get_observations(list(CRAB_RUNS))
        on_region = CircleSkyRegion(SkyCoord(83.633, 22.014, unit="deg"), 0.11 * u.deg)
        energy = MapAxis.from_energy_bounds(0.5, 50, nbin=8, per_decade=True, unit="TeV")
        energy_true = MapAxis.from_energy_bounds(0.3, 100, nbin=30, unit="TeV",
                                                 name="energy_true")  # fmt: skip
        geom = RegionGeom.create(region=on_region, axes=[energy])
        empty = SpectrumDatasetOnOff.create(geom=geom, energy_axis_true=energy_true)
        maker = SpectrumDatasetMaker(
            containment_correction=True, selection=["counts", "exposure", "edisp"]
        )
        background = ReflectedRegionsBackgroundMaker()
        safe = SafeMaskMaker(methods=["aeff-max"], aeff_percent=10)
        runs = Datasets()
        for observation in observations:
            dataset = maker.run(empty.copy(name=str(observation.obs_id)), observation)
            runs.append(safe.run(background.run(dataset, observation), observation))
        stacked = Datasets([runs.stack_reduce(name="stacked")])
        lap("data_preparation")
        stacked.models = [power_law()]
        out["fit_stacked"] = best(Fit(optimize_opts=FIT_OPTIONS).run(stacked))
        lap("fit_stacked")
        runs.models = [power_law()]
        out["fit_joint"] = best(Fit(optimize_opts=FIT_OPTIONS).run(runs))
        lap("fit_joint")
    else:
        raise SystemExit(f"unknown case {args.case!r}")
    out["times"], out["cpu"] = times, cpu
    out["total"], out["total_cpu"] = sum(times.values()), sum(cpu.values())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
