import numpy as np
import pytest

from gammaxr.models import (
    FoVBackgroundModel,
    GaussianSpatialModel,
    Models,
    Parameter,
    ParameterError,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)


def crab(name="crab", index=2.5):
    return SkyModel(
        PowerLawSpectralModel(index=index, amplitude=3e-11),
        PointSpatialModel(lon_0=83.63, lat_0=22.01),
        name=name,
    )


def test_sky_model_parameters_are_prefixed_by_component():
    model = crab()
    names = list(model.parameters)
    assert "spectral.index" in names and "spatial.lon_0" in names
    assert model.parameters["spectral.index"].value == 2.5
    changed = model.with_parameters(**{"spectral.index": 2.7, "spatial.lat_0": 22.02})
    assert changed.spectral.parameters["index"].value == 2.7
    assert changed.spatial.parameters["lat_0"].value == 22.02
    assert model.spectral.parameters["index"].value == 2.5  # unchanged
    assert changed.name == "crab"
    with pytest.raises(ParameterError, match="no parameter 'temporal.x'"):
        model.with_parameters(**{"temporal.x": 1})


def test_sky_model_validates_components():
    with pytest.raises(ParameterError, match="SpectralModel"):
        SkyModel(PointSpatialModel())
    with pytest.raises(ParameterError, match="SpatialModel"):
        SkyModel(PowerLawSpectralModel(), PowerLawSpectralModel())


def test_background_model_is_a_norm():
    bkg = FoVBackgroundModel("run-1")
    assert bkg.name == "run-1-bkg"
    assert bkg.datasets_names == ("run-1",)
    assert bkg.parameters["spectral.norm"].value == 1.0
    assert bkg.parameters["spectral.tilt"].frozen
    with pytest.raises(ParameterError, match="norm model"):
        FoVBackgroundModel("run-1", PowerLawSpectralModel())


def test_models_collection_names_dataframe_and_changes():
    models = Models([crab(), FoVBackgroundModel("run-1")])
    assert list(models) == ["crab", "run-1-bkg"]
    frame = models.to_dataframe()
    assert frame.loc["crab.spectral.index", "value"] == 2.5
    assert frame.loc["run-1-bkg.spectral.norm", "value"] == 1.0
    changed = models.with_parameters(**{"run-1-bkg.spectral.norm": 1.1})
    assert changed["run-1-bkg"].parameters["spectral.norm"].value == 1.1
    assert models["run-1-bkg"].parameters["spectral.norm"].value == 1.0
    with pytest.raises(ParameterError, match="duplicate model names"):
        Models([crab(), crab()])
    with pytest.raises(ParameterError, match="no model"):
        models["nope"]
    assert "crab" in models and "nope" not in models


def test_models_for_dataset_and_free_parameter_groups_follow_links():
    shared = Parameter("index", 2.4, link="gamma")
    a = SkyModel(PowerLawSpectralModel(index=shared), name="a")
    b = SkyModel(PowerLawSpectralModel(index=shared), name="b", datasets_names=["d2"])
    models = Models([a, b, FoVBackgroundModel("d1")])
    assert list(models.for_dataset("d1")) == ["a", "d1-bkg"]
    assert list(models.for_dataset("d2")) == ["a", "b"]
    groups = models.free_parameters()
    assert ["a.spectral.index", "b.spectral.index"] in groups
    assert ["a.spectral.amplitude"] in groups
    assert all("reference" not in name for group in groups for name in group)
    values = np.array([models.parameters[g[0]].value for g in groups])
    values[groups.index(["a.spectral.index", "b.spectral.index"])] = 3.0
    changed = models.with_values(groups, values)
    assert changed["a"].parameters["spectral.index"].value == 3.0
    assert changed["b"].parameters["spectral.index"].value == 3.0
    # Setting one linked parameter by name sets its partners.
    linked = models.with_parameters(**{"a.spectral.index": 2.9})
    assert linked["b"].parameters["spectral.index"].value == 2.9
    with pytest.raises(ParameterError, match="values for"):
        models.with_values(groups, values[:-1])


def test_equality_and_extended_sources():
    assert crab() == crab()
    assert crab() != crab(index=2.6)
    ext = SkyModel(PowerLawSpectralModel(), GaussianSpatialModel(sigma=0.2), name="ext")
    assert ext.parameters["spatial.sigma"].value == pytest.approx(0.2)
    assert (Models([crab()]) + [ext]).__len__() == 2


def test_models_with_dotted_names_and_cached_parameters():
    a = SkyModel(PowerLawSpectralModel(), name="src")
    b = SkyModel(PowerLawSpectralModel(index=3.0), name="src.b")
    models = Models([a, b, FoVBackgroundModel("run.1")])
    assert models.parameters is models.parameters  # built once: the collection never changes
    changed = models.with_parameters(
        **{"src.b.spectral.index": 2.2, "src.spectral.index": 2.1, "run.1-bkg.spectral.norm": 0.9}
    )
    assert changed["src"].parameters["spectral.index"].value == 2.1
    assert changed["src.b"].parameters["spectral.index"].value == 2.2
    assert changed["run.1-bkg"].parameters["spectral.norm"].value == 0.9
    assert models["src.b"].parameters["spectral.index"].value == 3.0
    assert changed.parameters["src.b.spectral.index"].value == 2.2
