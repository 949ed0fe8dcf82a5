from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.interpolate import RegularGridInterpolator

import gammaxr as gx
from gammaxr.exceptions import DimensionError, GeometryError, UnitError
from gammaxr.irf import interpolate


@pytest.fixture
def cube(energy_true_axis, offset_nodes, make_irf, node_axis):
    """A 3-D IRF: log energy (binned), offset (nodes), migra (nodes)."""
    migra = node_axis([0.2, 0.6, 1.0, 1.3, 3.0], name="migra", units="")
    return make_irf(energy_true_axis, offset_nodes, migra, units="")


def test_matches_scipy_on_log_axes(cube):
    rng = np.random.default_rng(1)
    n = 200
    energy = np.exp(rng.uniform(*np.log(cube.energy_true.values[[0, -1]]), n))
    offset = rng.uniform(0, 2.5, n)
    migra = rng.uniform(0.2, 3.0, n)
    result = interpolate(
        cube,
        energy_true=xr.DataArray(energy, dims="point"),
        offset=xr.DataArray(offset, dims="point"),
        migra=xr.DataArray(migra, dims="point"),
    )
    grid = (np.log(cube.energy_true.values), cube.offset.values, cube.migra.values)
    expected = RegularGridInterpolator(grid, cube.values)(
        np.column_stack([np.log(energy), offset, migra])
    )
    assert result.dims == ("point",)
    np.testing.assert_allclose(result.values, expected, rtol=1e-12)


def test_broadcasts_by_name(aeff, energy_true_axis):
    energy = gx.energy_axis(0.3, 30, nbin=7, name="energy_true")
    offset = xr.DataArray(np.linspace(0, 2, 12).reshape(3, 4), dims=("lat", "lon"))
    result = interpolate(aeff, energy_true=energy, offset=offset)
    assert result.dims == ("energy_true", "lat", "lon")
    assert result.attrs["units"] == "m2"
    np.testing.assert_array_equal(result.energy_true_hi, energy.energy_true_hi)
    one = interpolate(aeff, energy_true=float(energy[3]), offset=float(offset[1, 2]))
    assert float(result[3, 1, 2]) == pytest.approx(float(one), rel=1e-12)


def test_scalar_removes_dim_array_replaces_it_and_dims_not_given_stay(aeff):
    scalar = interpolate(aeff, offset=0.7)
    assert scalar.dims == ("energy_true",)
    assert float(scalar.offset) == 0.7
    assert "energy_true_lo" in scalar.coords
    array = interpolate(aeff, offset=np.array([0.1, 0.2, 0.3]))
    assert array.dims == ("energy_true", "offset")
    np.testing.assert_array_equal(array.offset, [0.1, 0.2, 0.3])
    assert array.offset.attrs["units"] == "deg"


def test_exact_at_nodes_of_binned_and_node_axes(aeff):
    result = interpolate(aeff, energy_true=aeff.energy_true.values, offset=aeff.offset.values)
    np.testing.assert_allclose(result.values, aeff.values, rtol=1e-12)


def test_linear_in_log_energy_and_linear_in_offset(energy_true_axis, offset_nodes, make_irf):
    log_e = np.log(energy_true_axis.values)[:, None]
    irf = make_irf(energy_true_axis, offset_nodes, values=2 + 3 * log_e + 5 * offset_nodes.values)
    energy, offset = np.array([0.37, 4.2, 55.0]), np.array([0.2, 1.2, 2.1])
    result = interpolate(irf, energy_true=xr.DataArray(energy), offset=xr.DataArray(offset))
    np.testing.assert_allclose(result.values, 2 + 3 * np.log(energy) + 5 * offset, rtol=1e-12)


def test_clamps_outside_the_nodes(aeff):
    result = interpolate(aeff, energy_true=[1e-4, 1e4], offset=[-1.0, 9.0])
    np.testing.assert_allclose(result.values, aeff.values[[0, -1]][:, [0, -1]])


def test_zero_energy_clamps_to_the_first_node(aeff):
    result = interpolate(aeff, energy_true=0.0, offset=0.0)
    assert float(result) == pytest.approx(float(aeff[0, 0]))


