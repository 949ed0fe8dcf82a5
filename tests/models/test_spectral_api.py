"""One test suite over every registered spectral model: values, integrals, arrays, laziness."""

import contextlib
import math
import pickle

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from scipy.integrate import quad

import gammaxr as gx
from gammaxr.models import MODEL_REGISTRY
from gammaxr.models import spectral as sm

EBL_ENERGY = np.geomspace(0.01, 100.0, 9)
EBL_Z = np.array([0.0, 0.1, 0.3, 0.6])
EBL_TAU = 0.5 * EBL_Z[:, None] * np.log(EBL_ENERGY[None, :] / 0.01)
NODES = np.array([0.2, 1.0, 5.0, 20.0])


def _ebl():
    return sm.EBLAbsorptionNormSpectralModel(EBL_ENERGY, EBL_Z, EBL_TAU, redshift=0.3)


#: Examples of every registered spectral model (non-default parameters where it matters).
EXAMPLES = {
    "const": lambda: sm.ConstantSpectralModel(const=2e-12),
    "pl": lambda: sm.PowerLawSpectralModel(index=2.4, amplitude=3e-12, reference=2.0),
    "pl-norm": lambda: sm.PowerLawNormSpectralModel(tilt=0.2, norm=1.3),
    "pl-2": lambda: sm.PowerLaw2SpectralModel(index=2.2, emin=0.2, emax=50),
    "bpl": lambda: sm.BrokenPowerLawSpectralModel(index1=1.8, index2=3.0, ebreak=2.5),
    "sbpl": lambda: sm.SmoothBrokenPowerLawSpectralModel(index1=1.8, index2=3.0, beta=0.4),
    "ecpl": lambda: sm.ExpCutoffPowerLawSpectralModel(index=2.0, lambda_=0.1, alpha=1.2),
    "ecpl-norm": lambda: sm.ExpCutoffPowerLawNormSpectralModel(index=0.1, lambda_=0.05),
    "ecpl-3fgl": lambda: sm.ExpCutoffPowerLaw3FGLSpectralModel(index=1.8, ecut=8.0),
    "secpl-3fgl": lambda: sm.SuperExpCutoffPowerLaw3FGLSpectralModel(index_2=0.8, ecut=6.0),
    "secpl-4fgl": lambda: sm.SuperExpCutoffPowerLaw4FGLSpectralModel(index_2=0.5, expfactor=1e-4),
    "secpl-4fgl-dr3": lambda: sm.SuperExpCutoffPowerLaw4FGLDR3SpectralModel(index_2=0.7),
    "lp": lambda: sm.LogParabolaSpectralModel(alpha=2.2, beta=0.1, reference=1.0),
    "lp-norm": lambda: sm.LogParabolaNormSpectralModel(alpha=0.1, beta=0.05),
    "gauss": lambda: sm.GaussianSpectralModel(amplitude=1e-12, mean=3.0, sigma=4.0),
    "piecewise-norm": lambda: sm.PiecewiseNormSpectralModel(NODES, [0.5, 1.5, 1.0, 2.0]),
    "piecewise-norm-lin": lambda: sm.PiecewiseNormSpectralModel(
        NODES, [0.5, 1.5, 1, 2], interp="lin"
    ),
    "template": lambda: sm.TemplateSpectralModel(NODES, [1e-10, 2e-12, 5e-14, 1e-15]),
    "scale": lambda: sm.ScaleSpectralModel(sm.LogParabolaSpectralModel(), norm=2.0),
    "ebl-norm": _ebl,
    "compound-add": lambda: sm.PowerLawSpectralModel() + sm.ExpCutoffPowerLawSpectralModel(),
    "compound-mul": lambda: sm.PowerLawSpectralModel(index=2.2) * _ebl(),
}

GRID = np.geomspace(0.05, 50.0, 25)
EMIN = np.array([0.1, 0.5, 1.0, 2.0, 10.0])
EMAX = np.array([0.3, 0.6, 10.0, 5.0, 40.0])


@contextlib.contextmanager
def raise_if_dask_computes():
    def scheduler(*args, **kwargs):
        raise AssertionError("a dask graph was computed; the result should stay lazy")

    with dask.config.set(scheduler=scheduler):
        yield


