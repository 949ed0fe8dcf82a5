import astropy.units as u
import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion

import gammaxr as gx
from gammaxr.exceptions import DimensionError, GammaxrWarning
from gammaxr.reduce import fit_fov_background


def synthetic(rng, *, norm=1.0, tilt=0.0, level=40.0, source=0.0, obs_id=1):
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=4), sky=gx.sky_grid((10, 20), width=2, binsz=0.1)
    )
    energy = geom["energy"]
    shape = (geom.sizes["energy"], geom.sizes["lat"], geom.sizes["lon"])
    template = xr.DataArray(
        level * np.ones(shape) * (energy.values[:, None, None] ** -1.0),
        dims=("energy", "lat", "lon"), coords=geom.coords,
    )  # fmt: skip
    truth = template * norm * energy**-tilt
    centre = gx.angular_separation(10, 20, geom["lon"], geom["lat"]) < 0.3
    truth = truth + source * centre * energy**-2
    counts = xr.DataArray(rng.poisson(truth.values), dims=truth.dims, coords=truth.coords)
    return xr.Dataset(
        {"counts": counts, "background": template.astype("float32"),
         "mask_safe": xr.ones_like(counts, dtype=bool)},
        attrs={"obs_id": obs_id, "frame": "icrs"},
    ), centre  # fmt: skip


def test_norm_is_recovered_within_statistics():
    ds, _ = synthetic(np.random.default_rng(0), norm=1.3)
    out = fit_fov_background(ds)
    total = float(ds.counts.sum())
    assert float(out.background_norm) == pytest.approx(1.3, abs=3 * 1.3 / np.sqrt(total))
    # The scaled background matches the counts in total (the ML condition).
    assert float(out.background.sum(dtype=float)) == pytest.approx(total, rel=1e-5)
    assert bool(out.background_fit_ok)
    assert float(ds.background.sum()) != float(out.background.sum())  # input unchanged


def test_tilt_is_recovered():
    ds, _ = synthetic(np.random.default_rng(1), norm=0.9, tilt=0.2, level=400.0)
    out = fit_fov_background(ds, tilt=True)
    assert float(out.background_tilt) == pytest.approx(0.2, abs=0.03)
    assert float(out.background_norm) == pytest.approx(0.9, abs=0.03)


def test_exclusion_mask_removes_the_source_bias():
    ds, centre = synthetic(np.random.default_rng(2), norm=1.0, source=200.0)
    biased = fit_fov_background(ds)
    clean = fit_fov_background(ds, exclusion_mask=centre)
    assert float(biased.background_norm) > 1.1
    n_fit = float(ds.counts.where(~centre, 0).sum())
    assert float(clean.background_norm) == pytest.approx(1.0, abs=3 / np.sqrt(n_fit))


def test_too_few_counts_warns_and_leaves_background():
    ds, _ = synthetic(np.random.default_rng(3), level=0.001)
    with pytest.warns(GammaxrWarning, match="background left untouched"):
        out = fit_fov_background(ds, min_counts=50)
    xr.testing.assert_identical(out.background, ds.background)
    assert not bool(out.background_fit_ok)
    assert float(out.background_norm) == 1.0


def test_joint_form_fits_each_observation():
    rng = np.random.default_rng(4)
    parts = [synthetic(rng, norm=n, obs_id=i)[0] for i, n in ((1, 0.8), (2, 1.2))]
    joint = xr.concat([p.drop_attrs() for p in parts], dim="obs_id").assign_coords(obs_id=[1, 2])
    out = fit_fov_background(joint)
    np.testing.assert_allclose(out.background_norm.values, [0.8, 1.2], atol=0.06)
    assert out.background_norm.dims == ("obs_id",)


def test_crab_run_background_norm_is_close_to_one(crab_obs):
    geom = gx.make_geom(
        gx.energy_axis(0.5, 50, per_decade=5),
        gx.energy_axis(0.3, 100, per_decade=8, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=3, binsz=0.05),
    )
    ds = gx.make_map_dataset(crab_obs, geom, products=("counts", "background", "mask_safe"))
    crab = CircleSkyRegion(SkyCoord(83.633, 22.014, unit="deg"), 0.3 * u.deg)
    out = fit_fov_background(ds, gx.region_mask(crab, geom))
    # The H.E.S.S. template describes the off-source counts to ~10% in the safe range.
    assert 0.85 < float(out.background_norm) < 1.2
    assert bool(out.background_fit_ok)


def test_errors():
    ds, centre = synthetic(np.random.default_rng(5))
    with pytest.raises(DimensionError, match="'background'"):
        fit_fov_background(ds.drop_vars("background"))
    with pytest.raises(DimensionError, match="boolean"):
        fit_fov_background(ds, exclusion_mask=centre.astype(int))
