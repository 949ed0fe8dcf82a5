"""Cross-check: does Gammapy read a gammaxr-written model YAML with the same values?

Not a test (gammaxr never imports Gammapy). Run it with the Gammapy environment::

    /work/gp-venv/bin/python benchmarks/gammapy_fixtures/check_models_yaml_gammapy.py

It runs the gammaxr environment (``$GAMMAXR_PYTHON``, default
``/work/venv/bin/python``) on this same file with ``--write DIR compact|full``
(the default layout, then ``full_output=True``): that writes
``DIR/gammaxr_models.yaml`` (every model type gammaxr registers, with linked
parameters, non-default bounds, errors and frozen flags, units, templates next
to the YAML, a FoV background model) and ``DIR/gammaxr_expected.json``
(parameters and model values computed by gammaxr). It then reads the YAML with
Gammapy's ``Models.read`` and compares every parameter (value, frozen, min,
max, error, links) and the model values at a few energies, positions and
times. It prints one line per model and exits with status 1 on a mismatch.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ENERGIES = [0.3, 1.0, 3.0, 10.0]  # TeV
OFFSETS = ([0.0, 0.05, -0.11, 0.23, 0.31], [0.0, 0.07, 0.13, -0.02, -0.18])  # deg
TIMES = [51544.2, 51545.3, 51546.1, 59000.2, 59001.7, 59003.0]  # MJD
#: Gammapy 2.1 cannot read these (it cannot serialise ScaleSpectralModel at all).
NOT_READABLE_BY_GAMMAPY = {"scale"}
#: Gammapy reads only the values of these parameters (EBLAbsorptionNormSpectralModel.from_dict
#: drops their frozen flags, bounds and errors): only the values are compared.
VALUES_ONLY = {("ebl", "spectral.model2.redshift"), ("ebl", "spectral.model2.alpha_norm")}
RTOL = {"parameter": 1e-12, "spectral": 1e-6, "spatial": 1e-6, "temporal": 1e-9}


# --------------------------------------------------------------------------------------
# gammaxr side (run with the gammaxr environment)


def write_gammaxr(directory: Path, full_output: bool) -> None:
    import gammaxr as gx
    from gammaxr.io.models_yaml import write_models
    from gammaxr.models import (
        MODEL_REGISTRY,
        BrokenPowerLawSpectralModel,
        DiskSpatialModel,
        EBLAbsorptionNormSpectralModel,
        ExpCutoffPowerLawNormSpectralModel,
        ExpCutoffPowerLawSpectralModel,
        FoVBackgroundModel,
        GaussianSpatialModel,
        LightCurveTemplateTemporalModel,
        LogParabolaSpectralModel,
        Models,
        Parameter,
        PiecewiseNormSpectralModel,
        PointSpatialModel,
        PowerLawNormSpectralModel,
        PowerLawSpectralModel,
        ScaleSpectralModel,
        SkyModel,
        TemplateSpatialModel,
        TemplateSpectralModel,
    )

    rng = np.random.default_rng(2)

    def varied(p: Parameter) -> Parameter:
        value = p.value * 1.1 + 0.05
        if not math.isnan(p.min):
            value = max(value, p.min)
        if not math.isnan(p.max):
            value = min(value, p.max)
        low = p.min if not math.isnan(p.min) else value - abs(value) - 1
        high = p.max if not math.isnan(p.max) else value + abs(value) + 1
        return Parameter(
            p.name, value, p.unit, min=low, max=high, frozen=not p.frozen,
            error=0.01 * abs(value) + 1e-3, scale=p.scale,
        )  # fmt: skip

    def generic(cls, **state):
        return cls(**state, **{p.name: varied(p) for p in cls.parameter_defaults})

    index = Parameter("index", 2.4, min=1.0, max=4.0, error=0.05, link="shared-index")
    grid = gx.sky_grid((359.9, 0.3), width=(1.0, 0.6), binsz=0.1, frame="galactic")
    template = grid.copy(data=rng.uniform(1.0, 2.0, grid.shape))
    sky = []
    position = {"lon_0": 83.6, "lat_0": 22.0}
    for cls in dict.fromkeys(MODEL_REGISTRY["spectral"].values()):
        if cls.parameter_defaults and cls.__name__ not in (
            "ScaleSpectralModel",
            "EBLAbsorptionNormSpectralModel",
        ):
            model = generic(cls)
            if model.is_norm:
                model = PowerLawSpectralModel() * model
            sky.append(SkyModel(model, PointSpatialModel(**position), name=cls.tags[1]))
    for cls in dict.fromkeys(MODEL_REGISTRY["spatial"].values()):
        if cls is not TemplateSpatialModel:
            model = generic(cls, frame="galactic" if len(sky) % 2 else "icrs")
            sky.append(SkyModel(PowerLawSpectralModel(), model, name=f"spatial-{cls.tags[1]}"))
    for cls in dict.fromkeys(MODEL_REGISTRY["temporal"].values()):
        if cls is not LightCurveTemplateTemporalModel:
            model = generic(cls, scale="utc")
            sky.append(
                SkyModel(
                    PowerLawSpectralModel(),
                    PointSpatialModel(**position),
                    model,
                    name=f"temporal-{cls.tags[1]}",
                )
            )
    sky += [
        SkyModel(
            PowerLawSpectralModel(
                index=index, amplitude=Parameter("amplitude", 2e-11, "cm-2 s-1 TeV-1")
            ),
            GaussianSpatialModel(lon_0=83.63, lat_0=22.01, sigma=0.1),
            name="linked-1",
            datasets_names=["d1", "d2"],
        ),
        SkyModel(
            ExpCutoffPowerLawSpectralModel(index=index, lambda_=0.3),
            DiskSpatialModel(lon_0=184.5, lat_0=-5.8, r_0=0.2, e=0.5, phi=30, frame="galactic"),
            name="linked-2",
        ),
        SkyModel(
            (PowerLawSpectralModel() + LogParabolaSpectralModel(alpha=2.3, beta=0.2))
            * PiecewiseNormSpectralModel([0.1, 1.0, 10.0], [1.0, 1.3, 0.7])
            * ExpCutoffPowerLawNormSpectralModel(lambda_=0.05),
            name="compound",
        ),
        SkyModel(
            PowerLawSpectralModel()
            * PiecewiseNormSpectralModel([0.2, 2.0, 20.0], [0.9, 1.1, 1.05], interp="lin"),
            name="piecewise-lin",
        ),
        SkyModel(
            TemplateSpectralModel([0.5, 1.0, 3.0, 20.0], [3e-12, 1e-12, 1e-13, 1e-15]),
            name="template-spectral",
        ),
        SkyModel(
            BrokenPowerLawSpectralModel()
            * EBLAbsorptionNormSpectralModel(
                [0.1, 0.5, 2.0, 10.0],
                [0.0, 0.2, 0.6, 1.0],
                np.outer([0.0, 0.5, 1.2, 2.0], [0.01, 0.3, 1.5, 4.0]),
                redshift=Parameter("redshift", 0.3, frozen=False, error=0.01),
                alpha_norm=1.2,
            ),
            name="ebl",
        ),
        SkyModel(ScaleSpectralModel(PowerLawSpectralModel(), norm=2.0), name="scale"),
        SkyModel(
            PowerLawSpectralModel(),
            TemplateSpatialModel(template, lon_0=Parameter("lon_0", 359.95, "deg", frozen=False)),
            LightCurveTemplateTemporalModel(
                [59000.3, 59001.1, 59003.7], [0.5, 1.5, 0.2], t_ref=59000.1, scale="utc"
            ),
            name="templates",
        ),
        FoVBackgroundModel(
            "d1", PowerLawNormSpectralModel(norm=1.1, tilt=Parameter("tilt", 0.05))
        ),
    ]
    models = Models(sky)
    write_models(models, directory / "gammaxr_models.yaml", full_output=full_output)

    expected = {}
    for model in models.values():
        entry = {"parameters": {}, "values": {}}
        for name, p in model.parameters.items():
            entry["parameters"][name] = {
                "value": p.value, "unit": p.unit, "frozen": p.frozen,
                "min": None if math.isnan(p.min) else p.min,
                "max": None if math.isnan(p.max) else p.max,
                "error": None if math.isnan(p.error) else p.error, "link": p.link,
            }  # fmt: skip
        entry["values"]["spectral"] = np.asarray(model.spectral(np.array(ENERGIES))).tolist()
        spatial = getattr(model, "spatial", None)
        if spatial is not None and not isinstance(spatial, PointSpatialModel):
            lon0, lat0 = spatial.position_in(spatial.frame) if spatial.position else (0.0, 0.0)
            lon, lat = lon0 + np.array(OFFSETS[0]), lat0 + np.array(OFFSETS[1])
            entry["values"]["spatial"] = {
                "frame": spatial.frame,
                "lon": lon.tolist(),
                "lat": lat.tolist(),
                "value": np.asarray(spatial(lon, lat), dtype=float).tolist(),
            }
        temporal = getattr(model, "temporal", None)
        if temporal is not None:
            entry["values"]["temporal"] = {
                "scale": temporal.scale,
                "value": np.asarray(temporal(np.array(TIMES)), dtype=float).tolist(),
            }
        expected[model.name] = entry
    (directory / "gammaxr_expected.json").write_text(json.dumps(expected, indent=1))


# --------------------------------------------------------------------------------------
# Gammapy side


def relative(a, b) -> float:
    """Largest relative difference; equal values (also inf and NaN on both sides) count 0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        scale = np.maximum(np.abs(a), np.abs(b))
        out = np.where(scale > 0, np.abs(a - b) / scale, 0.0)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    out = np.where(same, 0.0, out)
    return float(np.max(out)) if out.size else 0.0


