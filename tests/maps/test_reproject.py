import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord

import gammaxr as gx
from gammaxr.exceptions import DimensionError, GeometryError
from gammaxr.maps import reproject


def cube(values, grid, name="counts", energy_bins=2):
    energy = gx.energy_axis(1, 10, nbin=energy_bins)
    return xr.DataArray(
        values,
        dims=("energy", "lat", "lon"),
        coords={**energy.coords, **grid.coords},
        name=name,
        attrs={"frame": grid.attrs["frame"], "units": ""},
    )


@pytest.fixture
def crab_icrs():
    return gx.sky_grid((83.63, 22.01), width=2, binsz=0.1)


def test_sum_conserves_counts_across_frames(crab_icrs):
    rng = np.random.default_rng(1)
    counts = cube(rng.poisson(5, (2, 20, 20)).astype(float), crab_icrs)
    crab = SkyCoord(83.63, 22.01, unit="deg")
    target = gx.sky_grid(crab, width=3.5, binsz=0.07, frame="galactic")
    out = reproject(counts, target)
    assert out.dims == ("energy", "lat", "lon")
    assert out.attrs["frame"] == "galactic"
    np.testing.assert_allclose(out.sum(("lat", "lon")), counts.sum(("lat", "lon")), rtol=1e-12)


def test_sum_on_the_same_grid_is_identity(crab_icrs):
    rng = np.random.default_rng(2)
    counts = cube(rng.poisson(3, (2, 20, 20)).astype(float), crab_icrs)
    out = reproject(counts, crab_icrs, oversample=3)
    np.testing.assert_allclose(out.values, counts.values, atol=1e-12)


def test_sum_moves_content_to_the_transformed_position(crab_icrs):
    values = np.zeros((1, 20, 20))
    values[0, 7, 12] = 100.0
    counts = cube(values, crab_icrs, energy_bins=1)
    source = SkyCoord(crab_icrs.lon.values[12], crab_icrs.lat.values[7], unit="deg")
    target = gx.sky_grid(source, width=1, binsz=0.02, frame="galactic")
    out = reproject(counts, target).isel(energy=0)
    total = float(out.sum())
    assert total == pytest.approx(100.0)
    lon_c = float((out * out.lon).sum() / total)
    lat_c = float((out * out.lat).sum() / total)
    assert abs(lon_c - source.galactic.l.deg) < 0.01
    assert abs(lat_c - source.galactic.b.deg) < 0.01


def test_interp_is_exact_for_linear_fields_and_nan_outside():
    source = gx.sky_grid((10, 0), width=2, binsz=0.1)
    field = 3.0 * source.lon + 2.0 * source.lat
    exposure = (field * xr.ones_like(source)).rename("exposure")
    exposure.attrs = {"frame": "icrs", "units": "m2 s"}
    target = gx.sky_grid((10.02, 0.01), width=1.5, binsz=0.03)
    out = reproject(exposure, target)
    expected = 3.0 * target.lon + 2.0 * target.lat
    np.testing.assert_allclose(out.values, expected.broadcast_like(out).values, rtol=1e-10)
    assert out.attrs["units"] == "m2 s"
    wide = reproject(exposure, gx.sky_grid((10, 0), width=3, binsz=0.1))
    assert np.isnan(wide.values[0, 0]) and np.isfinite(wide.values[15, 15])


def test_nearest_for_masks(crab_icrs):
    mask = gx.region_mask("icrs; circle(83.63, 22.01, 0.5)", crab_icrs)
    target = gx.sky_grid((83.63, 22.01), width=3, binsz=0.05)
    out = reproject(mask, target)
    assert out.dtype == bool
    inside = gx.angular_separation(83.63, 22.01, target.lon, target.lat) < 0.45
    assert bool(out.where(inside, True).all())
    assert not bool(out.isel(lat=0, lon=0))


def test_dataset_chooses_methods_by_meaning_and_override(crab_icrs):
    rng = np.random.default_rng(3)
    counts = cube(rng.poisson(4, (2, 20, 20)).astype(float), crab_icrs)
    exposure = xr.full_like(counts, 7.0).rename("exposure")
    ds = xr.Dataset({"counts": counts, "exposure": exposure, "livetime": 10.0})
    target = gx.sky_grid((83.63, 22.01), width=1, binsz=0.05)
    out = reproject(ds, target)
    np.testing.assert_allclose(out["exposure"].values, 7.0)
    assert float(out["counts"].sum()) < float(counts.sum())  # a quarter of the area
    assert float(out["livetime"]) == 10.0
    forced = reproject(ds, target, method={"exposure": "sum"})
    np.testing.assert_allclose(float(forced["exposure"].sum()), 7.0 * 2 * 100, rtol=1e-12)
    xr.testing.assert_identical(ds.gp.reproject(target), out)


def test_dask_input_stays_lazy_and_matches(crab_icrs):
    rng = np.random.default_rng(4)
    counts = cube(rng.poisson(4, (2, 20, 20)).astype(float), crab_icrs)
    lazy = counts.copy(data=da.from_array(counts.values, chunks=(1, 20, 20)))
    target = gx.sky_grid((83.7, 22.0), width=1.5, binsz=0.04, frame="galactic")
    with dask.config.set(scheduler="sync"):
        out = reproject(lazy, target)
        assert isinstance(out.data, da.Array)
    np.testing.assert_allclose(out.compute().values, reproject(counts, target).values)


def test_errors(crab_icrs):
    counts = cube(np.zeros((2, 20, 20)), crab_icrs)
    with pytest.raises(DimensionError, match="lacks sky coordinates"):
        reproject(counts, xr.Dataset())
    with pytest.raises(GeometryError, match="method"):
        reproject(counts, crab_icrs, method="cubic")
    with pytest.raises(GeometryError, match="oversample"):
        reproject(counts, crab_icrs, oversample=0)