@pytest.fixture(params=sorted(EXAMPLES), ids=str)
def model(request):
    return EXAMPLES[request.param]()


def registered_classes():
    return set(MODEL_REGISTRY["spectral"].values())


def test_every_registered_model_has_an_example():
    covered = {type(factory()) for factory in EXAMPLES.values()}
    missing = sorted(cls.__name__ for cls in registered_classes() - covered)
    assert not missing, f"add examples for {missing}"


def test_tags_are_gammapy_type_names_with_aliases():
    registry = MODEL_REGISTRY["spectral"]
    for cls in registered_classes():
        assert cls.tags[0] == cls.__name__, cls
        assert len(cls.tags) == 2, cls
        assert all(registry[tag] is cls for tag in cls.tags)
    assert registry["pl"] is sm.PowerLawSpectralModel
    assert registry["ecpl"] is sm.ExpCutoffPowerLawSpectralModel
    assert registry["ebl-norm"] is sm.EBLAbsorptionNormSpectralModel


def test_values_are_finite_and_positive(model):
    values = model(GRID)
    assert values.shape == GRID.shape
    assert np.all(np.isfinite(values)) and np.all(values > 0)
    np.testing.assert_array_equal(model.evaluate(GRID, **model.parameter_values()), values)
    assert np.ndim(model(1.0)) == 0 and np.isfinite(float(model(1.0)))


def _quad(model, emin, emax, power):
    nodes = [float(p.value) for name, p in model.parameters.items() if name.endswith("ebreak")]
    nodes += list(NODES) + list(EBL_ENERGY)
    points = [math.log(p) for p in nodes if emin < p < emax]
    value, _ = quad(
        lambda t: float(model(math.exp(t))) * math.exp((1 + power) * t),
        math.log(emin),
        math.log(emax),
        epsabs=0,
        epsrel=1e-12,
        limit=400,
        points=points or None,
    )
    return value


def test_integrals_match_quadrature(model):
    for power, method in ((0, model.integral), (1, model.energy_flux)):
        expected = [_quad(model, a, b, power) for a, b in zip(EMIN, EMAX, strict=True)]
        np.testing.assert_allclose(method(EMIN, EMAX), expected, rtol=1e-6, atol=0)


def test_broadcasting(model):
    emin = np.array([[0.1], [0.2], [0.5]])
    emax = np.array([[1.0, 3.0]])
    flux = model.integral(emin, emax)
    assert flux.shape == (3, 2)
    for i, j in np.ndindex(3, 2):
        assert flux[i, j] == pytest.approx(model.integral(emin[i, 0], emax[0, j]), rel=1e-12)
    energy = np.geomspace(0.1, 10, 6).reshape(2, 3)
    np.testing.assert_allclose(model(energy).ravel(), model(energy.ravel()), rtol=1e-15)


def test_xarray_dims_and_units(model):
    axis = gx.energy_axis(0.1, 50, per_decade=3)
    values = model(axis)
    assert isinstance(values, xr.DataArray)
    assert values.dims == ("energy",) and "energy_lo" in values.coords
    assert values.attrs["units"] == model.dnde_unit
    assert values.name == ("norm" if model.is_norm else "dnde")
    np.testing.assert_allclose(values, model(axis.to_numpy()), rtol=1e-14)
    flux = model.integral(axis.energy_lo, axis.energy_hi)
    assert flux.dims == ("energy",) and flux.attrs["units"] == model.flux_unit
    expected = model.integral(axis.energy_lo.to_numpy(), axis.energy_hi.to_numpy())
    np.testing.assert_allclose(flux, expected, rtol=1e-12)
    eflux = model.energy_flux(axis.energy_lo, axis.energy_hi)
    assert eflux.attrs["units"] == model.energy_flux_unit and eflux.name == "eflux"
    # a 2-D DataArray keeps its dims, in order
    energy = xr.DataArray(np.geomspace(0.2, 20, 6).reshape(3, 2), dims=("x", "energy_true"))
    assert model(energy).dims == ("x", "energy_true")