def test_fill_value_nan_outside(aeff):
    energy = xr.DataArray([0.05, 1.0, 1.0, 200.0], dims="p")
    offset = xr.DataArray([1.0, 1.0, 3.0, 1.0], dims="p")
    result = interpolate(aeff, energy_true=energy, offset=offset, fill_value=np.nan)
    np.testing.assert_array_equal(np.isnan(result.values), [True, False, True, True])


def test_nan_coordinate_gives_nan(aeff):
    assert np.isnan(float(interpolate(aeff, energy_true=np.nan, offset=1.0)))


def test_length_one_axis_is_constant(energy_true_axis, make_irf, node_axis):
    irf = make_irf(energy_true_axis, node_axis([1.0], name="offset"))
    result = interpolate(irf, offset=[0.0, 5.0], fill_value=np.nan)
    np.testing.assert_array_equal(result.isel(offset=0), irf.isel(offset=0))
    np.testing.assert_array_equal(result.isel(offset=1), irf.isel(offset=0))


def test_converts_units_of_coordinates(aeff):
    energy = xr.DataArray([2000.0], dims="p", attrs={"units": "GeV"})
    result = interpolate(aeff, energy_true=energy, offset=0.3)
    assert float(result[0]) == pytest.approx(float(interpolate(aeff, energy_true=2, offset=0.3)))
    assert energy.attrs["units"] == "GeV"


def test_does_not_change_its_input(aeff):
    before = aeff.copy(deep=True)
    interpolate(aeff, energy_true=1.0, offset=0.3)
    xr.testing.assert_identical(aeff, before)


def test_dask_coordinates_stay_lazy(aeff, raise_if_dask_computes):
    offset = xr.DataArray(np.linspace(0, 2, 20).reshape(4, 5), dims=("lat", "lon"))
    energy = gx.energy_axis(0.3, 30, nbin=6, name="energy_true")
    with raise_if_dask_computes():
        lazy = interpolate(aeff, energy_true=energy, offset=offset.chunk({"lat": 2}))
    assert lazy.chunks is not None
    expected = interpolate(aeff, energy_true=energy, offset=offset)
    xr.testing.assert_allclose(lazy.compute(), expected)


def test_extra_irf_dims_broadcast_with_coordinates(aeff):
    stacked = xr.concat([aeff, 2 * aeff], dim="obs_id").assign_coords(obs_id=[1, 2])
    offset = xr.DataArray([0.2, 0.4], dims="obs_id", coords={"obs_id": [1, 2]})
    result = interpolate(stacked, energy_true=1.0, offset=offset)
    assert result.dims == ("obs_id",)
    single = [interpolate(aeff, energy_true=1.0, offset=value) for value in (0.2, 0.4)]
    np.testing.assert_allclose(result.values, [float(single[0]), 2 * float(single[1])])


def test_real_aeff_and_bkg(crab_obs):
    aeff = crab_obs.aeff
    at_nodes = interpolate(aeff, energy_true=aeff.energy_true.values, offset=aeff.offset.values)
    np.testing.assert_allclose(at_nodes.values, aeff.values, rtol=1e-6)
    bkg = interpolate(crab_obs.bkg, energy=1.0, fov_lon=[0.0, 1.0], fov_lat=0.0)
    assert bkg.dims == ("fov_lon",)
    assert bkg.attrs["units"] == "MeV-1 s-1 sr-1"
    assert np.all(bkg.values > 0)


# The fixture is only read, so sharing it between examples is safe.
@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    log_energy=st.floats(-5, 5),
    offset=st.floats(-3, 6),
)
def test_clamped_values_stay_within_the_table(aeff, log_energy, offset):
    value = float(interpolate(aeff, energy_true=10**log_energy, offset=offset))
    assert float(aeff.min()) <= value <= float(aeff.max())


# --- validation -------------------------------------------------------------------------


def test_unknown_dim_fails(aeff):
    with pytest.raises(DimensionError, match="migra"):
        interpolate(aeff, migra=1.0)


