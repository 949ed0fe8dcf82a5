"""Gammapy's side of the public light-curve benchmark cases (``lightcurve_1d``, ``lightcurve_3d``).

Run with the Gammapy environment, one case per process (``bench_lightcurve.py``
starts it, interleaved with the gammaxr runs, and writes the report)::

    /work/gp-venv/bin/python benchmarks/bench_lightcurve_gammapy.py --case lightcurve_1d \\
        --out /tmp/gp.json [--dump /tmp/gp.npz] [--data PATH]

The cases are those of gammapy/gammapy-benchmarks ``benchmarks/lightcurve_1d.py``
and ``benchmarks/lightcurve_3d.py`` (the versions that simulate CTA data; the
suite runs them with ``N_OBS = 10``), written for the Gammapy 2.1 API
(``load_irf_dict_from_file`` for ``load_cta_irfs``, ``energy_edges`` for
``e_edges``, ``RegionGeom`` for ``SpectrumDataset.create(e_reco=...)``):

``simulations``
    the CTA 1DC ``South_z20_50h`` IRFs read; ten observations of 1 h live time
    pointed at Galactic (0.5, 0.5) deg, starting 1 h after 2020-03-01 (UTC) and
    every 2 h after; each reduced (1D: ``SpectrumDatasetMaker`` with exposure,
    background and edisp in a 0.11 deg circle at Galactic (0, 0), reco energy
    ``logspace(-0.5, 1, 10)`` TeV, true energy ``logspace(-1.2, 2, 31)``; 3D:
    ``MapDatasetMaker`` with exposure, background, PSF and edisp on a 4 x 4 deg
    Galactic CAR grid of 0.02 deg centred on (0, 0), reco energy
    ``logspace(-1, 1, 10)``, true energy ``logspace(-1.5, 1.5, 30)``,
    ``SafeMaskMaker`` offset-max 4 deg) and faked (Poisson) from a power law
    (index 3, 1e-11 cm-2 s-1 TeV-1 at 1 TeV) times an exponential decay
    (``t0`` 6 h from 2020-03-01), in 3D with a Gaussian of sigma 0.3 deg at
    Galactic (0.2, 0.1) and a ``FoVBackgroundModel`` per dataset;
``lc estimation``
    ``LightCurveEstimator(energy_edges=[1, 10] TeV, reoptimize=False)`` of the
    reference power law (index 3, 1e-11; 3D: the Gaussian frozen), one time bin
    per dataset, with the suite's default selection (norm, error, TS); and once
    more with ``selection_optional=["errn-errp", "ul"]`` (what gammaxr always
    computes: asymmetric errors and the 2 sigma upper limit), timed apart;
``temporal fitting``
    a joint ``Fit`` of the ten datasets with a power law (1D: index 2, 1e-12;
    3D: index 3, 2e-11, the Gaussian's position free, its width and the
    background norms frozen) times an exponential decay (``t0`` 10 h).

The suite's ``dataset.fake()`` draws from an unseeded generator; here dataset
``i`` uses ``random_state=SEED + i`` so the runs are repeatable (the timing is
the same). Each step is timed in wall-clock and CPU seconds
(``time.process_time``). ``--dump`` also writes the counts, the reduced
products of the first observation and the predicted counts of the simulation
model to an ``.npz`` file, which ``bench_lightcurve.py`` feeds to gammaxr so
both tools estimate light curves from identical counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
IRF_FILE = "cta-1dc/caldb/data/cta/1dc/bcf/South_z20_50h/irf_file.fits"
N_OBS = 10
SEED = 20200301
CASES = ("lightcurve_1d", "lightcurve_3d")
LC_COLUMNS = ("norm", "norm_err", "norm_errn", "norm_errp", "norm_ul", "ts", "npred",
              "npred_excess", "ref_flux", "stat", "stat_null")  # fmt: skip


def data_folder(arg: str | None) -> Path:
    for candidate in (arg, os.environ.get("GAMMAXR_DATA"), HERE.parent.parent / "shared/data"):
        if candidate and (Path(candidate) / IRF_FILE).is_file():
            return Path(candidate)
    sys.exit(f"no data folder holding {IRF_FILE}: pass --data or set GAMMAXR_DATA")


class Clock:
    """Wall-clock and CPU seconds of named steps."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, float]] = {}

    def __call__(self, name: str, func, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = func(*args, **kwargs)
        self.steps[name] = {
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu,
        }
        return result


# --------------------------------------------------------------------------------------
# The cases (Gammapy 2.1)
# --------------------------------------------------------------------------------------


def simulate(case: str, data: Path):
    import astropy.units as u
    from astropy.coordinates import Angle, SkyCoord
    from astropy.time import Time
    from gammapy.data import FixedPointingInfo, Observation
    from gammapy.datasets import Datasets, MapDataset, SpectrumDataset
    from gammapy.irf import load_irf_dict_from_file
    from gammapy.makers import MapDatasetMaker, SafeMaskMaker, SpectrumDatasetMaker
    from gammapy.maps import MapAxis, RegionGeom, WcsGeom
    from gammapy.modeling.models import (
        ExpDecayTemporalModel,
        FoVBackgroundModel,
        GaussianSpatialModel,
        PowerLawSpectralModel,
        SkyModel,
    )
    from regions import CircleSkyRegion

    irfs = load_irf_dict_from_file(data / IRF_FILE)
    gti_t0 = Time("2020-03-01")
    center = SkyCoord(0.0, 0.0, unit="deg", frame="galactic")
    pointing = FixedPointingInfo(fixed_icrs=SkyCoord(0.5, 0.5, unit="deg", frame="galactic").icrs)
    spectral_model = PowerLawSpectralModel(
        index=3, amplitude="1e-11 cm-2 s-1 TeV-1", reference="1 TeV"
    )
    temporal_model = ExpDecayTemporalModel(t0="6 h", t_ref=gti_t0.mjd * u.d)
    if case == "lightcurve_1d":
        energy_axis = MapAxis.from_edges(
            np.logspace(-0.5, 1.0, 10), unit="TeV", name="energy", interp="log"
        )
        energy_axis_true = MapAxis.from_edges(
            np.logspace(-1.2, 2.0, 31), unit="TeV", name="energy_true", interp="log"
        )
        on_region = CircleSkyRegion(center=center, radius=Angle("0.11 deg"))
        geom = RegionGeom.create(region=on_region, axes=[energy_axis])
        model_simu = SkyModel(
            spectral_model=spectral_model, temporal_model=temporal_model, name="model-simu"
        )
    else:
        energy_reco = MapAxis.from_edges(
            np.logspace(-1.0, 1.0, 10), unit="TeV", name="energy", interp="log"
        )
        geom = WcsGeom.create(
            skydir=center, binsz=0.02, width=(4, 4), frame="galactic", axes=[energy_reco]
        )
        energy_true = MapAxis.from_edges(
            np.logspace(-1.5, 1.5, 30), unit="TeV", name="energy_true", interp="log"
        )
        spatial_model = GaussianSpatialModel(
            lon_0="0.2 deg", lat_0="0.1 deg", sigma="0.3 deg", frame="galactic"
        )
        model_simu = SkyModel(
            spectral_model=spectral_model,
            spatial_model=spatial_model,
            temporal_model=temporal_model,
            name="model-simu",
        )

    datasets = Datasets()
    tstart = 1.0 * u.hr
    for i in range(N_OBS):
        obs = Observation.create(
            pointing=pointing,
            livetime=1.0 * u.hr,
            tstart=tstart,
            irfs=irfs,
            reference_time=gti_t0,
            obs_id=i,
        )
        if case == "lightcurve_1d":
            empty = SpectrumDataset.create(
                geom=geom, energy_axis_true=energy_axis_true, name=f"dataset_{i}"
            )
            maker = SpectrumDatasetMaker(selection=["exposure", "background", "edisp"])
            dataset = maker.run(empty, obs)
            dataset.models = model_simu
        else:
            empty = MapDataset.create(geom, name=f"dataset_{i}", energy_axis_true=energy_true)
            maker = MapDatasetMaker(selection=["exposure", "background", "psf", "edisp"])
            maker_safe_mask = SafeMaskMaker(methods=["offset-max"], offset_max=4.0 * u.deg)
            dataset = maker.run(empty, obs)
            dataset = maker_safe_mask.run(dataset, obs)
            dataset.models = [model_simu, FoVBackgroundModel(dataset_name=dataset.name)]
        dataset.fake(random_state=SEED + i)
        datasets.append(dataset)
        tstart = tstart + 2.0 * u.hr
    return datasets


def get_lc(case: str, datasets, selection_optional=None):
    import astropy.units as u
    from gammapy.estimators import LightCurveEstimator
    from gammapy.modeling.models import (
        FoVBackgroundModel,
        GaussianSpatialModel,
        PowerLawSpectralModel,
        SkyModel,
    )

    spectral_model = PowerLawSpectralModel(
        index=3, amplitude="1e-11 cm-2 s-1 TeV-1", reference="1 TeV"
    )
    if case == "lightcurve_1d":
        source = "model-fit"
        model_fit = SkyModel(spectral_model=spectral_model, name=source)
        for dataset in datasets:
            dataset.models = model_fit
    else:
        source = "model_fit"
        spatial_model = GaussianSpatialModel(
            lon_0="0.2 deg", lat_0="0.1 deg", sigma="0.3 deg", frame="galactic"
        )
        for name in ("lon_0", "lat_0", "sigma"):
            spatial_model.parameters[name].frozen = True
        model_fit = SkyModel(spatial_model=spatial_model, spectral_model=spectral_model,
                             name=source)  # fmt: skip
        for dataset in datasets:
            dataset.models = [model_fit, FoVBackgroundModel(dataset_name=dataset.name)]
    estimator = LightCurveEstimator(
        energy_edges=[1.0, 10.0] * u.TeV,
        source=source,
        reoptimize=False,
        selection_optional=selection_optional,
    )
    return estimator.run(datasets)


def fit_lc(case: str, datasets):
    import astropy.units as u
    from astropy.time import Time
    from gammapy.modeling import Fit
    from gammapy.modeling.models import (
        ExpDecayTemporalModel,
        FoVBackgroundModel,
        GaussianSpatialModel,
        PowerLawSpectralModel,
        SkyModel,
    )

    gti_t0 = Time("2020-03-01")
    if case == "lightcurve_1d":
        spectral_model = PowerLawSpectralModel(
            index=2.0, amplitude="1e-12 cm-2 s-1 TeV-1", reference="1 TeV"
        )
        temporal_model = ExpDecayTemporalModel(t0="10 h", t_ref=gti_t0.mjd * u.d)
        model = SkyModel(spectral_model=spectral_model, temporal_model=temporal_model,
                         name="model-test")  # fmt: skip
        for dataset in datasets:
            dataset.models = model
    else:
        spatial_model = GaussianSpatialModel(
            lon_0="0.2 deg", lat_0="0.1 deg", sigma="0.3 deg", frame="galactic"
        )
        spatial_model.parameters["lon_0"].frozen = False
        spatial_model.parameters["lat_0"].frozen = False
        spatial_model.parameters["sigma"].frozen = True
        spectral_model = PowerLawSpectralModel(
            index=3, amplitude="2e-11 cm-2 s-1 TeV-1", reference="1 TeV"
        )
        temporal_model = ExpDecayTemporalModel(t0="10 h", t_ref=gti_t0.mjd * u.d)
        model = SkyModel(
            spatial_model=spatial_model,
            spectral_model=spectral_model,
            temporal_model=temporal_model,
            name="fit",
        )
        for dataset in datasets:
            dataset.models = [model, FoVBackgroundModel(dataset_name=dataset.name)]
            dataset.background_model.parameters["norm"].frozen = True
    result = Fit().run(datasets=datasets)
    return result, model


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


def lc_values(lc) -> dict:
    table = lc.to_table(format="lightcurve", sed_type="likelihood")
    out = {
        "time_min": np.asarray(table["time_min"], float).tolist(),
        "time_max": np.asarray(table["time_max"], float).tolist(),
        "e_min": np.asarray(table["e_min"], float).ravel().tolist(),
        "e_max": np.asarray(table["e_max"], float).ravel().tolist(),
        "counts": np.nansum(np.asarray(table["counts"], float), axis=-1).ravel().tolist(),
    }
    n_time = len(table)
    for name in LC_COLUMNS:
        if name in table.colnames:
            # per-dataset columns (npred, npred_excess) hold NaN for the other datasets
            values = np.asarray(table[name], float).reshape(n_time, -1)
            out[name] = np.nansum(values, axis=1).tolist()
    return out


def fit_values(result, model) -> dict:
    params = {}
    for par in model.parameters:
        params[par.name] = {
            "value": float(par.value),
            "error": float(par.error),
            "unit": str(par.unit),
            "frozen": bool(par.frozen),
        }
    return {
        "success": bool(result.success),
        "total_stat": float(result.total_stat),
        "nfev": int(result.optimize_result.nfev),
        "parameters": params,
    }


def dump(path: Path, case: str, datasets) -> None:
    first = datasets[0]
    arrays = {
        "counts": np.stack([d.counts.data for d in datasets]).astype(np.int32),
        "exposure": first.exposure.quantity.to_value("m2 s").astype(np.float32),
        "background": first.background.data.astype(np.float32),
    }
    if case == "lightcurve_1d":
        arrays["edisp"] = first.edisp.get_edisp_kernel().pdf_matrix
    else:
        from astropy.coordinates import SkyCoord

        position = SkyCoord(0.2, 0.1, unit="deg", frame="galactic")
        arrays["edisp"] = first.edisp.get_edisp_kernel(position=position).pdf_matrix
        geom = first.counts.geom
        coords = geom.get_coord().skycoord.galactic
        lon, lat = coords.l.wrap_at("180d").deg, coords.b.deg
        arrays["lon"] = lon[0, 0, :]
        arrays["lat"] = lat[0, :, 0]
        arrays["mask_safe"] = np.stack([d.mask_safe.data for d in datasets])
        arrays["psf_r68"] = first.psf.containment_radius(
            0.68, energy_true=first.exposure.geom.axes["energy_true"].center, position=position
        ).to_value("deg")
    # predicted counts of the simulation model (reset: the datasets now carry other models)
    arrays["npred_simu"] = np.stack([npred_simu(case, d) for d in datasets])
    np.savez_compressed(path, **arrays)


def npred_simu(case: str, dataset):
    """Predicted counts of the simulation model on a dataset, summed over the sky."""
    import astropy.units as u
    from astropy.time import Time
    from gammapy.modeling.models import (
        ExpDecayTemporalModel,
        FoVBackgroundModel,
        GaussianSpatialModel,
        PowerLawSpectralModel,
        SkyModel,
    )

    gti_t0 = Time("2020-03-01")
    spectral = PowerLawSpectralModel(index=3, amplitude="1e-11 cm-2 s-1 TeV-1", reference="1 TeV")
    temporal = ExpDecayTemporalModel(t0="6 h", t_ref=gti_t0.mjd * u.d)
    if case == "lightcurve_1d":
        dataset.models = SkyModel(spectral_model=spectral, temporal_model=temporal, name="s")
        values = dataset.npred_signal().data
        return values.reshape(values.shape[0])
    spatial = GaussianSpatialModel(lon_0="0.2 deg", lat_0="0.1 deg", sigma="0.3 deg",
                                   frame="galactic")  # fmt: skip
    model = SkyModel(spectral_model=spectral, spatial_model=spatial, temporal_model=temporal,
                     name="s")  # fmt: skip
    dataset.models = [model, FoVBackgroundModel(dataset_name=dataset.name)]
    return dataset.npred_signal().data.sum(axis=(1, 2))


def run(case: str, data: Path, dump_path: Path | None) -> dict:
    clock = Clock()
    datasets = clock("simulations", simulate, case, data)
    lc = clock("lc estimation", get_lc, case, datasets)
    lc_full = clock("lc estimation (errn-errp, ul)", get_lc, case, datasets,
                    ["errn-errp", "ul"])  # fmt: skip
    result, model = clock("temporal fitting", fit_lc, case, datasets)
    out = {
        "case": case,
        "n_obs": N_OBS,
        "steps": clock.steps,
        "lc": lc_values(lc),
        "lc_full": lc_values(lc_full),
        "fit": fit_values(result, model),
    }
    if dump_path is not None:
        dump(dump_path, case, datasets)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=CASES, required=True)
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--dump", type=Path, help="also write the counts etc. to this .npz")
    parser.add_argument("--data", help="folder holding cta-1dc (default $GAMMAXR_DATA)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    wall, cpu = time.perf_counter(), time.process_time()
    import gammapy
    import gammapy.data
    import gammapy.datasets
    import gammapy.estimators
    import gammapy.irf
    import gammapy.makers
    import gammapy.maps
    import gammapy.modeling.models  # noqa: F401

    imports = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    out = run(args.case, data_folder(args.data), args.dump)
    out["steps"] = {"imports": imports, **out["steps"]}
    out["version"] = gammapy.__version__
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
