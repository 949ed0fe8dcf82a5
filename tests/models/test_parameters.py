import math

import astropy.units as u
import numpy as np
import pytest

from gammaxr.exceptions import UnitError
from gammaxr.models import Model, ModelTypeError, Parameter, ParameterError, register_model


class Line(Model):
    tags = ("TestLineModel",)
    parameter_defaults = (
        Parameter("slope", 2.0, ""),
        Parameter("offset", 1.0, "TeV", min=0, max=10),
    )

    @staticmethod
    def evaluate(x, slope, offset):
        return slope * x + offset


def test_parameter_checks_bounds_units_and_scale():
    with pytest.raises(ParameterError, match="below its minimum"):
        Parameter("a", -1, min=0)
    with pytest.raises(ParameterError, match="above its maximum"):
        Parameter("a", 2, max=1)
    with pytest.raises(ParameterError, match="finite"):
        Parameter("a", math.inf)
    with pytest.raises(ParameterError, match="cannot parse unit"):
        Parameter("a", 1, unit="parsecs per banana")
    with pytest.raises(ParameterError, match="scale"):
        Parameter("a", 1, scale=0)


def test_parameter_unit_conversion():
    p = Parameter("amplitude", 1e-12, "cm-2 s-1 TeV-1", error=1e-13, min=0)
    assert p.to_value("m-2 s-1 TeV-1") == pytest.approx(1e-8)
    q = p.with_unit("cm-2 s-1 GeV-1")
    assert q.value == pytest.approx(1e-15)
    assert q.error == pytest.approx(1e-16)
    assert p.with_value(2e-8 * u.Unit("m-2 s-1 TeV-1")).value == pytest.approx(2e-12)
    with pytest.raises(UnitError, match="amplitude"):
        p.to_value("deg")
    with pytest.raises(UnitError, match="amplitude"):
        p.with_value(1 * u.deg)


def test_parameters_mapping_and_dataframe():
    params = Line(slope=3.0).parameters
    assert list(params) == ["slope", "offset"]
    np.testing.assert_allclose(params.to_array(), [3.0, 1.0])
    frame = params.to_dataframe()
    assert frame.loc["offset", "unit"] == "TeV"
    assert frame.loc["offset", "max"] == 10
    with pytest.raises(ParameterError, match="no parameter 'nope'"):
        params["nope"]
    with pytest.raises(ParameterError, match="duplicate"):
        type(params)([Parameter("a", 1), Parameter("a", 2)])


def test_model_is_immutable_and_copies_on_change():
    model = Line(offset=2 * u.TeV)
    changed = model.with_parameters(slope=5.0)
    assert model.parameters["slope"].value == 2.0
    assert changed.parameters["slope"].value == 5.0
    assert changed.parameters["offset"].value == 2.0
    assert Line(offset=2000 * u.GeV).parameters["offset"].value == pytest.approx(2.0)
    assert Line(offset=Parameter("offset", 3000, "GeV", frozen=True)).parameters[
        "offset"
    ].value == pytest.approx(3.0)
    assert Line.evaluate(2.0, **model.parameter_values()) == 6.0
    with pytest.raises(ParameterError, match="unknown parameters"):
        Line(intercept=1)
    with pytest.raises(ParameterError, match="unknown parameter"):
        model.with_parameters(intercept=1)
    assert model == Line(offset=2.0)
    assert model != changed


def test_registry_rejects_duplicate_tags():
    register_model("test")(Line)
    register_model("test")(Line)  # same class twice is fine

    class Other(Line):
        pass

    with pytest.raises(ModelTypeError, match="already used"):
        register_model("test")(Other)


def test_with_value_checks_the_new_value_and_keeps_the_rest():
    p = Parameter("offset", 1.0, "TeV", min=0, max=10, error=0.1, link="x", scale=2.0)
    q = p.with_value(np.float64(3.5))
    assert q == Parameter("offset", 3.5, "TeV", min=0, max=10, error=0.1, link="x", scale=2.0)
    assert type(q.value) is float and p.value == 1.0
    with pytest.raises(ParameterError, match="above its maximum 10.0"):
        p.with_value(11.0)
    with pytest.raises(ParameterError, match="below its minimum"):
        p.with_value(-1.0)
    with pytest.raises(ParameterError, match="finite"):
        p.with_value(math.nan)
    unbounded = Parameter("index", 2.0)
    assert unbounded.with_value(-1e300).value == -1e300
    assert p.with_value(2.0, frozen=True).frozen  # other changes: validated as a whole
    renamed = p.with_name("spectral.offset")
    assert renamed.name == "spectral.offset" and renamed.value == 1.0 and renamed.link == "x"