def test_dataset_input_fails(aeff):
    with pytest.raises(DimensionError, match="DataArray"):
        interpolate(aeff.to_dataset(), offset=1.0)


def test_two_dimensional_array_fails(aeff):
    with pytest.raises(DimensionError, match="2-D"):
        interpolate(aeff, offset=np.zeros((2, 2)))


def test_dim_without_coordinate_fails(aeff):
    with pytest.raises(DimensionError, match="index coordinate"):
        interpolate(aeff.drop_vars("offset"), offset=1.0)


def test_decreasing_nodes_fail(aeff):
    with pytest.raises(GeometryError, match="increasing"):
        interpolate(aeff.isel(offset=slice(None, None, -1)), offset=1.0)


def test_non_positive_log_nodes_fail(aeff):
    broken = aeff.assign_coords(energy_true=aeff.energy_true - 1)
    broken.energy_true.attrs["interp"] = "log"
    with pytest.raises(GeometryError, match="non-positive"):
        interpolate(broken, energy_true=1.0)


def test_wrong_units_fail(aeff):
    with pytest.raises(UnitError):
        interpolate(aeff, offset=xr.DataArray(1.0, attrs={"units": "TeV"}))


# --- the numpy kernel: the outer-product path gives the general path's numbers ---------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fill_value", [None, np.nan])
def test_outer_path_is_the_general_path_bit_for_bit(dtype, fill_value):
    from gammaxr.irf._interpolate import interpolate_array

    rng = np.random.default_rng(5)
    for _ in range(40):
        k = int(rng.integers(1, 4))
        core = tuple(int(n) for n in rng.integers(1, 6, k))
        batch = tuple(int(n) for n in rng.integers(1, 4, int(rng.integers(0, 3))))
        values = rng.normal(size=batch + core).astype(dtype)
        nodes = [np.cumsum(rng.uniform(0.1, 2, n)) for n in core]
        log = [bool(rng.integers(2)) for _ in core]
        n_points = (3, 4)
        # values vary on the batch axes, the points on two new axes after them
        pad = (np.newaxis,) * len(batch)
        points = [
            rng.uniform(x[0] - 1, x[-1] + 1, n_points)[pad] if not use_log else
            np.exp(rng.uniform(np.log(x[0]) - 1, np.log(x[-1]) + 1, n_points))[pad]
            for x, use_log in zip(nodes, log, strict=True)
        ]  # fmt: skip
        grid = values.reshape(batch + (1, 1) + core)
        outer = interpolate_array(grid, points, nodes, log, fill_value=fill_value)
        full_shape = batch + n_points
        general = interpolate_array(  # points broadcast over the batch: the general path
            grid, [np.broadcast_to(p, full_shape).copy() for p in points], nodes, log,
            fill_value=fill_value,
        )  # fmt: skip
        assert outer.shape == general.shape == full_shape
        np.testing.assert_array_equal(outer, general)


def test_interpolate_array_is_interpolate(cube):
    from gammaxr.irf._interpolate import interpolate_array, node_values

    rng = np.random.default_rng(6)
    energy = np.exp(rng.uniform(*np.log(cube.energy_true.values[[0, -1]]), 7))
    offset = rng.uniform(0, 2.5, (5, 6))
    expected = interpolate(
        cube,
        energy_true=xr.DataArray(energy, dims="e"),
        offset=xr.DataArray(offset, dims=("y", "x")),
    ).transpose("e", "migra", "y", "x")
    nodes = [node_values(cube, dim) for dim in ("energy_true", "offset")]
    values = cube.transpose("migra", "energy_true", "offset").values
    got = interpolate_array(
        values[np.newaxis, :, np.newaxis, np.newaxis],
        [energy[:, None, None, None], offset[None, None]],
        [n for n, _ in nodes],
        [log for _, log in nodes],
    )
    np.testing.assert_array_equal(got, expected.values)
    with pytest.raises(GeometryError, match="not strictly increasing"):
        node_values(cube.isel(offset=[1, 0]), "offset")
    with pytest.raises(DimensionError, match="no index coordinate"):
        node_values(cube.drop_vars("offset"), "offset")
