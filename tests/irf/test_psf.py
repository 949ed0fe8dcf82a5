from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import gammaxr as gx
from gammaxr.exceptions import DimensionError, UnitError
from gammaxr.irf import containment, containment_radius, evaluate, psf_kind, psf_to_table

SIGMAS = np.array([0.05, 0.1])  # deg, one per energy_true node
FRACTIONS = np.array([0.1, 0.39, 0.68, 0.9, 0.95])


@pytest.fixture
def fine_rad():
    return gx.axis_from_edges(np.linspace(0, 1.5, 1501), name="rad", units="deg")


@pytest.fixture
def energy_nodes(node_axis):
    return node_axis([1.0, 10.0], name="energy_true", units="TeV", interp="log")


@pytest.fixture
def offset_pair(node_axis):
    return node_axis([0.0, 2.0], name="offset")


@pytest.fixture
def gauss_table(fine_rad, energy_nodes, offset_pair, make_irf):
    """A Gaussian PSF table, normalised in the small-angle approximation."""
    sigma = SIGMAS[:, None, None]
    rad = fine_rad.values[None, None, :]
    values = np.exp(-(rad**2) / (2 * sigma**2)) / (2 * np.pi * np.deg2rad(sigma) ** 2)
    values = np.broadcast_to(values, (2, 2, fine_rad.size))
    return make_irf(energy_nodes, offset_pair, fine_rad, values=values, units="sr-1")


def _params(variables: dict, energy_nodes, offset_pair) -> xr.Dataset:
    """A parametric PSF Dataset: each variable given per energy node, constant in offset."""
    coords = {**energy_nodes.coords, **offset_pair.coords}
    data = {
        name: (("energy_true", "offset"), np.repeat(np.asarray(value, float)[:, None], 2, 1))
        for name, value in variables.items()
    }
    dataset = xr.Dataset(data, coords=coords)
    for name in dataset.data_vars:
        dataset[name].attrs["units"] = "deg" if str(name).startswith("sigma") else ""
    return dataset


@pytest.fixture
def king(energy_nodes, offset_pair):
    return _params({"gamma": [1.5, 3.0], "sigma": SIGMAS}, energy_nodes, offset_pair)


@pytest.fixture
def three_gauss(energy_nodes, offset_pair):
    variables = {
        "scale": [0.3, 7.0],
        "sigma_1": SIGMAS,
        "ampl_2": [0.5, 0.2],
        "sigma_2": [0.1, 0.2],
        "ampl_3": [0.1, 0.0],
        "sigma_3": [0.3, 0.0],
    }
    return _params(variables, energy_nodes, offset_pair)


def _king_containment(rad, gamma, sigma):
    return 1 - (1 + rad**2 / (2 * gamma * sigma**2)) ** (1 - gamma)


def _king_radius(fraction, gamma, sigma):
    return sigma * np.sqrt(2 * gamma * ((1 - fraction) ** (1 / (1 - gamma)) - 1))


# --- table PSF --------------------------------------------------------------------------


def test_gaussian_table_containment(gauss_table):
    rad = xr.DataArray([0.01, 0.05, 0.1, 0.2, 0.3], dims="r")
    result = containment(gauss_table, rad, energy_true=[1.0, 10.0], offset=1.0)
    expected = 1 - np.exp(-(rad.values[None, :] ** 2) / (2 * SIGMAS[:, None] ** 2))
    assert result.dims == ("energy_true", "r")
    assert result.attrs["units"] == ""
    np.testing.assert_allclose(result.values, expected, atol=1e-4)


def test_gaussian_table_containment_radius(gauss_table):
    result = containment_radius(gauss_table, FRACTIONS, energy_true=[1.0, 10.0], offset=1.0)
    expected = SIGMAS[:, None] * np.sqrt(-2 * np.log(1 - FRACTIONS))
    assert result.dims == ("energy_true", "fraction")
    assert result.attrs["units"] == "deg"
    np.testing.assert_allclose(result.values, expected, rtol=1e-3)


def test_table_containment_is_exact_over_annuli(gauss_table):
    rad = gauss_table.rad
    annulus = 2 * np.pi * (np.cos(np.deg2rad(rad.rad_lo)) - np.cos(np.deg2rad(rad.rad_hi)))
    at_edge = containment(gauss_table, float(rad.rad_hi[99]))
    expected = (gauss_table * annulus).isel(rad=slice(0, 100)).sum("rad")
    np.testing.assert_allclose(at_edge.values, expected.values, rtol=1e-12)


def test_containment_clamps_radius(gauss_table):
    inside = containment(gauss_table, [-1.0, 0.0, 5.0], fill_value=np.nan)
    np.testing.assert_array_equal(inside.isel(rad=[0, 1]), 0.0)
    np.testing.assert_allclose(inside.isel(rad=2), containment(gauss_table, 1.5))


