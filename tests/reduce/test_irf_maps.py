import numpy as np
import pytest
import xarray as xr

import gammaxr as gx
from gammaxr.exceptions import ConfigError, GeometryError
from gammaxr.reduce import irf_grid, make_edisp, make_edisp_map, make_psf, make_psf_map


@pytest.fixture(scope="module")
def geom():
    return gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=4),
        gx.energy_axis(0.3, 100, per_decade=5, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=3, binsz=0.05),
    )


def test_irf_grid_covers_the_geometry(geom):
    grid = irf_grid(geom, binsz=0.4)
    assert dict(grid.sizes) == {"irf_lat": 8, "irf_lon": 8}
    assert float(grid.irf_lon_lo[0]) <= float(geom.lon_lo[0])
    assert float(grid.irf_lat_hi[-1]) >= float(geom.lat_hi[-1])
    assert grid.attrs["frame"] == "icrs"
    with pytest.raises(GeometryError, match="binsz"):
        irf_grid(geom, binsz=0)


def test_each_coarse_pixel_holds_the_irf_at_its_offset(crab_obs, geom):
    psf_map = make_psf_map(crab_obs, geom, binsz=0.5)
    edisp_map = make_edisp_map(crab_obs, geom, binsz=0.5)
    assert psf_map.dims == ("energy_true", "rad", "irf_lat", "irf_lon")
    assert edisp_map.dims == ("energy_true", "energy", "irf_lat", "irf_lon")
    for j, k in [(0, 0), (2, 4), (5, 5)]:
        pixel = psf_map.isel(irf_lat=j, irf_lon=k)
        offset = float(gx.angular_separation(crab_obs.pointing.ra, crab_obs.pointing.dec,
                                             pixel.irf_lon, pixel.irf_lat))  # fmt: skip
        np.testing.assert_array_equal(pixel.values, make_psf(crab_obs, geom, offset=offset).values)
        np.testing.assert_array_equal(
            edisp_map.isel(irf_lat=j, irf_lon=k).values,
            make_edisp(crab_obs, geom, offset=offset).values,
        )
    # Normalised over rad where the PSF is defined.
    annulus = 2 * np.pi * (np.cos(np.deg2rad(psf_map.rad_lo)) - np.cos(np.deg2rad(psf_map.rad_hi)))
    total = (psf_map * annulus).sum("rad")
    np.testing.assert_allclose(total.sel(energy_true=slice(1, 50)), 1.0, rtol=1e-5)


def test_map_dataset_makes_them_on_request_and_stacks(crab_store, geom, tmp_path):
    products = ("counts", "exposure", "psf", "edisp", "mask_safe", "psf_map", "edisp_map")
    datasets = [
        gx.make_map_dataset(obs, geom, products=products, irf_binsz=1.0)
        for obs in crab_store.observations()[:2]
    ]
    assert "psf_map" in datasets[0] and "psf_map" not in gx.make_map_dataset(
        crab_store.observation(23523), geom, products=("counts",)
    )
    joint = gx.concat_observations(datasets)
    stacked = gx.stack(joint)
    assert stacked.psf_map.dims == ("energy_true", "rad", "irf_lat", "irf_lon")
    # Exposure-weighted mean: between the two observations' maps, and normalised.
    lo = np.minimum(datasets[0].psf_map, datasets[1].psf_map)
    hi = np.maximum(datasets[0].psf_map, datasets[1].psf_map)
    assert bool(((stacked.psf_map >= lo - 1e-3) & (stacked.psf_map <= hi + 1e-3)).all())
    xr.testing.assert_identical(gx.stack_pair(*datasets).psf_map, stacked.psf_map)
    path = gx.write_dataset(stacked, tmp_path / "stacked.nc")
    xr.testing.assert_identical(gx.read_dataset(path).load(), stacked)
    with pytest.raises(ConfigError, match="unknown products"):
        gx.make_map_dataset(crab_store.observation(23523), geom, products=("psf_cube",))
