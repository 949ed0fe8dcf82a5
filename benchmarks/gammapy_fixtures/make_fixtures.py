"""Write the Gammapy model-YAML fixtures of ``tests/io/test_models_yaml.py``.

Run with the Gammapy environment (never imported by gammaxr or its tests)::

    /work/gp-venv/bin/python benchmarks/gammapy_fixtures/make_fixtures.py

It writes, next to this script (all written by Gammapy 2.1):

- ``gammapy_models.yaml``: every model type that Gammapy and gammaxr share
  (parametric spectral, spatial and temporal models; compound, piecewise-norm,
  template and EBL spectral models; a spatial template and a light-curve
  template referenced by file; linked parameters; a FoV background model with
  ``datasets_names``; written without the covariance file);
- ``gammapy_template_map.fits`` (the spatial template, as Gammapy writes it:
  the normalised map, ``normalize: true``) and ``gammapy_lightcurve.fits``;
- ``gammapy_expected.json``: what Gammapy reads back from the YAML: every
  parameter (value in gammaxr's canonical unit, frozen, min, max, error, link)
  and model values at a few energies, positions and times.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import Table
from astropy.time import Time
from gammapy.maps import Map, WcsGeom
from gammapy.modeling.models import (
    BrokenPowerLawSpectralModel,
    CompoundSpectralModel,
    ConstantSpatialModel,
    ConstantSpectralModel,
    DiskSpatialModel,
    EBLAbsorptionNormSpectralModel,
    ExpCutoffPowerLaw3FGLSpectralModel,
    ExpCutoffPowerLawNormSpectralModel,
    ExpCutoffPowerLawSpectralModel,
    ExpDecayTemporalModel,
    FoVBackgroundModel,
    GaussianSpatialModel,
    GaussianSpectralModel,
    GaussianTemporalModel,
    GeneralizedGaussianSpatialModel,
    GeneralizedGaussianTemporalModel,
    LightCurveTemplateTemporalModel,
    LinearTemporalModel,
    LogParabolaNormSpectralModel,
    LogParabolaSpectralModel,
    Models,
    PiecewiseNormSpectralModel,
    PointSpatialModel,
    PowerLaw2SpectralModel,
    PowerLawNormSpectralModel,
    PowerLawSpectralModel,
    PowerLawTemporalModel,
    Shell2SpatialModel,
    ShellSpatialModel,
    SineTemporalModel,
    SkyModel,
    SmoothBrokenPowerLawSpectralModel,
    SuperExpCutoffPowerLaw3FGLSpectralModel,
    SuperExpCutoffPowerLaw4FGLDR3SpectralModel,
    SuperExpCutoffPowerLaw4FGLSpectralModel,
    TemplateSpatialModel,
    TemplateSpectralModel,
)

HERE = Path(__file__).resolve().parents[2] / "tests" / "io" / "data"
YAML = HERE / "gammapy_models.yaml"
MAP = HERE / "gammapy_template_map.fits"
LIGHT_CURVE = HERE / "gammapy_lightcurve.fits"
EXPECTED = HERE / "gammapy_expected.json"
HEADER = (
    "# Written by Gammapy 2.1 with make_fixtures.py (do not edit by hand); the template\n"
    "# file names were made relative to this file's directory after writing.\n"
)

#: gammaxr's canonical units: a parameter is converted to the first one it is equivalent to.
CANONICAL = ("TeV", "TeV-1", "deg", "d", "d-1", "rad d-1", "cm-2 s-1 TeV-1", "cm-2 s-1", "sr-1")
ENERGIES = [0.3, 1.0, 3.0, 10.0]  # TeV
TIMES = [51544.3, 51545.0, 51546.5, 59001.2, 59002.7]  # MJD (utc)


def make_models() -> Models:
    """The fixture models (every type both packages know)."""
    pl = PowerLawSpectralModel(index=2.3, amplitude="3.2e-11 cm-2 s-1 TeV-1")
    pl.index.error = 0.1
    pl.index.min = 1.0
    pl.index.max = 5.0
    pl.amplitude.error = 2e-12
    ecpl = ExpCutoffPowerLaw3FGLSpectralModel(index=2.1, ecut="5 TeV")
    ecpl_linked = ExpCutoffPowerLawSpectralModel(
        lambda_="0.2 TeV-1", amplitude="1e-12 cm-2 s-1 TeV-1"
    )
    ecpl_linked.index = pl.index  # link: Gammapy writes "link: index@<random>"
    lp = LogParabolaSpectralModel(
        amplitude=u.Quantity(2e-12, "erg-1 cm-2 s-1"), reference="2 TeV", alpha=2.4, beta=0.3
    )
    disk = DiskSpatialModel(
        lon_0="120 deg", lat_0="-10 deg", r_0="18 arcmin", e=0.4, phi="45 deg", frame="icrs"
    )
    disk.r_0.frozen = True
    disk.e.frozen = False

    # spatial template on a galactic CAR grid centred on (0, 0): lon runs across 0/360
    geom = WcsGeom.create(skydir=(0, 0), binsz=0.1, width=(1.2, 0.8), frame="galactic", proj="CAR")
    rng = np.random.default_rng(0)
    image = Map.from_geom(geom, data=rng.uniform(1.0, 2.0, geom.data_shape))
    template = TemplateSpatialModel(image, filename=str(MAP))

    table = Table({"TIME": [0.0, 1.0, 2.0, 3.5] * u.d, "NORM": [0.5, 1.0, 2.0, 1.0]})
    table.meta.update({"MJDREFI": 59000, "MJDREFF": 0.5, "TIMESYS": "utc", "TIMEUNIT": "d"})
    table.write(LIGHT_CURVE, overwrite=True)
    light_curve = LightCurveTemplateTemporalModel.read(str(LIGHT_CURVE))

    piecewise = PiecewiseNormSpectralModel(energy=[0.1, 1.0, 10.0] * u.TeV, norms=[1.0, 1.2, 0.8])
    ebl = EBLAbsorptionNormSpectralModel(
        energy=[0.1, 1.0, 10.0] * u.TeV,
        param=[0.0, 0.5, 1.0],
        data=np.array([[1.0, 1.0, 1.0], [0.9, 0.5, 0.1], [0.8, 0.3, 0.01]]),
        redshift=0.3,
        alpha_norm=1.0,
    )
    spectral_template = TemplateSpectralModel(
        energy=[1.0, 2.0, 5.0] * u.TeV, values=[1e-12, 3e-13, 2e-14] * u.Unit("cm-2 s-1 TeV-1")
    )
    bkg = FoVBackgroundModel(dataset_name="d1")
    bkg.spectral_model.norm.value = 1.1
    bkg.spectral_model.tilt.frozen = False
    bkg.spectral_model.tilt.value = 0.05

    point = PointSpatialModel(lon_0="184.5 deg", lat_0="-5.8 deg", frame="galactic")
    return Models(
        [
            SkyModel(
                pl,
                GaussianSpatialModel(lon_0="83.63 deg", lat_0="22.01 deg", sigma="6 arcmin"),
                name="crab",
                datasets_names=["d1"],
            ),
            SkyModel(ecpl_linked, point, ExpDecayTemporalModel(t0="2 d"), name="linked"),
            SkyModel(
                lp, disk, GaussianTemporalModel(t_ref=51545.0 * u.d, sigma="0.5 d"), name="lp"
            ),
            SkyModel(
                BrokenPowerLawSpectralModel(index1=1.8, index2=2.9, ebreak="2 TeV"),
                ShellSpatialModel(
                    lon_0="10 deg", lat_0="1 deg", radius="0.3 deg", width="0.1 deg"
                ),
                LinearTemporalModel(alpha=1.0, beta=0.1 / u.d, t_ref=51545.0 * u.d),
                name="bpl",
            ),
            SkyModel(
                SmoothBrokenPowerLawSpectralModel(
                    index1=1.5, index2=3.0, ebreak="1.5 TeV", beta=2
                ),
                Shell2SpatialModel(lon_0="11 deg", lat_0="2 deg", r_0="0.5 deg", eta=0.3),
                PowerLawTemporalModel(alpha=-1.2, t_ref=51544.0 * u.d),
                name="sbpl",
            ),
            SkyModel(
                PowerLaw2SpectralModel(amplitude="1e-11 cm-2 s-1", index=2.2),
                GeneralizedGaussianSpatialModel(
                    lon_0="12 deg", lat_0="3 deg", r_0="0.2 deg", eta=0.6
                ),
                GeneralizedGaussianTemporalModel(
                    t_ref=51545.0 * u.d, t_rise="0.3 d", t_decay="1.2 d", eta=0.7
                ),
                name="pl2",
            ),
            SkyModel(
                SuperExpCutoffPowerLaw4FGLDR3SpectralModel(
                    index_1=1.8, index_2=0.6, expfactor=0.03
                ),
                ConstantSpatialModel(),
                SineTemporalModel(amp=0.3, omega="2 rad d-1", t_ref=51544.5 * u.d),
                name="fgl-dr3",
            ),
            SkyModel(ecpl, name="ecpl-3fgl"),
            SkyModel(SuperExpCutoffPowerLaw3FGLSpectralModel(index_1=1.7), name="secpl-3fgl"),
            SkyModel(SuperExpCutoffPowerLaw4FGLSpectralModel(index_1=1.6), name="secpl-4fgl"),
            SkyModel(GaussianSpectralModel(mean="2 TeV", sigma="0.5 TeV"), name="gauss-spec"),
            SkyModel(ConstantSpectralModel(const="2e-12 cm-2 s-1 TeV-1"), name="const-spec"),
            SkyModel(piecewise * PowerLawSpectralModel(), name="piecewise"),
            SkyModel(
                PowerLawSpectralModel()
                * ExpCutoffPowerLawNormSpectralModel(lambda_="0.1 TeV-1")
                * LogParabolaNormSpectralModel(alpha=0.1)
                * PowerLawNormSpectralModel(tilt=0.1),
                name="norms",
            ),
            SkyModel(
                CompoundSpectralModel(PowerLawSpectralModel(), lp.copy(), np.add), name="sum"
            ),
            SkyModel(PowerLawSpectralModel() * ebl, name="ebl"),
            SkyModel(spectral_template, template, light_curve, name="templates"),
            bkg,
        ]
    )


def canonical(parameter) -> float:
    """A parameter value in gammaxr's canonical unit."""
    for unit in CANONICAL:
        if parameter.unit.is_equivalent(unit):
            return float(parameter.quantity.to_value(unit))
    return float(parameter.value)


def finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def describe(models: Models) -> dict:
    """Parameters and model values of every component, as Gammapy reads them."""
    out = {}
    for model in models:
        entry: dict = {"parameters": {}, "values": {}}
        components = {
            "spectral": model.spectral_model,
            "spatial": getattr(model, "spatial_model", None),
            "temporal": getattr(model, "temporal_model", None),
        }
        for component, sub in components.items():
            if sub is None:
                continue
            for name, parameter in zip(sub.parameters_unique_names, sub.parameters, strict=True):
                factor = canonical(parameter) / parameter.value if parameter.value else 1
                entry["parameters"][f"{component}.{name}"] = {
                    "value": canonical(parameter),
                    "frozen": bool(parameter.frozen),
                    "min": finite(parameter.min * factor),
                    "max": finite(parameter.max * factor),
                    "error": float(parameter.error * factor),
                    "link": parameter._link_label_io or "",
                }
        spectral = components["spectral"]
        values = spectral(ENERGIES * u.TeV)
        unit = "" if values.unit.is_equivalent(u.one) else "cm-2 s-1 TeV-1"
        entry["values"]["spectral"] = values.to_value(unit).tolist()
        spatial = components["spatial"]
        if spatial is not None and spatial.tag[0] != "PointSpatialModel":
            lon0, lat0 = 0.0, 0.0
            if "lon_0" in spatial.parameters.names:
                lon0 = spatial.lon_0.quantity.to_value("deg")
                lat0 = spatial.lat_0.quantity.to_value("deg")
            lon = lon0 + np.array([0.0, 0.05, -0.11, 0.23])
            lat = lat0 + np.array([0.0, 0.07, 0.13, -0.02])
            entry["values"]["spatial"] = {
                "lon": lon.tolist(),
                "lat": lat.tolist(),
                "value": spatial(lon * u.deg, lat * u.deg).to_value("sr-1").tolist(),
            }
        temporal = components["temporal"]
        if temporal is not None:
            times = Time(TIMES, format="mjd", scale="utc")
            entry["values"]["temporal"] = {
                "time": TIMES,
                "value": np.asarray(u.Quantity(temporal(times)).to_value("")).ravel().tolist(),
            }
        out[model.name] = entry
    return out


def main() -> None:
    models = make_models()
    models.write(YAML, overwrite=True, overwrite_templates=True, write_covariance=False)
    YAML.write_text(HEADER + YAML.read_text().replace(f"{HERE}/", ""))
    back = Models.read(YAML)
    EXPECTED.write_text(json.dumps(describe(back), indent=1) + "\n")
    print(f"wrote {YAML.name}, {MAP.name}, {LIGHT_CURVE.name}, {EXPECTED.name}")


if __name__ == "__main__":
    main()
