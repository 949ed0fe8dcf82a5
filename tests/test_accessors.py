"""The .gp accessors are thin delegates: same results as the functions they call."""

import numpy as np
import xarray as xr

import gammaxr as gx
from gammaxr import irf


def test_dataarray_irf_verbs_delegate(crab_obs):
    energy_true = gx.energy_axis(0.5, 50, nbin=4, name="energy_true")
    xr.testing.assert_identical(
        crab_obs.aeff.gp.interpolate(energy_true=energy_true, offset=0.5),
        irf.interpolate(crab_obs.aeff, energy_true=energy_true, offset=0.5),
    )
    xr.testing.assert_identical(
        crab_obs.psf.gp.containment(0.1, energy_true=1.0, offset=0.5),
        irf.containment(crab_obs.psf, 0.1, energy_true=1.0, offset=0.5),
    )
    xr.testing.assert_identical(
        crab_obs.psf.gp.containment_radius(0.68, energy_true=1.0, offset=0.5),
        irf.containment_radius(crab_obs.psf, 0.68, energy_true=1.0, offset=0.5),
    )
    energy = gx.energy_axis(0.3, 80, nbin=6)
    xr.testing.assert_identical(
        crab_obs.edisp.gp.migration_matrix(energy_true, energy, offset=0.5),
        irf.migration_matrix(crab_obs.edisp, energy_true, energy, offset=0.5),
    )


def test_quantity_edges_and_solid_angle():
    grid = gx.sky_grid((10, 20), width=1, binsz=0.5)
    assert grid.gp.quantity.unit == "sr"
    np.testing.assert_allclose(grid.gp.edges("lon"), [9.5, 10, 10.5])
    geom = gx.make_geom(gx.energy_axis(1, 10, nbin=1), sky=grid)
    xr.testing.assert_identical(geom.gp.solid_angle(), gx.solid_angle(geom))
    np.testing.assert_allclose(geom.gp.edges("energy"), [1, 10])


def test_dataset_psf_verbs_delegate():
    ones = np.ones((2, 2))
    params = xr.Dataset(
        {"gamma": (("energy_true", "offset"), 3 * ones, {"units": ""}),
         "sigma": (("energy_true", "offset"), 0.1 * ones, {"units": "deg"})},
        coords={"energy_true": ("energy_true", [1.0, 10.0], {"units": "TeV", "interp": "log"}),
                "offset": ("offset", [0.0, 1.0], {"units": "deg", "interp": "lin"})},
        attrs={"hdu_class": "psf_king"},
    )  # fmt: skip
    xr.testing.assert_identical(
        params.gp.containment(0.2, energy_true=2.0, offset=0.5),
        irf.containment(params, 0.2, energy_true=2.0, offset=0.5),
    )
    rad = gx.axis_from_edges(np.linspace(0, 1, 11), name="rad", units="deg")
    xr.testing.assert_identical(
        params.gp.evaluate_psf(rad=rad, energy_true=2.0, offset=0.5),
        irf.evaluate_psf(params, rad=rad, energy_true=2.0, offset=0.5),
    )


def test_dataset_stack_and_write_delegate(crab_store, tmp_path):
    geom = gx.make_geom(
        gx.energy_axis(1, 10, nbin=2),
        gx.energy_axis(0.5, 20, nbin=4, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=1, binsz=0.1),
    )
    datasets = [gx.make_map_dataset(obs, geom) for obs in crab_store.observations()[:2]]
    joint = gx.concat_observations(datasets)
    xr.testing.assert_identical(joint.gp.stack(), gx.stack(joint))
    path = joint.gp.write(tmp_path / "joint.nc")
    xr.testing.assert_identical(gx.read_dataset(path).load(), joint)


def test_dataset_fold_npred_and_fit_delegate(crab_obs):
    from gammaxr.fit import fit
    from gammaxr.models import (
        FoVBackgroundModel,
        Models,
        PointSpatialModel,
        PowerLawSpectralModel,
        SkyModel,
        fold,
        npred,
    )

    geom = gx.make_geom(
        gx.energy_axis(1, 10, nbin=3),
        gx.energy_axis(0.5, 20, nbin=6, name="energy_true"),
        sky=gx.sky_grid((83.633, 22.014), width=1, binsz=0.05),
    )
    ds = gx.make_map_dataset(crab_obs, geom).assign_attrs(name="run")
    crab = SkyModel(PowerLawSpectralModel(index=2.6, amplitude=3.8e-11),
                    PointSpatialModel(lon_0=83.633, lat_0=22.014), name="crab")  # fmt: skip
    models = Models([crab, FoVBackgroundModel("run")])
    xr.testing.assert_identical(ds.gp.fold(crab), fold(ds, crab))
    xr.testing.assert_identical(ds.gp.npred(models), npred(ds, models))
    frozen = models.with_parameters(**{"crab.spatial.lon_0": models.parameters[
        "crab.spatial.lon_0"].with_value(83.633, frozen=True)})  # fmt: skip
    a, b = ds.gp.fit(frozen), fit(ds, frozen)
    assert a.statistic == b.statistic and a.success
