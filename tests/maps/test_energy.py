"""Energy regrouping and images of datasets: sums against direct ones, masks, edisp."""

import numpy as np
import pytest
import xarray as xr

import gammaxr as gx
from gammaxr.exceptions import ConfigError, DimensionError
from gammaxr.maps import resample_energy, to_image


@pytest.fixture(scope="module")
def crab_joint():
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=4),
        gx.energy_axis(0.3, 100, per_decade=4, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=2.0, binsz=0.05),
    )
    runs = [gx.make_map_dataset(o, geom) for o in gx.open_datastore().observations()[:2]]
    return gx.concat_observations(runs)


def test_image_sums_within_the_safe_mask(crab_joint):
    image = to_image(crab_joint)
    safe = crab_joint.mask_safe
    assert image.sizes["energy"] == 1
    assert image.counts.dims == crab_joint.counts.dims and image.counts.dtype == np.int64
    direct = (crab_joint.counts * safe).sum("energy")
    np.testing.assert_array_equal(image.counts.isel(energy=0), direct)
    direct = (crab_joint.background.astype(np.float64) * safe).sum("energy")
    np.testing.assert_allclose(image.background.isel(energy=0), direct, rtol=1e-6)
    assert image.background.dtype == np.float32
    np.testing.assert_array_equal(image.mask_safe.isel(energy=0), safe.any("energy"))
    # the true-energy axis and what lives on it are untouched
    xr.testing.assert_identical(image.exposure, crab_joint.exposure)
    xr.testing.assert_identical(image.psf, crab_joint.psf)
    edges = crab_joint.gp.edges("energy")
    assert image.energy_lo.values.tolist() == [edges[0]]
    assert image.energy_hi.values.tolist() == [edges[-1]]
    assert image.attrs == crab_joint.attrs


def test_groups_snap_to_the_axis_and_sum_edisp(crab_joint):
    grouped = crab_joint.gp.resample_energy([1.0, 5.0, 20.0])
    # edges 0.5, 0.89, 1.58, 2.81, 5, 8.89, 15.8, 28.1, 50 TeV: 1, 5 and 20 TeV
    # move to the nearest in log energy, 0.89, 5 and 15.8
    edges = crab_joint.gp.edges("energy")
    np.testing.assert_allclose(grouped.energy_lo, edges[[1, 4]])
    np.testing.assert_allclose(grouped.energy_hi, edges[[4, 6]])
    safe = crab_joint.mask_safe
    for g, (lo, hi) in enumerate(((1, 4), (4, 6))):
        part = crab_joint.isel(energy=slice(lo, hi))
        np.testing.assert_array_equal(
            grouped.counts.isel(energy=g), (part.counts * part.mask_safe).sum("energy")
        )
        np.testing.assert_allclose(
            grouped.edisp.isel(energy=g), part.edisp.sum("energy"), rtol=1e-6
        )
    assert grouped.counts.sum() <= (crab_joint.counts * safe).sum()


def test_dask_input_stays_lazy_and_equal(crab_joint):
    chunked = crab_joint.chunk({"obs_id": 1})
    image = to_image(chunked)
    assert image.counts.chunks is not None
    xr.testing.assert_allclose(image.load(), to_image(crab_joint), rtol=1e-6)


def test_bad_input(crab_joint):
    with pytest.raises(DimensionError, match="energy"):
        to_image(crab_joint.isel(energy=0, drop=True))
    with pytest.raises(ConfigError, match="increasing"):
        resample_energy(crab_joint, [5.0, 1.0])
    with pytest.raises(ConfigError, match="one edge"):
        resample_energy(crab_joint, [1.0, 1.01])
