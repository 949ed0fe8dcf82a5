import astropy.units as u
import numpy as np
import pytest
import xarray as xr

import gammaxr as gx
from gammaxr.conventions import edges, parse_unit, require_dims, require_units
from gammaxr.exceptions import DimensionError, GammaxrError, UnitError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("m2", u.m**2),
        ("m**2", u.m**2),
        ("cm2", u.cm**2),
        ("sr^-1", 1 / u.sr),
        ("sr^(-1)", 1 / u.sr),
        ("1/s/MeV/sr", 1 / (u.s * u.MeV * u.sr)),
        ("s^-1 MeV^-1 sr^-1", 1 / (u.s * u.MeV * u.sr)),
        ("MeV-1 s-1 sr-1", 1 / (u.s * u.MeV * u.sr)),
        ("", u.one),
        (None, u.one),
    ],
)
def test_parse_unit_accepts_iact_spellings(text, expected):
    assert parse_unit(text) == expected


def test_parse_unit_rejects_garbage_naming_the_owner():
    with pytest.raises(UnitError, match="file.fits, column 'X'.*'furlongs per"):
        parse_unit("furlongs per fortnight", where="file.fits, column 'X'")


def test_require_units_converts_and_rejects():
    da = xr.DataArray([1.0, 2.0], dims="energy", attrs={"units": "GeV"}, name="e")
    out = require_units(da, "TeV")
    np.testing.assert_allclose(out.values, [1e-3, 2e-3])
    assert out.attrs["units"] == "TeV"
    assert da.attrs["units"] == "GeV"  # input unchanged
    with pytest.raises(UnitError, match="not convertible"):
        require_units(da, "deg")


def test_require_dims_names_missing_dims():
    da = xr.DataArray(np.zeros((2, 3)), dims=("energy_true", "offset"))
    require_dims(da, ["energy_true"], what="aeff")
    with pytest.raises(DimensionError, match=r"aeff: missing dims \['migra'\]"):
        require_dims(da, ["energy_true", "migra"], what="aeff")


def test_edges_requires_edges_and_contiguity():
    axis = gx.energy_axis(1, 10, nbin=2)
    np.testing.assert_allclose(edges(axis, "energy"), [1, np.sqrt(10), 10])
    nodes = xr.DataArray([1.0, 2.0], dims="offset", coords={"offset": [1.0, 2.0]})
    with pytest.raises(DimensionError, match="nodes"):
        edges(nodes, "offset")
    gappy = axis.assign_coords(energy_lo=("energy", [1.0, 5.0]))
    with pytest.raises(DimensionError, match="contiguous"):
        edges(gappy, "energy")


def test_errors_subclass_builtins():
    assert issubclass(UnitError, ValueError)
    assert issubclass(UnitError, GammaxrError)
    assert issubclass(DimensionError, ValueError)