def check_gammapy(directory: Path) -> int:
    import astropy.units as u
    import yaml
    from astropy.time import Time
    from gammapy.modeling.models import Models

    expected = json.loads((directory / "gammaxr_expected.json").read_text())
    data = yaml.safe_load((directory / "gammaxr_models.yaml").read_text())
    readable = [c for c in data["components"] if c.get("name") not in NOT_READABLE_BY_GAMMAPY]
    data["components"] = readable
    (directory / "for_gammapy.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    models = Models.read(directory / "for_gammapy.yaml")

    failures = 0
    for name in expected:
        if name in NOT_READABLE_BY_GAMMAPY:
            print(f"{name:28s} SKIPPED (Gammapy 2.1 cannot read ScaleSpectralModel)")
            continue
        model = models[name]
        entry = expected[name]
        problems, notes = [], []
        worst = {"parameter": 0.0, "spectral": 0.0, "spatial": 0.0, "temporal": 0.0}
        gp_parameters = {}
        for component in ("spectral", "spatial", "temporal"):
            sub = getattr(model, f"{component}_model", None)
            if sub is not None:
                for pname, p in zip(sub.parameters_unique_names, sub.parameters, strict=True):
                    gp_parameters[f"{component}.{pname}"] = p
        if set(gp_parameters) != set(entry["parameters"]):
            problems.append(f"names {sorted(gp_parameters)} != {sorted(entry['parameters'])}")
        for pname, want in entry["parameters"].items():
            p = gp_parameters.get(pname)
            if p is None:
                continue
            factor = (1 * p.unit).to_value(want["unit"] or "")
            worst["parameter"] = max(worst["parameter"], relative(p.value * factor, want["value"]))
            if (name, pname) in VALUES_ONLY:
                notes.append(f"{pname}: Gammapy keeps only its value")
                continue
            if p.frozen != want["frozen"]:
                problems.append(f"{pname} frozen {p.frozen} != {want['frozen']}")
            for key in ("min", "max"):
                got = getattr(p, key) * factor
                if want[key] is None:
                    if not math.isnan(got):
                        problems.append(f"{pname} {key} {got} != unset")
                elif relative(got, want[key]) > RTOL["parameter"]:
                    problems.append(f"{pname} {key} {got} != {want[key]}")
            error = p.error * factor
            if (want["error"] or 0.0) != 0 and relative(error, want["error"]) > RTOL["parameter"]:
                problems.append(f"{pname} error {error} != {want['error']}")
            if (p._link_label_io or "") != want["link"]:
                problems.append(f"{pname} link {p._link_label_io!r} != {want['link']!r}")
        values = entry["values"]
        spectral = model.spectral_model(ENERGIES * u.TeV)
        unit = "" if spectral.unit.is_equivalent(u.one) else "cm-2 s-1 TeV-1"
        worst["spectral"] = relative(spectral.to_value(unit), values["spectral"])
        if "spatial" in values:
            want = values["spatial"]
            got = model.spatial_model(np.array(want["lon"]) * u.deg, np.array(want["lat"]) * u.deg)
            worst["spatial"] = relative(got.to_value("sr-1"), want["value"])
        if "temporal" in values:
            want = values["temporal"]
            times = Time(TIMES, format="mjd", scale=want["scale"])
            got = np.asarray(u.Quantity(model.temporal_model(times)).to_value("")).ravel()
            worst["temporal"] = relative(got, want["value"])
        for key, value in worst.items():
            if not value <= RTOL[key]:
                problems.append(f"{key} values differ by {value:.2e} (tolerance {RTOL[key]:.0e})")
        status = "OK" if not problems else "MISMATCH"
        summary = ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
        print(f"{name:28s} {status:8s} max rel. diff: {summary}")
        for line in problems + notes:
            print(f"    {line}")
        failures += bool(problems)

    label = models["linked-1"].spectral_model.index
    shared = label is models["linked-2"].spectral_model.index
    print(f"linked index is one Parameter object in Gammapy: {shared}")
    failures += not shared
    print(f"{len(expected)} models, {failures} with mismatches")
    return 1 if failures else 0


def main() -> int:
    np.seterr(all="ignore")  # overflows of varied parameters far from their scales
    warnings.simplefilter("ignore", RuntimeWarning)
    if len(sys.argv) == 4 and sys.argv[1] == "--write":
        write_gammaxr(Path(sys.argv[2]), full_output=sys.argv[3] == "full")
        return 0
    python = os.environ.get("GAMMAXR_PYTHON", "/work/venv/bin/python")
    status = 0
    for layout in ("compact", "full"):
        print(f"--- gammaxr write_models(full_output={layout == 'full'}) read by Gammapy")
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([python, __file__, "--write", tmp, layout], check=True)
            status |= check_gammapy(Path(tmp))
    return status


if __name__ == "__main__":
    sys.exit(main())