def test_dask_stays_lazy(model):
    energy = da.from_array(GRID, chunks=10)
    emin, emax = da.from_array(EMIN, chunks=2), da.from_array(EMAX, chunks=2)
    with raise_if_dask_computes():
        values = model(energy)
        flux = model.integral(emin, emax)  # energy_flux shares this code path
    assert isinstance(values, da.Array) and isinstance(flux, da.Array)
    values, flux = dask.compute(values, flux, scheduler="sync")
    np.testing.assert_allclose(values, model(GRID), rtol=1e-14)
    np.testing.assert_allclose(flux, model.integral(EMIN, EMAX), rtol=1e-12)


@pytest.mark.parametrize(
    "name",
    ["pl", "bpl", "ecpl", "secpl-4fgl-dr3", "gauss", "template", "piecewise-norm", "compound-mul"],
)
def test_dask_backed_xarray_stays_lazy(name):
    """One model of each kind (closed form, numerical, table kernel, product)."""
    model = EXAMPLES[name]()
    axis = gx.energy_axis(0.1, 50, per_decade=3).chunk({"energy": 3})
    with raise_if_dask_computes():
        values = model(axis)
        flux = model.integral(axis.energy_lo.chunk(3), axis.energy_hi.chunk(3))
    assert values.chunks is not None and flux.chunks is not None
    values, flux = dask.compute(values, flux, scheduler="sync")
    np.testing.assert_allclose(values, model(axis.to_numpy()), rtol=1e-14)
    assert flux.dims == ("energy",)


def test_copies_compare_equal_and_pickle(model):
    assert model == model.with_parameters()
    first = next(iter(model.parameters), None)
    if first is not None:
        value = model.parameters[first].value
        changed = model.with_parameters(**{first: value * 1.5 + 0.1})
        assert changed != model
        assert model.parameters[first].value == value
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored(GRID), model(GRID))
    assert type(restored) is type(model)


def test_same_numbers_as_gammapy():
    """A few values of the less obvious models, with literals from Gammapy 2.1.

    (Generated once with Gammapy 2.1 from the same parameters; analytic checks of
    every model are in test_spectral.py and test_spectral_table.py.)
    """
    energy = np.array([0.3, 1.0 + 1e-3, 7.0])
    nodes = [0.2, 1.0, 5.0, 20.0]
    cases = [
        (
            sm.SuperExpCutoffPowerLaw4FGLDR3SpectralModel(index_1=1.6, index_2=0.6, expfactor=0.3),
            [
                5.772136402562747e-12,
                9.984019278662785e-13,
                1.8581644530461162e-14,
            ],
        ),
        (
            sm.SuperExpCutoffPowerLaw4FGLSpectralModel(index_1=1.6, index_2=0.6, expfactor=3e-4),
            [
                1.2688846574265571e-11,
                9.97687028861394e-13,
                3.1580562838495203e-15,
            ],
        ),
        (
            sm.SmoothBrokenPowerLawSpectralModel(index1=3.1, index2=1.8, ebreak=2.0, beta=0.5),
            [
                4.192603322559328e-11,
                1.0761822952290172e-12,
                1.2464850850622237e-14,
            ],
        ),
        (
            sm.TemplateSpectralModel(nodes, [1e-10, 2e-12, 5e-14, 1e-15]),
            [
                3.73232199821273e-11,
                1.9954234753004487e-12,
                1.9346713261414257e-14,
            ],
        ),
        (
            sm.PiecewiseNormSpectralModel(nodes, [0.5, 1.5, 1.0, 2.0]),
            [
                0.6594334734621519,
                1.4996223419165953,
                1.1832159566199232,
            ],
        ),
    ]
    for model, expected in cases:
        np.testing.assert_allclose(model(energy), expected, rtol=1e-13, err_msg=repr(model))
    ramp = np.linspace(0, 3, 9) ** 1.5
    tau = np.array([0 * ramp, 0.3 * ramp, ramp, 2.2 * ramp])
    ebl = sm.EBLAbsorptionNormSpectralModel(EBL_ENERGY, EBL_Z, tau, redshift=0.2, alpha_norm=1.3)
    np.testing.assert_allclose(
        ebl(np.array([0.05, 2.0, 300.0])),
        [0.7151708110688265, 0.1460342896485873, 0.0057921208887267905],
        rtol=1e-13,
    )
