"""Temporal models: norms, analytic integrals against quadrature, Gammapy's conventions."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.integrate
import xarray as xr

from gammaxr.models import MODEL_REGISTRY, ParameterError
from gammaxr.models.temporal import (
    ConstantTemporalModel,
    ExpDecayTemporalModel,
    GaussianTemporalModel,
    GeneralizedGaussianTemporalModel,
    LightCurveTemplateTemporalModel,
    LinearTemporalModel,
    PowerLawTemporalModel,
    SineTemporalModel,
    TemporalModel,
)

# Gammapy's type names and parameters (name, unit, default, frozen).
GAMMAPY_TEMPORAL = {
    "ConstantTemporalModel": ("const", []),
    "LinearTemporalModel": (
        "linear",
        [("alpha", "", 1, False), ("beta", "d-1", 0, False), ("t_ref", "d", 51544, True)],
    ),
    "ExpDecayTemporalModel": ("exp-decay", [("t0", "d", 1, False), ("t_ref", "d", 51544, True)]),
    "GaussianTemporalModel": ("gauss", [("t_ref", "d", 51544, False), ("sigma", "d", 1, False)]),
    "GeneralizedGaussianTemporalModel": (
        "gengauss",
        [
            ("t_ref", "d", 51544, False),
            ("t_rise", "d", 1, False),
            ("t_decay", "d", 1, False),
            ("eta", "", 0.5, False),
        ],
    ),
    "PowerLawTemporalModel": (
        "powerlaw",
        [("alpha", "", 1, False), ("t_ref", "d", 51544, True), ("t0", "d", 1, True)],
    ),
    "SineTemporalModel": (
        "sinus",
        [("amp", "", 1, False), ("omega", "rad d-1", 1, False), ("t_ref", "d", 51544, False)],
    ),
    "LightCurveTemplateTemporalModel": ("template", [("t_ref", "d", 51544, True)]),
}

T_MIN = np.array([59000.2, 59001.5, 59003.0, 58990.0, 59001.9])
T_MAX = np.array([59000.8, 59003.0, 59010.0, 58999.5, 59002.1])


def light_curve() -> LightCurveTemplateTemporalModel:
    return LightCurveTemplateTemporalModel(59000.0 + np.array([0.0, 1.0, 2.0, 4.0]), [1, 3, 2, 3])


MODELS = {
    "const": ConstantTemporalModel(),
    "linear": LinearTemporalModel(alpha=1.5, beta=0.2, t_ref=59000),
    "linear_negative": LinearTemporalModel(alpha=1.0, beta=-0.3, t_ref=59002),
    "expdecay": ExpDecayTemporalModel(t0=2, t_ref=59000),
    "gauss": GaussianTemporalModel(t_ref=59002, sigma=1.5),
    "gauss_narrow": GaussianTemporalModel(t_ref=59002, sigma=0.01),
    "gengauss": GeneralizedGaussianTemporalModel(t_ref=59002, t_rise=0.5, t_decay=2, eta=0.7),
    "gengauss_sharp": GeneralizedGaussianTemporalModel(
        t_ref=59001.95, t_rise=0.1, t_decay=0.3, eta=0.25
    ),
    "gengauss_exp": GeneralizedGaussianTemporalModel(t_ref=59003.5, t_rise=1, t_decay=3, eta=1),
    "powerlaw": PowerLawTemporalModel(alpha=-1.3, t_ref=58989.0, t0=1),
    "powerlaw_m1": PowerLawTemporalModel(alpha=-1, t_ref=58989.0, t0=2),
    "powerlaw_rise": PowerLawTemporalModel(alpha=0.5, t_ref=58989.0, t0=3),
    "sine": SineTemporalModel(amp=0.5, omega=2, t_ref=59000),
    "sine_zero": SineTemporalModel(amp=0.5, omega=0, t_ref=59000),
    "template": light_curve(),
}


def test_registry_holds_the_gammapy_tags_and_parameters():
    registry = MODEL_REGISTRY["temporal"]
    for tag, (short, parameters) in GAMMAPY_TEMPORAL.items():
        cls = registry[tag]
        assert registry[short] is cls
        assert cls.tags == (tag, short)
        defaults = [(p.name, p.unit, p.value, p.frozen) for p in cls.parameter_defaults]
        assert defaults == [(n, u, pytest.approx(v), f) for n, u, v, f in parameters]


@pytest.mark.parametrize("name", MODELS)
def test_integral_matches_quadrature(name):
    model = MODELS[name]
    values = model.integral(T_MIN, T_MAX)
    for t_min, t_max, value in zip(T_MIN, T_MAX, values, strict=True):
        breaks = [t for t in (59000, 59001, 59002, 59003.5, 59004, 59001.95) if t_min < t < t_max]
        expected, _ = scipy.integrate.quad(
            model, t_min, t_max, points=breaks or None, limit=500, epsabs=1e-13, epsrel=1e-12
        )
        assert value == pytest.approx(expected / (t_max - t_min), rel=1e-9, abs=1e-12)


# the fixed-node fallback cannot resolve a 0.01 d pulse in a 1.5 d interval
@pytest.mark.parametrize("name", [name for name in MODELS if name != "gauss_narrow"])
def test_numerical_fallback_agrees(name):
    model = MODELS[name]
    analytic = model.evaluate_integral(T_MIN, T_MAX, **model.parameter_values())
    numeric = TemporalModel.evaluate_integral(model, T_MIN, T_MAX, **model.parameter_values())
    smooth = name not in ("gengauss", "gengauss_sharp", "gengauss_exp", "template")
    np.testing.assert_allclose(numeric, analytic, rtol=1e-9 if smooth else 2e-2, atol=1e-12)


def test_integral_conventions():
    model = MODELS["gauss"]
    mean = model.integral(T_MIN, T_MAX)
    total = model.integral(T_MIN, T_MAX, normalize="total")
    duration = T_MAX - T_MIN
    np.testing.assert_allclose(total, mean * duration / duration.sum())
    # Gammapy's convention: the sum over the intervals is their duration-weighted mean
    assert total.sum() == pytest.approx(np.average(mean, weights=duration))
    np.testing.assert_allclose(ConstantTemporalModel().integral(T_MIN, T_MAX), 1.0)
    # an empty interval: the norm at that time
    assert model.integral(59002.5, 59002.5) == pytest.approx(model(59002.5))
    with pytest.raises(ParameterError, match="normalize"):
        model.integral(T_MIN, T_MAX, normalize="mean")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        # Gammapy 2.1, integral(t_min, t_max) for the first three intervals
        (
            LinearTemporalModel(alpha=1.5, beta=0.2, t_ref=59000),
            [0.10549450549546144, 0.3214285714283658, 2.153846153844776],
        ),
        (
            ExpDecayTemporalModel(t0=2, t_ref=59000),
            [0.05154227956098074, 0.05477722914119241, 0.04755872816466064],
        ),
        (
            GaussianTemporalModel(t_ref=59002, sigma=1.5),
            [0.03998997416940033, 0.15620954369748938, 0.1043249691586629],
        ),
        (
            PowerLawTemporalModel(alpha=-1.3, t_ref=58999, t0=1),
            [0.03972022913136833, 0.036594812287861864, 0.06325797002216418],
        ),
        (
            PowerLawTemporalModel(alpha=-1, t_ref=58999, t0=2),
            [0.08911321057405436, 0.10329750093306264, 0.2223298706984248],
        ),
    ],
)
def test_integral_matches_gammapy_with_its_normalisation(model, expected):
    total = model.integral(T_MIN[:3], T_MAX[:3], normalize="total")
    np.testing.assert_allclose(total, expected, rtol=1e-9)


def test_generalized_gaussian_matches_gammapy():
    model = GeneralizedGaussianTemporalModel(t_ref=59002, t_rise=0.5, t_decay=2, eta=0.7)
    np.testing.assert_allclose(
        model(np.array([59001.0, 59002.0, 59003.5])),
        [0.2603052774666111, 1.0, 0.7178447523146402],
        rtol=1e-12,
    )


def test_sine_integral_uses_the_right_primitive():
    # Gammapy 2.1 returns 0.8836 here (sin in place of -cos); quadrature gives 1.4193
    model = SineTemporalModel(amp=0.5, omega=2, t_ref=59000)
    assert model.integral(59000.2, 59001.1) == pytest.approx(1.4193228086830494, rel=1e-12)


def test_light_curve_interpolates_and_extrapolates_like_gammapy():
    model = light_curve()
    assert model.parameters["t_ref"].value == 59000.0
    # values from Gammapy 2.1: linear inside, linear extrapolation clipped at zero outside
    times = 59000 + np.array([-0.25, 0.5, 3.0, 4.5, 6.0, -2.0])
    np.testing.assert_allclose(model(times), [0.5, 2.0, 2.5, 3.25, 4.0, 0.0])
    np.testing.assert_allclose(model.time, 59000 + np.array([0, 1, 2, 4]))
    shifted = model.with_parameters(t_ref=59001.0)
    assert shifted(59001.5) == pytest.approx(model(59000.5))
    # the exact integral of the clipped extrapolation: 1 - 2 t on [-1, 0] -> 1/4 over [-0.5, 0]
    assert model.integral(58999.0, 59000.0) == pytest.approx(0.25)
    with pytest.raises(ParameterError, match="increasing"):
        LightCurveTemplateTemporalModel([1.0, 1.0], [1.0, 2.0])
    with pytest.raises(ParameterError, match="non-negative"):
        LightCurveTemplateTemporalModel([1.0, 2.0], [1.0, -2.0])
    with pytest.raises(ParameterError, match="same length"):
        LightCurveTemplateTemporalModel([1.0, 2.0, 3.0], [1.0, 2.0])


def test_models_take_xarray_times_and_pickle():
    t_min = xr.DataArray(T_MIN, dims="time")
    t_max = xr.DataArray(T_MAX, dims="time")
    for name, model in MODELS.items():
        values = model.integral(t_min, t_max)
        assert isinstance(values, xr.DataArray), name
        assert values.dims == ("time",)
        np.testing.assert_allclose(values, model.integral(T_MIN, T_MAX), rtol=1e-12)
        assert model(t_min).dims == ("time",)
        assert pickle.loads(pickle.dumps(model)) == model
    lazy = MODELS["gauss"].integral(t_min.chunk(2), t_max.chunk(2))
    assert lazy.chunks is not None


def test_time_scale_is_state():
    model = GaussianTemporalModel(scale="tt")
    assert model.scale == "tt"
    assert model.with_parameters(sigma=2.0).scale == "tt"
    assert model != GaussianTemporalModel()
    with pytest.raises(ParameterError, match="time scale"):
        GaussianTemporalModel(scale="gps")
