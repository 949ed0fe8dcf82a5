"""Map dataset products of run 23523, checked against independent evaluations."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from astropy.coordinates import AltAz, SkyCoord, SkyOffsetFrame
from scipy.integrate import quad
from scipy.interpolate import RegularGridInterpolator

import gammaxr as gx
from gammaxr.exceptions import ConfigError, DimensionError, GeometryError
from gammaxr.reduce import (
    PRODUCTS,
    make_background,
    make_edisp,
    make_exposure,
    make_map_dataset,
    make_psf,
)
from gammaxr.reduce._geometry import altaz_fov, mid_time, observatory_location, rotate_to_fov

CRAB = (83.633, 22.014)

# Sample pixels (energy index, lat index, lon index) spread over the 10 x 40 x 40 cube.
SAMPLES = [(0, 0, 0), (1, 3, 37), (3, 20, 20), (5, 39, 0), (7, 12, 30), (9, 39, 39)]


def test_products_and_schema(dataset):
    assert set(dataset.data_vars) == set(PRODUCTS)
    assert dataset.counts.dims == ("energy", "lat", "lon")
    assert dataset.exposure.dims == ("energy_true", "lat", "lon")
    assert dataset.background.dims == ("energy", "lat", "lon")
    assert dataset.psf.dims == ("energy_true", "rad")
    assert dataset.edisp.dims == ("energy_true", "energy")
    assert dataset.mask_safe.dims == ("energy", "lat", "lon")
    dtypes = {name: var.dtype for name, var in dataset.data_vars.items()}
    assert dtypes == {
        "counts": np.int64,
        "exposure": np.float32,
        "background": np.float32,
        "psf": np.float32,
        "edisp": np.float32,
        "mask_safe": bool,
    }
    units = {name: var.attrs["units"] for name, var in dataset.data_vars.items()}
    assert units == {
        "counts": "",
        "exposure": "m2 s",
        "background": "",
        "psf": "sr-1",
        "edisp": "",
        "mask_safe": "",
    }
    for dim in ("energy", "energy_true", "lat", "lon", "rad"):
        assert f"{dim}_lo" in dataset.coords and f"{dim}_hi" in dataset.coords


def test_attrs_are_netcdf_storable(dataset, crab_obs, tmp_path):
    def storable(value):
        if isinstance(value, bool) or value is None:
            return False
        if isinstance(value, str | int | float | np.integer | np.floating):
            return True
        if isinstance(value, list | tuple):
            return all(storable(item) for item in value)
        return False

    objects = [dataset, *dataset.data_vars.values(), *dataset.coords.values()]
    for obj in objects:
        bad = {key: value for key, value in obj.attrs.items() if not storable(value)}
        assert not bad, f"{getattr(obj, 'name', 'dataset')}: {bad}"
    attrs = dataset.attrs
    assert attrs["obs_id"] == 23523
    assert attrs["livetime"] == pytest.approx(crab_obs.livetime)
    assert attrs["ontime"] == pytest.approx(1687.0)
    assert attrs["pointing_ra"] == pytest.approx(83.633333333333)
    assert attrs["pointing_dec"] == pytest.approx(21.514444444444)
    assert attrs["pointing_alt"] == pytest.approx(41.3897890380338)
    assert attrs["frame"] == "icrs"
    assert attrs["irf_offset"] == pytest.approx(0.49956, abs=1e-5)
    path = tmp_path / "dataset.nc"
    dataset.to_netcdf(path)
    with xr.open_dataset(path) as back:
        back.load()
    xr.testing.assert_identical(back, dataset)
    assert {name: var.dtype for name, var in back.data_vars.items()} == {
        name: var.dtype for name, var in dataset.data_vars.items()
    }


def test_counts_equal_a_direct_pandas_count(dataset, crab_obs, geom):
    events = crab_obs.events
    energy_edges, lat_edges, lon_edges = (
        gx.conventions.edges(geom, dim) for dim in ("energy", "lat", "lon")
    )
    binned = pd.DataFrame(
        {
            "energy": pd.cut(events["energy"], energy_edges, right=False, labels=False),
            "lat": pd.cut(events["dec"], lat_edges, right=False, labels=False),
            "lon": pd.cut(events["ra"], lon_edges, right=False, labels=False),
        }
    ).dropna()
    expected = np.zeros((energy_edges.size - 1, lat_edges.size - 1, lon_edges.size - 1), int)
    for (i, j, k), n in binned.astype(int).value_counts().items():
        expected[i, j, k] = n
    np.testing.assert_array_equal(dataset.counts.values, expected)
    inside = events.query(
        f"{energy_edges[0]} <= energy < {energy_edges[-1]} and "
        f"{lat_edges[0]} <= dec < {lat_edges[-1]} and {lon_edges[0]} <= ra < {lon_edges[-1]}"
    )
    assert int(dataset.counts.sum()) == len(inside) == 1980


def _pixel(geom, j, k):
    return float(geom.lon.values[k]), float(geom.lat.values[j])


def _offset(obs, lon, lat):
    pointing = SkyCoord(obs.pointing.ra, obs.pointing.dec, unit="deg")
    return float(pointing.separation(SkyCoord(lon, lat, unit="deg")).deg)


def test_exposure_matches_an_independent_evaluation(dataset, crab_obs, geom):
    aeff = crab_obs.aeff
    interp = RegularGridInterpolator(
        (np.log(aeff.energy_true.values), aeff.offset.values), aeff.values
    )
    for i, j, k in SAMPLES:
        i = min(i, geom.sizes["energy_true"] - 1)
        lon, lat = _pixel(geom, j, k)
        point = (np.log(geom.energy_true.values[i]), _offset(crab_obs, lon, lat))
        expected = float(interp(np.array([point]))[0]) * crab_obs.livetime
        assert float(dataset.exposure[i, j, k]) == pytest.approx(expected, rel=2e-6)


def test_exposure_is_zero_beyond_the_aeff_offset_range(crab_obs):
    far = gx.make_geom(
        gx.energy_axis(1, 10, nbin=1, name="energy_true"),
        sky=gx.sky_grid((crab_obs.pointing.ra, crab_obs.pointing.dec), width=7, binsz=0.5),
    )
    exposure = make_exposure(crab_obs, far)
    offset = gx.reduce._geometry.pixel_offset(far, crab_obs.pointing)
    assert float(exposure.where(offset > 2.5).max()) == 0.0
    assert float(exposure.where(offset < 2.4).min()) > 0.0


def _independent_background(obs, bkg, geom, i, j, k, *, sign=-1.0):
    """quad of the log-log interpolated rate (astropy FoV coordinates) x solid angle x on time."""
    lon, lat = _pixel(geom, j, k)
    pointing = SkyCoord(obs.pointing.ra, obs.pointing.dec, unit="deg")
    fov = SkyCoord(lon, lat, unit="deg").transform_to(SkyOffsetFrame(origin=pointing))
    fov_lon, fov_lat = sign * fov.lon.deg, fov.lat.deg
    log_rate = np.log(np.clip(bkg.values * 1e6, np.finfo(float).tiny, None))  # MeV-1 -> TeV-1
    interp = RegularGridInterpolator(
        (np.log(bkg.energy.values), bkg.fov_lat.values, bkg.fov_lon.values), log_rate
    )
    e_lo, e_hi = float(geom.energy_lo[i]), float(geom.energy_hi[i])
    nodes = bkg.energy.values[(bkg.energy.values > e_lo) & (bkg.energy.values < e_hi)]

    def rate(energy):
        return float(np.exp(interp(np.array([[np.log(energy), fov_lat, fov_lon]]))[0]))

    integral, _ = quad(rate, e_lo, e_hi, points=list(nodes), epsrel=1e-10, limit=200)
    omega = gx.solid_angle(geom).values[j, k]
    return integral * omega * obs.ontime


def test_background_matches_quad_of_the_interpolated_rate(dataset, crab_obs, geom):
    for i, j, k in SAMPLES:
        expected = _independent_background(crab_obs, crab_obs.bkg, geom, i, j, k)
        assert float(dataset.background[i, j, k]) == pytest.approx(expected, rel=1e-5)


def test_background_edges_integration_reproduces_gammapy(crab_obs, geom, gammapy_bkg):
    # Golden numbers from benchmarks/compare_gammapy_map.py (Gammapy 2.1, MapDatasetMaker
    # without background oversampling), with Gammapy's reading of the H.E.S.S. table.
    background = make_background(crab_obs, geom, bkg=gammapy_bkg, integration="edges")
    assert float(background.sum(dtype=float)) == pytest.approx(1180.43651431889, rel=1e-6)
    golden = [0.23087882, 0.08826057, 0.01418385, 0.00272126]
    index = ([0, 3, 6, 9], [0, 20, 33, 39], [0, 20, 7, 39])
    np.testing.assert_allclose(background.values[index], golden, rtol=2e-6)
    # The observation's own (standard-orientation) reading gives the same numbers.
    default = make_background(crab_obs, geom, integration="edges")
    np.testing.assert_allclose(default.values, background.values, rtol=1e-6, atol=1e-12)
    # Exact integration converges to Gammapy's oversampled (x20) total.
    exact = make_background(crab_obs, geom, bkg=gammapy_bkg)
    assert float(exact.sum(dtype=float)) == pytest.approx(1293.4909822293862, rel=1e-3)


def test_reverse_lon_alignment_flips_the_fov_longitude(crab_obs, geom, gammapy_bkg):
    bkg = gammapy_bkg
    background = make_background(crab_obs, geom, bkg=bkg)
    for i, j, k in SAMPLES[:3]:
        expected = _independent_background(crab_obs, bkg, geom, i, j, k, sign=1.0)
        assert float(background[i, j, k]) == pytest.approx(expected, rel=1e-5)


def test_background_agrees_with_the_counts_off_the_crab(dataset):
    # In the safe range (here 1.26-50 TeV), away from the Crab, the background model
    # predicts the counts. (Below the safe threshold it does not: 0.5-0.8 TeV holds
    # about twice the predicted counts in each of the four shipped runs.)
    offset = gx.angular_separation(*CRAB, dataset.lon, dataset.lat)
    field = (offset > 0.3) & dataset.mask_safe
    observed = int(dataset.counts.where(field, 0).sum())
    predicted = float(dataset.background.where(field, 0).sum())
    assert observed == 464
    assert abs(observed - predicted) < 3 * np.sqrt(predicted) + 0.1 * predicted
    # ... and the Crab stands out inside the circle.
    on = (offset <= 0.3) & dataset.mask_safe
    n_on = int(dataset.counts.where(on, 0).sum())
    assert n_on > float(dataset.background.where(on, 0).sum()) + 5 * np.sqrt(n_on)


def test_power_law_background_integrates_exactly(crab_obs, geom, fake_observation,
                                                 power_law_bkg):  # fmt: skip
    bkg = power_law_bkg(amplitude=2e-4, index=2.7)
    fake = fake_observation(pointing=crab_obs.pointing, bkg=bkg, ontime=1200.0)
    omega = gx.solid_angle(geom)
    e_lo, e_hi = geom.energy_lo, geom.energy_hi
    integral = 2e-4 * 1e6 / 1.7 * (e_lo**-1.7 - e_hi**-1.7)  # per MeV -> per TeV
    expected = (integral * omega * 1200.0).transpose("energy", "lat", "lon")
    for integration in ("nodes", "edges"):
        background = make_background(fake, geom, integration=integration)
        np.testing.assert_allclose(background.values, expected.values, rtol=1e-6)


def test_background_is_zero_outside_the_irf(crab_obs):
    far = gx.make_geom(
        gx.energy_axis(0.5, 200, nbin=3),
        sky=gx.sky_grid((crab_obs.pointing.ra, crab_obs.pointing.dec), width=7, binsz=0.5),
    )
    background = make_background(crab_obs, far)
    fov_lon, fov_lat = gx.reduce._geometry.radec_fov(far, crab_obs.pointing)
    outside = (abs(fov_lon) > 2.5) | (abs(fov_lat) > 2.5)
    assert float(background.where(outside).max()) == 0.0
    assert float(background.where(~outside).min()) > 0.0


def test_fov_rotation_matches_astropy_with_gammapy_sign():
    rng = np.random.default_rng(0)
    for lon0, lat0 in [(83.6, 21.5), (10.0, -60.0), (300.0, 85.0), (0.0, 0.0)]:
        lon = lon0 + rng.uniform(-3, 3, 50)
        lat = np.clip(lat0 + rng.uniform(-3, 3, 50), -89.9, 89.9)
        fov_lon, fov_lat = rotate_to_fov(lon, lat, lon0, lat0)
        origin = SkyCoord(lon0, lat0, unit="deg")
        fov = SkyCoord(lon, lat, unit="deg").transform_to(SkyOffsetFrame(origin=origin))
        np.testing.assert_allclose(fov_lon, -fov.lon.wrap_at(180 * u.deg).deg, atol=1e-9)
        np.testing.assert_allclose(fov_lat, fov.lat.deg, atol=1e-9)
    # East of the pointing (larger RA) has negative fov_lon; north positive fov_lat.
    east, north = rotate_to_fov(np.array([84.6, 83.6]), np.array([21.5, 22.5]), 83.6, 21.5)
    assert east[0] < 0 and abs(east[1]) < 1e-9 and north[1] > 0


def test_altaz_fov_coordinates(crab_obs, geom, fake_observation):
    fov_lon, fov_lat = altaz_fov(geom, crab_obs)
    attrs = crab_obs.events.attrs
    frame = AltAz(obstime=mid_time(attrs), location=observatory_location(attrs))
    pointing = SkyCoord(crab_obs.pointing.ra, crab_obs.pointing.dec, unit="deg")
    origin = pointing.transform_to(frame)
    for j, k in [(0, 0), (20, 20), (39, 5)]:
        lon, lat = _pixel(geom, j, k)
        altaz = SkyCoord(lon, lat, unit="deg").transform_to(frame)
        offset_frame = SkyOffsetFrame(origin=origin)
        fov = SkyCoord(az=altaz.az, alt=altaz.alt, frame=frame).transform_to(offset_frame)
        assert float(fov_lon[j, k]) == pytest.approx(-fov.lon.deg, abs=1e-7)
        assert float(fov_lat[j, k]) == pytest.approx(fov.lat.deg, abs=1e-7)
    # The mid-time pointing is close to the mean ALTAZ of the run header.
    assert origin.alt.deg == pytest.approx(crab_obs.pointing.alt, abs=1.0)
    # A background exp(fov_lat) (growing towards the zenith) is interpolated exactly in
    # log scale, so background / solid angle follows exp(fov_lat) of each pixel.
    shape = crab_obs.bkg.shape
    rate = np.broadcast_to(np.exp(crab_obs.bkg.fov_lat.values)[None, :, None] * 1e-4, shape)
    bkg = crab_obs.bkg.copy(data=rate.copy()).assign_attrs(fovalign="ALTAZ")
    fake = fake_observation(pointing=crab_obs.pointing, bkg=bkg, events=crab_obs.events)
    background = make_background(fake, geom).isel(energy=0).astype(float)
    residual = np.log(background / gx.solid_angle(geom)) - fov_lat
    assert float(residual.std()) < 1e-6


def test_psf_is_normalised_and_follows_the_table(dataset, crab_obs, geom):
    psf = dataset.psf.astype(float)
    annulus = 2 * np.pi * (np.cos(np.deg2rad(psf.rad_lo)) - np.cos(np.deg2rad(psf.rad_hi)))
    np.testing.assert_allclose((psf * annulus).sum("rad"), 1.0, rtol=1e-5)
    table = crab_obs.psf
    interp = RegularGridInterpolator(
        (np.log(table.energy_true.values), table.offset.values, table.rad.values),
        table.values,
        bounds_error=False,
        fill_value=None,
    )
    offset = dataset.attrs["irf_offset"]
    for i in (2, 8, 15):
        rad = psf.rad.values[5:60]
        points = np.stack(
            [np.full(rad.size, np.log(geom.energy_true.values[i])), np.full(rad.size, offset),
             rad], axis=-1
        )  # fmt: skip
        raw = interp(points)
        ratio = psf.values[i, 5:60] / raw
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)


def test_edisp_rows_are_normalised(dataset):
    edisp = dataset.edisp.astype(float)
    # Rows whose migra range [0.2, 5] E_true lies inside 0.5-50 TeV sum to one.
    covered = (0.2 * edisp.energy_true > 0.5) & (5 * edisp.energy_true < 50)
    np.testing.assert_allclose(edisp.sum("energy").where(covered, drop=True), 1.0, atol=2e-3)
    assert float(edisp.sum("energy").max()) <= 1 + 1e-5
    # Golden row (E_true = 2.65 TeV) from Gammapy 2.1's EDispKernelMap.
    golden = [1.02197106e-02, 8.20180392e-02, 4.86523243e-01, 3.56915776e-01,
              5.66870089e-02, 7.54194620e-03, 5.45884544e-05, 0, 0, 0]  # fmt: skip
    np.testing.assert_allclose(edisp.values[6], golden, atol=1e-7)


def test_psf_and_edisp_position_options(crab_obs, geom):
    at_offset = make_psf(crab_obs, geom, offset=1.5)
    assert at_offset.attrs["offset"] == 1.5
    pointing = (crab_obs.pointing.ra, crab_obs.pointing.dec)
    at_pointing = make_edisp(crab_obs, geom, position=pointing)
    assert at_pointing.attrs["offset"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(GeometryError, match="at most one"):
        make_psf(crab_obs, geom, offset=1.0, position=pointing)


def test_galactic_geometry_gives_the_same_exposure(crab_obs):
    crab = SkyCoord(*CRAB, unit="deg")
    galactic = gx.make_geom(
        gx.energy_axis(1, 10, nbin=2, name="energy_true"),
        sky=gx.sky_grid(crab, width=1, binsz=0.1, frame="galactic"),
    )
    exposure = make_exposure(crab_obs, galactic)
    centre = exposure.isel(lat=5, lon=5)
    lon, lat = float(galactic.lon[5]), float(galactic.lat[5])
    icrs = SkyCoord(lon, lat, unit="deg", frame="galactic").icrs
    icrs_geom = gx.make_geom(
        gx.energy_axis(1, 10, nbin=2, name="energy_true"),
        sky=gx.sky_grid((icrs.ra.deg, icrs.dec.deg), width=0.1, binsz=0.1),
    )
    expected = make_exposure(crab_obs, icrs_geom).isel(lat=0, lon=0)
    np.testing.assert_allclose(centre.values, expected.values, rtol=1e-6)


def test_invalid_options_raise(crab_obs, geom):
    with pytest.raises(ConfigError, match="unknown products"):
        make_map_dataset(crab_obs, geom, products=("counts", "flux"))
    with pytest.raises(ConfigError, match="unknown safe-mask"):
        make_map_dataset(crab_obs, geom, safe_mask=["aeff-min"])
    with pytest.raises(ConfigError, match="integration"):
        make_background(crab_obs, geom, integration="trapezoid")  # type: ignore[arg-type]
    bad = crab_obs.bkg.assign_attrs(fovalign="GALACTIC")
    with pytest.raises(ConfigError, match="fovalign"):
        make_background(crab_obs, geom, bkg=bad)
    with pytest.raises(DimensionError, match="energy_true"):
        make_map_dataset(crab_obs, geom.drop_dims("energy_true"))
    with pytest.raises(DimensionError, match="bkg"):
        make_background(crab_obs, geom, bkg=crab_obs.bkg.rename(fov_lon="x"))


def test_products_subset(crab_obs, geom):
    ds = make_map_dataset(crab_obs, geom.drop_dims("energy_true"), products=("counts",))
    assert list(ds.data_vars) == ["counts"]
    assert "safe_mask" not in ds.attrs and "irf_offset" not in ds.attrs


# --- the numpy paths give the numbers of the xarray formulation --------------------------


def test_pixel_geometry_matches_astropy_on_a_galactic_grid(crab_obs):
    from gammaxr.reduce._geometry import pixel_offset, pixel_radec, radec_fov

    grid = gx.sky_grid((184.557, -5.784), width=(10, 8), binsz=0.05, frame="galactic")
    lon2d, lat2d = np.meshgrid(grid.lon.values, grid.lat.values)
    icrs = SkyCoord(lon2d, lat2d, unit="deg", frame="galactic").icrs
    ra, dec = pixel_radec(grid)
    assert gx.angular_separation(ra, dec, icrs.ra.deg, icrs.dec.deg).max() < 1e-10
    pointing = crab_obs.pointing
    expected = SkyCoord(pointing.ra, pointing.dec, unit="deg").separation(icrs).deg
    np.testing.assert_allclose(pixel_offset(grid, pointing).values, expected, rtol=0, atol=1e-10)
    fov = icrs.transform_to(SkyOffsetFrame(origin=pointing.radec))
    fov_lon, fov_lat = radec_fov(grid, pointing)
    np.testing.assert_allclose(fov_lon, -fov.lon.wrap_at(180 * u.deg).deg, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fov_lat, fov.lat.deg, rtol=0, atol=1e-10)


def test_segment_sums_are_reduceat_bit_for_bit():
    from gammaxr.reduce.map import _sum_segments

    rng = np.random.default_rng(8)
    for _ in range(300):
        n = int(rng.integers(1, 30))
        segments = rng.normal(size=(n, 3, 4)) * 10.0 ** rng.uniform(-8, 8, (n, 1, 1))
        starts = np.unique(np.concatenate([[0], rng.integers(0, n, int(rng.integers(0, n)))]))
        expected = np.add.reduceat(segments, starts, axis=0)
        np.testing.assert_array_equal(_sum_segments(segments, starts), expected)


@pytest.mark.parametrize("offset", [0.0, 0.6, 1.7, 2.9])
def test_psf_and_edisp_at_one_offset_equal_the_general_path(crab_obs, geom, offset):
    """A 0-d offset DataArray takes the xarray path of migration_matrix and evaluate."""
    general = xr.DataArray(offset)
    for make in (make_psf, make_edisp):
        fast, reference = make(crab_obs, geom, offset=offset), make(crab_obs, geom, offset=general)
        assert fast.attrs == {"units": reference.attrs["units"], "offset": offset}
        xr.testing.assert_identical(fast.drop_attrs(), reference.drop_attrs())


def test_dataset_is_the_products_of_the_public_makers(crab_obs, geom):
    from gammaxr.reduce import make_safe_mask

    methods = {"offset-max": {"offset_max": 0.8}, "aeff-default": {}, "edisp-bias": {}}
    ds = make_map_dataset(crab_obs, geom, safe_mask=methods)
    background = make_background(crab_obs, geom)
    edisp = make_edisp(crab_obs, geom)
    counts = gx.bin_events(crab_obs.events, geom)
    expected = {
        "counts": counts,
        "exposure": make_exposure(crab_obs, geom),
        "background": background,
        "psf": make_psf(crab_obs, geom),
        "edisp": edisp,
        "mask_safe": make_safe_mask(crab_obs, geom, methods, background=background, edisp=edisp),
    }
    assert list(ds.data_vars) == list(expected)
    for name, da in expected.items():
        xr.testing.assert_equal(ds[name], da)
        assert ds[name].attrs == {"units": da.attrs["units"]}
        assert ds[name].dtype == da.dtype
    assert ds.attrs["irf_offset"] == edisp.attrs["offset"]
    assert int(ds.mask_safe.sum()) > 0 and not ds.mask_safe.all()