def test_radius_is_nan_where_the_fraction_is_never_reached(gauss_table):
    half = gauss_table.where(gauss_table.rad < 0.02, 0.0)
    radius = containment_radius(half, [0.01, 0.99], energy_true=10.0, offset=0.0)
    assert np.isfinite(radius.values[0])
    assert np.isnan(radius.values[1])


def test_rad_max_broadcasts_by_name(gauss_table):
    energy = xr.DataArray([1.0, 3.0, 10.0], dims="energy_true", coords={"energy_true": [1, 3, 10]})
    rad_max = xr.DataArray([0.05, 0.1, 0.2], dims="energy_true", coords=energy.coords)
    result = containment(gauss_table, rad_max, energy_true=energy, offset=0.0)
    assert result.dims == ("energy_true",)
    single = [containment(gauss_table, r, energy_true=e, offset=0.0) for e, r in [(3, 0.1)]]
    assert float(result[1]) == pytest.approx(float(single[0]))


def test_table_containment_stays_lazy(gauss_table, raise_if_dask_computes):
    offset = xr.DataArray(np.linspace(0, 2, 12).reshape(3, 4), dims=("lat", "lon"))
    with raise_if_dask_computes():
        inside = containment(gauss_table, 0.1, energy_true=2.0, offset=offset.chunk({"lat": 1}))
        radius = containment_radius(gauss_table, 0.68, offset=offset.chunk({"lat": 1}))
    assert inside.chunks is not None
    assert radius.chunks is not None
    xr.testing.assert_allclose(
        radius.compute(), containment_radius(gauss_table, 0.68, offset=offset)
    )


# --- parametric PSFs --------------------------------------------------------------------


def test_king_containment_is_analytic(king):
    rad = np.array([0.01, 0.05, 0.2, 1.0])
    result = containment(king, rad, energy_true=[1.0, 10.0], offset=0.5)
    expected = _king_containment(rad[None, :], np.array([[1.5], [3.0]]), SIGMAS[:, None])
    np.testing.assert_allclose(result.values, expected, rtol=1e-12)


def test_king_containment_radius(king):
    result = containment_radius(king, FRACTIONS, energy_true=[1.0, 10.0], offset=0.5)
    expected = _king_radius(FRACTIONS[None, :], np.array([[1.5], [3.0]]), SIGMAS[:, None])
    np.testing.assert_allclose(result.values, expected, rtol=2e-4)


def test_king_table_is_normalised_density(king, fine_rad):
    table = psf_to_table(king, fine_rad)
    assert table.dims == ("energy_true", "offset", "rad")
    assert table.attrs["units"] == "sr-1"
    gamma, sigma = 3.0, np.deg2rad(0.1)
    r = np.deg2rad(fine_rad.values[10])
    expected = (1 - 1 / gamma) / (2 * np.pi * sigma**2) * (1 + r**2 / (2 * gamma * sigma**2)) ** -3
    assert float(table[1, 0, 10]) == pytest.approx(expected, rel=1e-12)
    at_edge = containment(table, 1.0, energy_true=10.0, offset=0.0)
    analytic = containment(king, 1.0, energy_true=10.0, offset=0.0)
    assert float(at_edge) == pytest.approx(float(analytic), abs=2e-4)


def test_three_gauss_is_normalised_and_ignores_scale(three_gauss, fine_rad):
    table = psf_to_table(three_gauss, fine_rad)
    rescaled = psf_to_table(three_gauss.assign(scale=three_gauss.scale * 10), fine_rad)
    xr.testing.assert_identical(table, rescaled)
    total = containment(three_gauss, 30.0)
    np.testing.assert_allclose(total.values, 1.0, rtol=1e-12)
    np.testing.assert_allclose(containment(table, 1.5).values, 1.0, atol=5e-4)
    amplitudes, sigmas = np.array([1, 0.5, 0.1]), np.array([0.05, 0.1, 0.3])
    r = float(fine_rad[3])
    profile = np.sum(amplitudes * np.exp(-(r**2) / (2 * sigmas**2)))
    norm = 2 * np.pi * np.sum(amplitudes * np.deg2rad(sigmas) ** 2)
    assert float(table[0, 0, 3]) == pytest.approx(profile / norm, rel=1e-12)


def test_three_gauss_radius_matches_its_table(three_gauss, fine_rad):
    table = psf_to_table(three_gauss, fine_rad)
    analytic = containment_radius(three_gauss, FRACTIONS, energy_true=3.0, offset=1.0)
    tabulated = containment_radius(table, FRACTIONS, energy_true=3.0, offset=1.0)
    np.testing.assert_allclose(analytic.values, tabulated.values, rtol=2e-3)


def test_unfilled_cells_give_zero_psf(king, three_gauss, fine_rad):
    for params in (king, three_gauss):
        names = list(params.data_vars)
        broken = params.copy(deep=True)
        for name in names:
            broken[name][0, 0] = 0.0
            broken[name][1, 1] = np.nan
        table = psf_to_table(broken, fine_rad)
        assert np.all(table.values[0, 0] == 0)
        assert np.all(table.values[1, 1] == 0)
        assert np.all(table.values[0, 1] > 0)
        inside, intact = containment(broken, 1.0), containment(params, 1.0)
        np.testing.assert_array_equal(inside.values, intact.values * [[0, 1], [1, 0]])
        radius = containment_radius(broken, 0.5)
        np.testing.assert_array_equal(np.isnan(radius.values), [[True, False], [False, True]])


