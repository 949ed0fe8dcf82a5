"""Model files in the Gammapy YAML layout: round trips, Gammapy-written files, errors.

The files under ``data/gammapy_*`` were written by Gammapy 2.1
(``benchmarks/gammapy_fixtures/make_fixtures.py``);
``benchmarks/gammapy_fixtures/check_models_yaml_gammapy.py`` checks, with Gammapy,
that files written here read back into Gammapy with the same values.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from astropy.io import fits

import gammaxr as gx
from gammaxr.conventions import edges
from gammaxr.exceptions import DataFileError, FormatError, UnitError
from gammaxr.io.models_yaml import (
    ModelsYAMLWarning,
    models_from_dict,
    models_to_dict,
    read_models,
    write_models,
)
from gammaxr.models import (
    MODEL_REGISTRY,
    CompoundSpectralModel,
    EBLAbsorptionNormSpectralModel,
    ExpCutoffPowerLawSpectralModel,
    FoVBackgroundModel,
    GaussianSpatialModel,
    LightCurveTemplateTemporalModel,
    LogParabolaSpectralModel,
    Models,
    ModelTypeError,
    Parameter,
    ParameterError,
    PiecewiseNormSpectralModel,
    PointSpatialModel,
    PowerLawNormSpectralModel,
    PowerLawSpectralModel,
    ScaleSpectralModel,
    SkyModel,
    TemplateSpatialModel,
    TemplateSpectralModel,
)

DATA = Path(__file__).parent / "data"
GAMMAPY_YAML = DATA / "gammapy_models.yaml"


# --------------------------------------------------------------------------------------
# one non-default instance of every registered model type


def varied(p: Parameter, *, link: str = "") -> Parameter:
    """``p`` with every field changed: value, bounds, error, frozen flag (and a link)."""
    value = p.value * 1.1 + 0.05
    if not math.isnan(p.min):
        value = max(value, p.min)
    if not math.isnan(p.max):
        value = min(value, p.max)
    low = p.min if not math.isnan(p.min) else value - abs(value) - 1
    high = p.max if not math.isnan(p.max) else value + abs(value) + 1
    return Parameter(
        p.name, value, p.unit, min=low, max=high, frozen=not p.frozen,
        error=0.01 * abs(value) + 1e-3, link=link, scale=p.scale,
    )  # fmt: skip


def generic(cls, **state):
    params = {
        p.name: varied(p, link="first" if k == 0 else "")
        for k, p in enumerate(cls.parameter_defaults)
    }
    return cls(**state, **params)


def sky_template():
    grid = gx.sky_grid((359.9, 0.3), width=(1.0, 0.6), binsz=0.1, frame="galactic")
    values = np.random.default_rng(1).uniform(1.0, 2.0, grid.shape)
    return grid.copy(data=values)


SPECIAL = {
    "CompoundSpectralModel": lambda: (
        (generic(PowerLawSpectralModel) + LogParabolaSpectralModel())
        * PiecewiseNormSpectralModel([0.1, 1.0, 10.0], [1.0, 1.2, 0.9])
    ),
    "ScaleSpectralModel": lambda: ScaleSpectralModel(
        generic(ExpCutoffPowerLawSpectralModel), norm=varied(Parameter("norm", 1.0))
    ),
    "PiecewiseNormSpectralModel": lambda: PiecewiseNormSpectralModel(
        [0.1, 1.0, 10.0],
        [
            varied(Parameter("n", x), link="n" if k == 1 else "")
            for k, x in enumerate([1, 1.2, 0.9])
        ],
        interp="lin",
    ),
    "TemplateSpectralModel": lambda: TemplateSpectralModel([0.5, 1.0, 3.0], [3e-12, 1e-12, 1e-13]),
    "EBLAbsorptionNormSpectralModel": lambda: EBLAbsorptionNormSpectralModel(
        [0.1, 1.0, 10.0],
        [0.0, 0.5, 1.0],
        [[0.0, 0.1, 0.5], [0.01, 0.4, 2.0], [0.02, 0.9, 4.5]],
        redshift=Parameter("redshift", 0.3, frozen=False, error=0.01),
        alpha_norm=1.2,
    ),
    "TemplateSpatialModel": lambda: TemplateSpatialModel(
        sky_template(), interp="lin", lon_0=Parameter("lon_0", 359.95, "deg", error=0.01)
    ),
    "LightCurveTemplateTemporalModel": lambda: LightCurveTemplateTemporalModel(
        [59000.3, 59001.1, 59003.7],
        [0.5, 1.5, 0.2],
        t_ref=Parameter("t_ref", 59000.1, "d", error=0.1),
        scale="tt",
    ),
}

REGISTERED = [
    pytest.param(kind, cls, id=f"{kind}-{cls.__name__}")
    for kind, registry in sorted(MODEL_REGISTRY.items())
    for cls in dict.fromkeys(registry.values())
]


def make_instance(kind, cls):
    if cls.__name__ in SPECIAL:
        return SPECIAL[cls.__name__]()
    if kind == "spatial":
        return generic(cls, frame="galactic")
    if kind == "temporal":
        return generic(cls, scale="tt")
    return generic(cls)


def wrap(kind, model):
    """A Models collection holding ``model`` in a sky model, plus a background model."""
    if kind == "spectral":
        sky = SkyModel(model, name="src a/b", datasets_names=["d1", "d2"])
    elif kind == "spatial":
        sky = SkyModel(PowerLawSpectralModel(), model, name="src")
    elif kind == "temporal":
        sky = SkyModel(PowerLawSpectralModel(), PointSpatialModel(), model, name="src")
    else:
        raise AssertionError(kind)
    background = FoVBackgroundModel(
        "d1", PowerLawNormSpectralModel(norm=varied(Parameter("n", 1)))
    )
    return Models([sky, background])


def assert_models_equal(actual: Models, expected: Models):
    assert list(actual) == list(expected)
    for name, model in expected.items():
        back = actual[name]
        assert type(back) is type(model)
        assert back.datasets_names == model.datasets_names
        assert back.parameters.keys() == model.parameters.keys()
        for key, p in model.parameters.items():
            assert back.parameters[key] == p, key
        for component, sub in model._components.items():
            other = back._components[component]
            if isinstance(sub, EBLAbsorptionNormSpectralModel) or (
                isinstance(sub, CompoundSpectralModel)
                and isinstance(sub.model2, EBLAbsorptionNormSpectralModel)
            ):
                continue  # written as exp(-tau): compared in test_ebl_inline_round_trip
            assert other == sub, f"{name} {component}"


# --------------------------------------------------------------------------------------
# round trips over the whole registry


@pytest.mark.parametrize("full_output", [False, True], ids=["compact", "full"])
@pytest.mark.parametrize(("kind", "cls"), REGISTERED)
def test_round_trip_every_registered_model(kind, cls, full_output, tmp_path):
    model = make_instance(kind, cls)
    assert type(model) is cls
    models = wrap(kind, model)
    path = tmp_path / "models.yaml"
    text = write_models(models, path, full_output=full_output)
    assert path.read_text() == text
    back = read_models(path)
    assert_models_equal(back, models)
    if not isinstance(model, EBLAbsorptionNormSpectralModel):
        assert back == models
    # and through the dict API (relative template names resolved against `path`)
    data = yaml.safe_load(text)
    assert_models_equal(models_from_dict(data, path=path), models)


def test_every_registered_type_is_covered():
    tags = {cls.__name__ for _, cls, *_ in (p.values for p in REGISTERED)}
    assert set(SPECIAL) <= tags
    for kind, cls in (p.values for p in REGISTERED):
        if cls.__name__ not in SPECIAL:
            # generic types: parameters only (their state is frame or scale)
            assert set(make_instance(kind, cls)._extra_state()) <= {"frame", "scale"}


def test_round_trip_without_files_is_text_only():
    models = Models(
        [
            SkyModel(
                generic(PowerLawSpectralModel),
                GaussianSpatialModel(lon_0=83.6, lat_0=22.0, sigma=0.2, frame="icrs"),
                name="crab",
            ),
            FoVBackgroundModel("d1"),
        ]
    )
    text = write_models(models)
    assert read_models(text) == models
    assert models_from_dict(models_to_dict(models)) == models


def test_ebl_inline_round_trip(tmp_path):
    model = SPECIAL["EBLAbsorptionNormSpectralModel"]()
    models = wrap("spectral", model)
    back = read_models(write_models(models, tmp_path / "m.yaml"))
    ebl = back["src a/b"].spectral
    assert dict(ebl.parameters) == dict(model.parameters)
    # written as absorption factors exp(-tau), as Gammapy does: equal to rounding
    xr.testing.assert_allclose(ebl.table, model.table, rtol=1e-12, atol=1e-15)
    energy = np.geomspace(0.1, 10, 7)
    np.testing.assert_allclose(ebl(energy), model(energy), rtol=1e-13)


def test_links_round_trip_across_models():
    index = Parameter("index", 2.4, min=1, max=4, link="shared")
    models = Models(
        [
            SkyModel(PowerLawSpectralModel(index=index), name="a"),
            SkyModel(ExpCutoffPowerLawSpectralModel(index=index), name="b"),
        ]
    )
    text = write_models(models)
    assert text.count("link: shared") == 2
    back = read_models(text)
    assert back.free_parameters()[0] == ["a.spectral.index", "b.spectral.index"]


# --------------------------------------------------------------------------------------
# the layout written


def test_layout_of_a_sky_model_and_a_background_model():
    pl = PowerLawSpectralModel(
        index=Parameter("index", 2.3, min=1.0, max=5.0, error=0.1, link="index@x")
    )
    models = Models(
        [
            SkyModel(
                pl,
                PointSpatialModel(lon_0=184.5, lat_0=-5.8, frame="galactic"),
                name="crab",
                datasets_names=["d1"],
            ),
            FoVBackgroundModel("d1"),
        ]
    )
    data = yaml.safe_load(write_models(models))
    crab, background = data["components"]
    assert list(crab) == ["name", "type", "datasets_names", "spectral", "spatial"]
    assert crab["type"] == "SkyModel" and crab["datasets_names"] == ["d1"]
    assert crab["spectral"]["parameters"] == [
        {"name": "index", "value": 2.3, "error": 0.1, "min": 1.0, "max": 5.0, "link": "index@x"},
        {"name": "amplitude", "value": 1e-12, "unit": "TeV-1 s-1 cm-2"},
        {"name": "reference", "value": 1.0, "unit": "TeV"},
    ]
    assert crab["spatial"]["frame"] == "galactic"
    assert background == {
        "type": "FoVBackgroundModel",
        "datasets_names": ["d1"],
        "spectral": {
            "type": "PowerLawNormSpectralModel",
            "parameters": [
                {"name": "tilt", "value": 0.0},
                {"name": "norm", "value": 1.0},
                {"name": "reference", "value": 1.0, "unit": "TeV"},
            ],
        },
    }
    assert data["metadata"]["creator"].startswith("gammaxr")


def test_full_output_writes_every_field():
    models = Models([SkyModel(PowerLawSpectralModel(), name="a")])
    index, _, reference = yaml.safe_load(write_models(models, full_output=True))["components"][0][
        "spectral"
    ]["parameters"]
    assert index["unit"] == "" and index["frozen"] is False
    assert math.isnan(index["min"]) and math.isnan(index["max"])
    assert "error" not in index  # not fitted
    assert reference["frozen"] is True


def test_compound_piecewise_and_template_layout():
    spectral = PowerLawSpectralModel() * PiecewiseNormSpectralModel([0.1, 1.0, 10.0], interp="lin")
    models = Models(
        [
            SkyModel(spectral, name="a"),
            SkyModel(TemplateSpectralModel([1.0, 2.0], [1e-12, 1e-13]), name="b"),
        ]
    )
    a, b = yaml.safe_load(write_models(models))["components"]
    compound = a["spectral"]
    assert list(compound) == ["type", "model1", "model2", "operator"]
    assert compound["operator"] == "mul"
    piecewise = compound["model2"]
    assert piecewise["energy"] == {"data": [0.1, 1.0, 10.0], "unit": "TeV"}
    assert piecewise["interp"] == "lin"
    assert [p["name"] for p in piecewise["parameters"]] == ["norm_0", "norm_1", "norm_2"]
    assert b["spectral"]["values"] == {"data": [1e-12, 1e-13], "unit": "TeV-1 s-1 cm-2"}
    assert b["spectral"]["parameters"] == []


def test_template_files_are_written_next_to_the_yaml(tmp_path):
    model = SPECIAL["TemplateSpatialModel"]()
    light_curve = SPECIAL["LightCurveTemplateTemporalModel"]()
    models = Models([SkyModel(PowerLawSpectralModel(), model, light_curve, name="gc/src")])
    data = yaml.safe_load(write_models(models, tmp_path / "fit.yaml"))
    spatial = data["components"][0]["spatial"]
    assert spatial["filename"] == "fit_gc_src_spatial.fits"
    assert spatial["normalize"] is False and spatial["unit"] == "sr-1"
    assert spatial["interp"] == "lin"
    with fits.open(tmp_path / spatial["filename"]) as hdul:
        header = hdul[0].header
        assert (header["CTYPE1"], header["CTYPE2"]) == ("GLON-CAR", "GLAT-CAR")
        assert header["CRVAL2"] == 0.0 and header["CDELT1"] < 0
        assert header["BUNIT"] == "sr-1"
        # lon decreasing along the FITS axis: the first column is the last lon pixel
        np.testing.assert_array_equal(hdul[0].data[:, 0], model.template.to_numpy()[:, -1])
        np.testing.assert_array_equal(hdul["LON_EDGES"].data, edges(model.template, "lon"))
    temporal = data["components"][0]["temporal"]
    assert temporal["filename"] == "fit_gc_src_lightcurve.fits"
    assert temporal["format"] == "table" and temporal["scale"] == "tt"
    with fits.open(tmp_path / temporal["filename"]) as hdul:
        table = hdul[1]
        assert table.header["MJDREFI"] + table.header["MJDREFF"] == pytest.approx(59000.1)
        assert table.header["TIMESYS"] == "tt" and table.columns["TIME"].unit == "d"
        np.testing.assert_allclose(table.data["TIME"], [0.2, 1.0, 3.6], rtol=1e-9)
        np.testing.assert_array_equal(table.data["NORM"], [0.5, 1.5, 0.2])


def test_template_written_as_netcdf(tmp_path):
    model = SPECIAL["TemplateSpatialModel"]()
    models = Models([SkyModel(PowerLawSpectralModel(), model, name="t")])
    text = write_models(models, tmp_path / "m.yaml", template_format="netcdf")
    assert "filename: m_t_spatial.nc" in text
    assert read_models(tmp_path / "m.yaml") == models


def test_irregular_template_needs_netcdf(tmp_path):
    lon = gx.axis_from_edges([0.0, 0.1, 0.3, 0.4], name="lon", units="deg")
    lat = gx.axis_from_edges([0.0, 0.1, 0.2], name="lat", units="deg")
    for axis in (lon, lat):
        axis.coords[axis.name].attrs["frame"] = "icrs"
    template = xr.DataArray(
        np.ones((2, 3)),
        dims=("lat", "lon"),
        coords={**lat.coords, **lon.coords},
        attrs={"frame": "icrs"},
    )
    models = Models([SkyModel(PowerLawSpectralModel(), TemplateSpatialModel(template), name="t")])
    with pytest.raises(FormatError, match="regular lon/lat grid.*netcdf"):
        write_models(models, tmp_path / "m.yaml")
    write_models(models, tmp_path / "m.yaml", template_format="netcdf")
    assert read_models(tmp_path / "m.yaml") == models


def test_templates_need_a_path():
    models = Models(
        [SkyModel(PowerLawSpectralModel(), SPECIAL["TemplateSpatialModel"](), name="t")]
    )
    with pytest.raises(FormatError, match="model 't'.*give the YAML path"):
        write_models(models)


def test_template_format_is_checked():
    with pytest.raises(FormatError, match="template_format"):
        models_to_dict(Models(), template_format="hdf5")


def test_write_rejects_objects_that_are_not_models():
    with pytest.raises(ModelTypeError, match="PowerLawSpectralModel"):
        write_models([PowerLawSpectralModel()])


# --------------------------------------------------------------------------------------
# files written by Gammapy 2.1


@pytest.fixture(scope="module")
def gammapy_models():
    with pytest.warns(ModelsYAMLWarning, match=r"'fgl-dr3' spatial.*\['value'\]"):
        return read_models(GAMMAPY_YAML)


@pytest.fixture(scope="module")
def gammapy_expected():
    return json.loads((DATA / "gammapy_expected.json").read_text())


def test_gammapy_file_reads_every_component(gammapy_models, gammapy_expected):
    assert list(gammapy_models) == list(gammapy_expected)
    assert isinstance(gammapy_models["d1-bkg"], FoVBackgroundModel)
    assert gammapy_models["crab"].datasets_names == ("d1",)
    assert gammapy_models["lp"].datasets_names is None


def test_gammapy_file_parameters(gammapy_models, gammapy_expected):
    for name, expected in gammapy_expected.items():
        model = gammapy_models[name]
        parameters = model.parameters
        assert list(parameters) == list(expected["parameters"]), name
        for key, want in expected["parameters"].items():
            p = parameters[key]
            where = f"{name}.{key}"
            assert p.value == pytest.approx(want["value"], rel=1e-12), where
            assert p.frozen == want["frozen"], where
            for bound in ("min", "max"):
                got = getattr(p, bound)
                if where == "ebl.spectral.model2.redshift":
                    # gammaxr bounds the redshift by the table's range (Gammapy: unbounded)
                    assert got == {"min": 0.0, "max": 1.0}[bound]
                elif want[bound] is None:
                    assert math.isnan(got), where
                else:
                    assert got == pytest.approx(want[bound], rel=1e-12), where
            if want["error"] == 0:  # Gammapy's "not fitted"
                assert math.isnan(p.error), where
            else:
                assert p.error == pytest.approx(want["error"], rel=1e-12), where
            assert p.link == want["link"], where


def test_gammapy_file_units_are_converted(gammapy_models):
    # written by Gammapy as 6 arcmin, 2e-12 erg-1 cm-2 s-1 and 18 arcmin
    assert gammapy_models["crab"].spatial.parameters["sigma"].value == pytest.approx(0.1)
    lp = gammapy_models["lp"]
    amplitude = lp.spectral.parameters["amplitude"]
    assert amplitude.unit == "cm-2 s-1 TeV-1"
    assert amplitude.value == pytest.approx(2e-12 * 1.602176634, rel=1e-12)
    assert lp.spatial.parameters["r_0"].value == pytest.approx(0.3)


def test_gammapy_file_links(gammapy_models):
    crab = gammapy_models["crab"].spectral.parameters["index"]
    linked = gammapy_models["linked"].spectral.parameters["index"]
    assert crab.link and crab.link == linked.link and crab.link.startswith("index@")
    groups = gammapy_models.free_parameters()
    assert ["crab.spectral.index", "linked.spectral.index"] in groups


def test_gammapy_file_model_values(gammapy_models, gammapy_expected):
    energy = np.array([0.3, 1.0, 3.0, 10.0])
    for name, expected in gammapy_expected.items():
        model = gammapy_models[name]
        values = expected["values"]
        np.testing.assert_allclose(
            model.spectral(energy), values["spectral"], rtol=1e-9, err_msg=name
        )
        if "spatial" in values:
            want = values["spatial"]
            got = model.spatial(np.array(want["lon"]), np.array(want["lat"]))
            # a template is normalised with pixel solid angles: gammaxr's are exact,
            # Gammapy's differ by 2.5e-7 (relative) on these 0.1 deg pixels
            rtol = 1e-6 if name == "templates" else 1e-9
            np.testing.assert_allclose(got, want["value"], rtol=rtol, err_msg=name)
        if "temporal" in values:
            want = values["temporal"]
            got = model.temporal(np.array(want["time"]))
            np.testing.assert_allclose(got, want["value"], rtol=1e-9, atol=1e-12, err_msg=name)


def test_gammapy_templates(gammapy_models):
    templates = gammapy_models["templates"]
    spatial, temporal = templates.spatial, templates.temporal
    assert spatial.frame == "galactic" and spatial.normalize
    assert Path(spatial.filename).name == "gammapy_template_map.fits"
    lon_edges = edges(spatial.template, "lon")
    np.testing.assert_allclose(lon_edges[[0, -1]], [-0.6, 0.6], atol=1e-12)
    np.testing.assert_allclose(temporal.time, [59000.5, 59001.5, 59002.5, 59004.0])
    np.testing.assert_array_equal(temporal.norm, [0.5, 1.0, 2.0, 1.0])
    assert temporal.parameters["t_ref"].value == 59000.5


def test_gammapy_file_round_trips_through_gammaxr(gammapy_models, tmp_path):
    write_models(gammapy_models, tmp_path / "again.yaml")
    assert_models_equal(read_models(tmp_path / "again.yaml"), gammapy_models)


def test_relative_template_names_resolve_against_the_yaml_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.warns(ModelsYAMLWarning):
        models = read_models(str(GAMMAPY_YAML))
    assert Path(models["templates"].spatial.filename).parent == DATA


# --------------------------------------------------------------------------------------
# reading details


def crab_yaml(**spectral_changes) -> str:
    spectral = {
        "type": "PowerLawSpectralModel",
        "parameters": [
            {"name": "index", "value": 2.6},
            {"name": "amplitude", "value": 3.5e-11, "unit": "TeV-1 s-1 cm-2"},
            {"name": "reference", "value": 1.0, "unit": "TeV"},
        ],
    }
    spectral.update(spectral_changes)
    return yaml.safe_dump(
        {"components": [{"name": "crab", "type": "SkyModel", "spectral": spectral}]}
    )


def with_parameter(parameter, **fields):
    data = yaml.safe_load(crab_yaml())
    for entry in data["components"][0]["spectral"]["parameters"]:
        if entry["name"] == parameter:
            entry.update(fields)
    return data


def test_units_are_converted_to_the_canonical_unit():
    data = yaml.safe_load(crab_yaml())
    parameters = data["components"][0]["spectral"]["parameters"]
    parameters[1].update(value=3.5e-10, unit="1 / (GeV s m2)", min=0.0, max=1e-8, error=1e-11)
    parameters[2].update(value=1000.0, unit="GeV")
    crab = models_from_dict(data)["crab"].spectral
    amplitude = crab.parameters["amplitude"]
    assert amplitude.unit == "cm-2 s-1 TeV-1"
    assert amplitude.value == pytest.approx(3.5e-11, rel=1e-12)
    assert amplitude.max == pytest.approx(1e-9, rel=1e-12)
    assert amplitude.error == pytest.approx(1e-12, rel=1e-12)
    assert amplitude.scale == PowerLawSpectralModel.parameter_defaults[1].scale
    assert crab.parameters["reference"].value == pytest.approx(1.0, rel=1e-15)


def test_short_tags_aliases_and_extra_keys_are_accepted():
    data = yaml.safe_load(crab_yaml(type="pl"))
    data["components"].append(
        {"type": "fov-bkg", "datasets_names": ["d1"], "spectral": {"type": "pl-norm"}}
    )
    data["components"][0]["type"] = "sky-model"
    data["covariance"] = "models_covariance.dat"  # Gammapy's: not read
    data["metadata"] = {"creator": "Gammapy 2.1"}
    data["components"][0]["spectral"]["parameters"][0].update(
        interp="lin", scale_method="scale10", is_norm=False
    )
    with pytest.warns(ModelsYAMLWarning, match="tilt"):  # pl-norm without parameters
        models = models_from_dict(data)
    assert isinstance(models["crab"].spectral, PowerLawSpectralModel)
    assert models["d1-bkg"].spectral == PowerLawNormSpectralModel()


def test_numeric_strings_and_old_factor_scale_values():
    data = yaml.safe_load(crab_yaml())
    index, amplitude, _ = data["components"][0]["spectral"]["parameters"]
    index["value"] = "2.5"
    del amplitude["value"]
    amplitude.update(factor=3.5, scale=1e-11)
    crab = models_from_dict(data)["crab"].spectral
    assert crab.parameters["index"].value == 2.5
    assert crab.parameters["amplitude"].value == pytest.approx(3.5e-11)


def test_missing_parameters_take_defaults_with_a_warning():
    data = yaml.safe_load(crab_yaml())
    del data["components"][0]["spectral"]["parameters"][0]
    with pytest.warns(
        ModelsYAMLWarning, match=r"component 'crab' spectral.*\['index'\].*defaults"
    ):
        models = models_from_dict(data)
    assert (
        models["crab"].spectral.parameters["index"] == PowerLawSpectralModel.parameter_defaults[0]
    )


def test_missing_value_takes_the_default_with_a_warning():
    data = yaml.safe_load(crab_yaml())
    del data["components"][0]["spectral"]["parameters"][0]["value"]
    with pytest.warns(ModelsYAMLWarning, match="no 'value'"):
        models = models_from_dict(data)
    assert models["crab"].spectral.parameters["index"].value == 2.0


def test_priors_are_ignored_with_a_warning():
    data = with_parameter("index", prior={"type": "GaussianPrior"})
    with pytest.warns(ModelsYAMLWarning, match="prior is ignored"):
        models_from_dict(data)


def test_read_models_takes_paths_and_text(tmp_path):
    path = tmp_path / "crab.yaml"
    path.write_text(crab_yaml())
    expected = read_models(crab_yaml())
    assert read_models(path) == expected
    assert read_models(str(path)) == expected
    assert read_models("components: []") == Models()


def test_ebl_from_a_file(tmp_path, monkeypatch):
    energy_edges = np.array([0.05, 0.2, 1.0, 5.0, 20.0]) * 1e9  # keV
    redshifts = np.array([0.0, 0.5, 1.0])
    absorption = np.exp(-np.outer(redshifts, [0.01, 0.2, 1.5, 4.0]))
    parameters = fits.BinTableHDU.from_columns(
        [fits.Column(name="VALUE", format="3D", array=redshifts[None, :])], name="PARAMETERS"
    )
    energies = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="ENERG_LO", format="D", unit="keV", array=energy_edges[:-1]),
            fits.Column(name="ENERG_HI", format="D", unit="keV", array=energy_edges[1:]),
        ],
        name="ENERGIES",
    )
    spectra = fits.BinTableHDU.from_columns(
        [fits.Column(name="INTPSPEC", format="4D", array=absorption)], name="SPECTRA"
    )
    (tmp_path / "ebl").mkdir()
    fits.HDUList([fits.PrimaryHDU(), parameters, energies, spectra]).writeto(
        tmp_path / "ebl" / "my_ebl.fits"
    )
    monkeypatch.setenv("MY_EBL_DIR", str(tmp_path / "ebl"))
    data = yaml.safe_load(crab_yaml())
    data["components"][0]["spectral"] = {
        "type": "CompoundSpectralModel",
        "model1": data["components"][0]["spectral"],
        "model2": {
            "type": "EBLAbsorptionNormSpectralModel",
            "parameters": [{"name": "redshift", "value": 0.4}, {"name": "alpha_norm", "value": 1}],
            "filename": "$MY_EBL_DIR/my_ebl.fits",
        },
        "operator": "mul",
    }
    models = models_from_dict(data)
    ebl = models["crab"].spectral.model2
    assert ebl.parameters["redshift"].value == 0.4
    np.testing.assert_allclose(ebl.table.sel(redshift=0.5), [0.005, 0.1, 0.75, 2.0], rtol=1e-12)
    # written back with the same reference, not inline
    written = models_to_dict(models)["components"][0]["spectral"]["model2"]
    assert written["filename"] == "$MY_EBL_DIR/my_ebl.fits" and "values" not in written
    assert models_from_dict(models_to_dict(models)) == models


# --------------------------------------------------------------------------------------
# errors


def test_unknown_component_type():
    text = "components:\n- {name: x, type: TemplateNPredModel, filename: x.fits}\n"
    with pytest.raises(ModelTypeError, match=r"component 'x'.*'TemplateNPredModel'.*SkyModel"):
        read_models(text)


def test_unknown_model_type_names_the_component_and_lists_types():
    with pytest.raises(
        ModelTypeError,
        match=r"component 'crab' spectral: unknown spectral model type 'NaimaSpectralModel'; "
        r"the known types are \[.*'PowerLawSpectralModel'",
    ):
        read_models(crab_yaml(type="NaimaSpectralModel"))
    data = yaml.safe_load(crab_yaml())
    data["components"][0]["spatial"] = {"type": "PiecewiseNormSpatialModel", "parameters": []}
    with pytest.raises(ModelTypeError, match="unknown spatial model type.*'GaussianSpatialModel'"):
        models_from_dict(data)


def test_unknown_and_duplicated_parameters():
    data = with_parameter("index", name="indx")
    with pytest.raises(ParameterError, match=r"unknown parameters \['indx'\]; the model has"):
        models_from_dict(data)
    data = yaml.safe_load(crab_yaml())
    parameters = data["components"][0]["spectral"]["parameters"]
    parameters.append(dict(parameters[0]))
    with pytest.raises(ParameterError, match="'index' is given twice"):
        models_from_dict(data)


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"unit": "deg"}, UnitError, r"parameter 'amplitude': unit 'deg' is not convertible"),
        ({"unit": "furlongs"}, UnitError, r"parameter 'amplitude': cannot parse unit 'furlongs'"),
        ({"value": "big"}, ParameterError, r"parameter 'amplitude'.*value must be a number"),
        ({"value": None}, ParameterError, r"parameter 'amplitude'.*value must be a number"),
        (
            {"frozen": "yes"},
            ParameterError,
            r"parameter 'amplitude'.*frozen must be true or false",
        ),
        ({"link": 3}, ParameterError, r"parameter 'amplitude'.*link must be a label"),
        ({"min": 1e-10}, ParameterError, r"'amplitude'.*below its minimum"),
    ],
)
def test_bad_parameter_entries(fields, error, match):
    with pytest.raises(error, match=match):
        models_from_dict(with_parameter("amplitude", **fields))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("components: [\n", r"not valid YAML.*line \d+, column \d+"),
        ("- a\n- b\n", "expected a mapping with a 'components' list, got list"),
        ("models: []\n", "found no 'components'"),
        ("components: {a: 1}\n", "expected a 'components' list"),
        ("components:\n- 3\n", "component #0: must be a mapping"),
        ("components:\n- {name: a}\n", "component 'a': has no 'type'"),
        ("components:\n- {type: SkyModel}\n", "needs a non-empty 'name'"),
        ("components:\n- {name: a, type: SkyModel}\n", "needs a 'spectral' model"),
        ("components:\n- {name: a, type: SkyModel, spectral: pl}\n", "must be a mapping"),
        (
            "components:\n- {name: a, type: SkyModel, spectral: {parameters: []}}\n",
            "spectral: has no 'type'",
        ),
        (
            "components:\n- {type: FoVBackgroundModel}\n",
            "needs exactly one dataset in 'datasets_names'",
        ),
        (
            "components:\n- {type: FoVBackgroundModel, datasets_names: [a, b]}\n",
            "needs exactly one dataset",
        ),
        (
            "components:\n- {type: FoVBackgroundModel, datasets_names: [a], "
            "spatial: {type: ConstantSpatialModel}}\n",
            "spatial model are not supported",
        ),
        (
            "components:\n- {name: a, type: SkyModel, datasets_names: [1],"
            " spectral: {type: pl}}\n",
            "datasets_names must be a list of names",
        ),
        (
            "components:\n- {name: a, type: SkyModel, apply_irf: {psf: false},"
            " spectral: {type: pl}}\n",
            "apply_irf .* is not supported",
        ),
        (
            "components:\n- {name: a, type: SkyModel, spectral: {type: pl, parameters: {}}}\n",
            "'parameters' must be a list",
        ),
        (
            "components:\n- {name: a, type: SkyModel, spectral: {type: pl, parameters: [3]}}\n",
            r"parameter #0 must be a mapping with a 'name'",
        ),
    ],
)
def test_malformed_files(text, match):
    with pytest.raises(FormatError, match=match):
        read_models(text)


def test_error_messages_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(crab_yaml(type="NoSuchModel"))
    with pytest.raises(ModelTypeError, match=r"bad\.yaml: component 'crab' spectral"):
        read_models(path)
    with pytest.raises(DataFileError, match="does not exist"):
        read_models(tmp_path / "missing.yaml")
    with pytest.raises(TypeError):
        read_models(3)


def test_duplicate_model_names():
    text = crab_yaml()
    data = yaml.safe_load(text)
    data["components"].append(data["components"][0])
    with pytest.raises(ParameterError, match="duplicate model names"):
        models_from_dict(data)


def test_compound_and_scale_errors():
    data = yaml.safe_load(crab_yaml())
    pl = data["components"][0]["spectral"]
    data["components"][0]["spectral"] = {"type": "CompoundSpectralModel", "model1": pl}
    with pytest.raises(FormatError, match=r"spectral \(CompoundSpectralModel\): needs 'model2'"):
        models_from_dict(data)
    data["components"][0]["spectral"].update(model2=pl, operator="truediv")
    with pytest.raises(Exception, match=r"CompoundSpectralModel.*operator 'truediv'") as info:
        models_from_dict(data)
    assert isinstance(info.value, gx.GammaxrError)
    data["components"][0]["spectral"] = {
        "type": "ScaleSpectralModel",
        "parameters": [{"name": "norm", "value": 2.0}],
    }
    with pytest.raises(FormatError, match="wrapped spectral model under 'model'"):
        models_from_dict(data)


def test_template_errors(tmp_path):
    spatial = {"type": "TemplateSpatialModel", "filename": "nowhere.fits"}
    data = yaml.safe_load(crab_yaml())
    data["components"][0]["spatial"] = spatial
    with pytest.raises(
        DataFileError, match=r"spatial \(TemplateSpatialModel\): file 'nowhere.fits'"
    ):
        models_from_dict(data, path=tmp_path / "m.yaml")

    # an oblique CAR map (Gammapy's WcsGeom.create away from the equator)
    header = fits.Header(
        {
            "CTYPE1": "RA---CAR", "CTYPE2": "DEC--CAR", "CRVAL1": 83.6, "CRVAL2": 22.0,
            "CRPIX1": 3.0, "CRPIX2": 3.0, "CDELT1": -0.1, "CDELT2": 0.1,
        }
    )  # fmt: skip
    fits.PrimaryHDU(np.ones((5, 5)), header).writeto(tmp_path / "oblique.fits")
    spatial["filename"] = "oblique.fits"
    with pytest.raises(FormatError, match=r"oblique.fits: .*CRVAL2 = 22.0.*reproject"):
        models_from_dict(data, path=tmp_path / "m.yaml")

    header.update(CRVAL2=0.0, CTYPE1="RA---TAN", CTYPE2="DEC--TAN")
    fits.PrimaryHDU(np.ones((5, 5)), header).writeto(tmp_path / "tan.fits")
    spatial["filename"] = "tan.fits"
    with pytest.raises(FormatError, match="projection .* is not supported"):
        models_from_dict(data, path=tmp_path / "m.yaml")

    header.update(CTYPE1="RA---CAR", CTYPE2="DEC--CAR")
    fits.PrimaryHDU(np.ones((3, 5, 5)), header).writeto(tmp_path / "cube.fits")
    spatial["filename"] = "cube.fits"
    with pytest.raises(FormatError, match="energy-dependent spatial templates"):
        models_from_dict(data, path=tmp_path / "m.yaml")

    (tmp_path / "text.fits").write_text("not fits")
    spatial["filename"] = "text.fits"
    with pytest.raises(FormatError, match="not a FITS file"):
        models_from_dict(data, path=tmp_path / "m.yaml")


def test_light_curve_errors(tmp_path):
    temporal = {
        "type": "LightCurveTemplateTemporalModel",
        "filename": str(DATA / "gammapy_lightcurve.fits"),
    }
    data = yaml.safe_load(crab_yaml())
    data["components"][0]["temporal"] = temporal
    model = models_from_dict(data)["crab"].temporal
    assert model.parameters["t_ref"].value == 59000.5  # from MJDREFI + MJDREFF
    temporal["format"] = "map"
    with pytest.raises(FormatError, match="format 'map'.*not supported"):
        models_from_dict(data)
    temporal["format"] = "table"
    table = fits.BinTableHDU.from_columns([fits.Column(name="TIME", format="D", array=[0.0, 1.0])])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "lc.fits")
    temporal["filename"] = str(tmp_path / "lc.fits")
    with pytest.raises(FormatError, match="no table with TIME and NORM"):
        models_from_dict(data)


def test_light_curve_reference_in_another_time_scale(tmp_path):
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="TIME", format="D", unit="s", array=[0.0, 86400.0, 172800.0]),
            fits.Column(name="NORM", format="D", array=[1.0, 2.0, 1.0]),
        ]
    )
    table.header.update(MJDREFI=59000, MJDREFF=0.25, TIMESYS="TT")
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "lc.fits")
    data = yaml.safe_load(crab_yaml())
    data["components"][0]["temporal"] = {
        "type": "LightCurveTemplateTemporalModel",
        "filename": "lc.fits",
        "scale": "utc",
    }
    model = models_from_dict(data, path=tmp_path / "m.yaml")["crab"].temporal
    t_ref = model.parameters["t_ref"].value
    assert t_ref == pytest.approx(59000.25 - 69.184 / 86400, abs=1e-9)  # TT - UTC = 69.184 s
    np.testing.assert_allclose(model.time - t_ref, [0.0, 1.0, 2.0], atol=1e-9)


def sky_fits(tmp_path, name, data, **header):
    cards = {
        "CTYPE1": "GLON-CAR", "CTYPE2": "GLAT-CAR", "CRVAL1": 10.0, "CRVAL2": 0.0,
        "CRPIX1": 1.0, "CRPIX2": 1.0, "CDELT1": 0.5, "CDELT2": 0.5,
    }  # fmt: skip
    cards.update(header)
    fits.PrimaryHDU(np.asarray(data, dtype=float), fits.Header(cards)).writeto(tmp_path / name)
    frame = {"type": "TemplateSpatialModel", "filename": name, "normalize": False}
    parsed = yaml.safe_load(crab_yaml())
    parsed["components"][0]["spatial"] = frame
    return parsed


def test_fits_template_orientation_and_default_unit(tmp_path):
    # lon increasing along the FITS axis (as in Fermi's diffuse maps), no BUNIT: sr-1
    values = np.arange(1.0, 7.0).reshape(2, 3)
    data = sky_fits(tmp_path, "up.fits", values)
    with pytest.warns(ModelsYAMLWarning, match="lon_0"):
        spatial = models_from_dict(data, path=tmp_path / "m.yaml")["crab"].spatial
    np.testing.assert_allclose(edges(spatial.template, "lon"), [9.75, 10.25, 10.75, 11.25])
    np.testing.assert_allclose(edges(spatial.template, "lat"), [-0.25, 0.25, 0.75])
    np.testing.assert_array_equal(spatial.template.to_numpy(), values)
    assert spatial.frame == "galactic" and not spatial.normalize
    # the same map stored lon-decreasing, as most tools write it
    data = sky_fits(tmp_path, "down.fits", values[:, ::-1], CDELT1=-0.5, CRPIX1=3.0)
    with pytest.warns(ModelsYAMLWarning):
        flipped = models_from_dict(data, path=tmp_path / "m.yaml")["crab"].spatial
    assert flipped == spatial


def test_exact_edge_hdus_must_match_the_wcs(tmp_path):
    data = sky_fits(tmp_path, "map.fits", np.ones((2, 3)))
    with fits.open(tmp_path / "map.fits") as hdul:
        extra = [
            fits.ImageHDU(np.array([9.75, 10.25, 10.75, 11.5]), name="LON_EDGES"),
            fits.ImageHDU(np.array([-0.25, 0.25, 0.75]), name="LAT_EDGES"),
        ]
        fits.HDUList([hdul[0].copy(), *extra]).writeto(tmp_path / "map.fits", overwrite=True)
    with pytest.raises(FormatError, match="LON_EDGES does not match the WCS"):
        models_from_dict(data, path=tmp_path / "m.yaml")