def test_parametric_evaluate_interpolates_between_node_psfs(king):
    rad = np.array([0.0, 0.05, 0.1])
    middle = evaluate(king, rad=rad, energy_true=np.sqrt(10.0), offset=0.7)
    nodes = evaluate(king, rad=rad, energy_true=[1.0, 10.0], offset=0.7)
    np.testing.assert_allclose(middle.values, nodes.mean("energy_true").values, rtol=1e-12)
    assert middle.attrs["units"] == "sr-1"
    table = psf_to_table(king, xr.DataArray(rad, dims="rad", coords={"rad": rad}))
    np.testing.assert_allclose(nodes.values, table.isel(offset=0).values, rtol=1e-12)


def test_parametric_containment_stays_lazy(king, raise_if_dask_computes):
    offset = xr.DataArray(np.linspace(0, 2, 6), dims="pix").chunk(2)
    with raise_if_dask_computes():
        inside = containment(king, 0.1, energy_true=2.0, offset=offset)
    assert inside.chunks is not None
    expected = containment(king, 0.1, energy_true=2.0, offset=offset.compute())
    xr.testing.assert_allclose(inside.compute(), expected)


# --- real data --------------------------------------------------------------------------


def test_hess_psf_table_integrates_to_one_where_filled(crab_obs):
    total = containment(crab_obs.psf, 10.0)
    # Filled from ~0.27 TeV: 0.9963-1.0000; the bins below 0.1 TeV are empty (zero).
    assert float(total.sel(energy_true=slice(0.25, None)).min()) > 0.995
    assert float(total.max()) < 1.0001
    np.testing.assert_array_equal(total.sel(energy_true=slice(None, 0.1)).values, 0.0)


def test_hess_r68_at_1tev(crab_obs):
    r68 = containment_radius(crab_obs.psf, 0.68, energy_true=1.0, offset=0.5)
    assert float(r68) == pytest.approx(0.1227, abs=1e-3)


@pytest.mark.requires_data
def test_cta_3gauss_psf(data_dir):
    path = data_dir / "cta-1dc/caldb/data/cta/1dc/bcf/South_z20_50h/irf_file.fits"
    params = gx.read_irf(path, "POINT SPREAD FUNCTION", hdu_class="psf_3gauss")
    assert psf_kind(params) == "psf_3gauss"
    total = containment(params, 30.0)
    filled = params.sigma_1 > 0
    np.testing.assert_allclose(total.where(filled, 1.0), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(total.where(~filled, 0.0), 0.0)
    rad = gx.axis_from_edges(np.linspace(0, 2, 2001), name="rad", units="deg")
    radius = containment_radius(params, 0.68, energy_true=1.0, offset=[0.5, 2.5])
    tabulated = containment_radius(
        psf_to_table(params, rad), 0.68, energy_true=1.0, offset=[0.5, 2.5]
    )
    np.testing.assert_allclose(radius, tabulated, rtol=1e-3)
    assert 0.03 < float(radius[0]) < 0.08


# --- validation -------------------------------------------------------------------------


def test_table_without_rad_fails(gauss_table):
    with pytest.raises(DimensionError, match="rad"):
        containment(gauss_table.isel(rad=0), 0.1)


def test_table_with_node_rad_fails(gauss_table):
    with pytest.raises(DimensionError, match="nodes"):
        containment(gauss_table.drop_vars(["rad_lo", "rad_hi"]), 0.1)


def test_dataset_without_parameters_fails(king):
    with pytest.raises(DimensionError, match="psf_king"):
        containment(king.drop_vars("gamma"), 0.1)


def test_psf_to_table_of_a_table_fails(gauss_table, fine_rad):
    with pytest.raises(DimensionError, match="parametric"):
        psf_to_table(gauss_table, fine_rad)


def test_non_xarray_psf_fails():
    with pytest.raises(DimensionError, match="ndarray"):
        containment(np.ones(3), 0.1)


def test_unknown_coordinate_fails(king):
    with pytest.raises(DimensionError, match="migra"):
        containment(king, 0.1, migra=1.0)


def test_rad_among_coordinates_fails(gauss_table, king):
    for psf in (gauss_table, king):
        with pytest.raises(DimensionError, match="second argument"):
            containment_radius(psf, 0.68, rad=0.1)
        with pytest.raises(DimensionError, match="second argument"):
            containment(psf, 0.1, rad=0.1)


def test_table_in_wrong_units_fails(gauss_table):
    with pytest.raises(UnitError, match="sr"):
        containment(gauss_table.assign_attrs(units="m2"), 0.1)
