from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.stats import norm

import gammaxr as gx
from gammaxr.exceptions import DimensionError
from gammaxr.irf import migration_matrix

MEANS, WIDTH = np.array([0.9, 1.0, 1.1]), 0.15  # Gaussian in migra, one mean per energy node


@pytest.fixture
def true_axis():
    return gx.energy_axis(0.1, 100, nbin=3, name="energy_true")


@pytest.fixture
def gauss_edisp(true_axis, offset_nodes, make_irf):
    """dP/dmigra of a Gaussian: bin averages on fine migra bins (normalised over the table's
    range, which misses 1.5e-6 of the Gaussian), constant in offset."""
    migra = gx.axis_from_edges(np.linspace(0.2, 3.0, 1401), name="migra")
    cdf = norm.cdf(migra.migra_hi.values, MEANS[:, None], WIDTH)
    cdf -= norm.cdf(migra.migra_lo.values, MEANS[:, None], WIDTH)
    density = cdf / cdf.sum(axis=1, keepdims=True) / np.diff(np.linspace(0.2, 3.0, 1401))
    values = np.broadcast_to(density[:, :, None], (3, migra.size, offset_nodes.size))
    return make_irf(true_axis, migra, offset_nodes, values=values, units="")


def test_gaussian_migration_matches_the_analytic_cdf(gauss_edisp, true_axis):
    energy = gx.energy_axis(0.03, 300, per_decade=20)
    matrix = migration_matrix(gauss_edisp, true_axis, energy, offset=0.5)
    assert matrix.dims == ("energy_true", "energy")
    assert matrix.attrs["units"] == ""
    e_true = true_axis.values[:, None]
    expected = norm.cdf(energy.energy_hi.values / e_true, MEANS[:, None], WIDTH)
    expected -= norm.cdf(energy.energy_lo.values / e_true, MEANS[:, None], WIDTH)
    np.testing.assert_allclose(matrix.values, expected, atol=2e-5)


def test_rows_sum_to_one_when_the_reco_axis_covers_migra(gauss_edisp):
    energy_true = gx.energy_axis(0.2, 50, per_decade=7, name="energy_true")
    energy = gx.energy_axis(0.01, 1000, per_decade=10)
    matrix = migration_matrix(gauss_edisp, energy_true, energy, offset=1.2)
    np.testing.assert_allclose(matrix.sum("energy").values, 1.0, rtol=1e-9)
    assert np.all(matrix.values >= 0)


def test_axes_may_be_given_by_keyword(gauss_edisp, true_axis):
    energy = gx.energy_axis(0.1, 100, nbin=5)
    xr.testing.assert_identical(
        migration_matrix(gauss_edisp, energy_true=true_axis, energy=energy, offset=0.5),
        migration_matrix(gauss_edisp, true_axis, energy, offset=0.5),
    )


def test_offset_map_broadcasts_by_name(gauss_edisp, true_axis):
    energy = gx.energy_axis(0.1, 100, nbin=5)
    offset = xr.DataArray(np.linspace(0, 2, 6).reshape(2, 3), dims=("lat", "lon"))
    matrix = migration_matrix(gauss_edisp, true_axis, energy, offset=offset)
    assert matrix.dims == ("energy_true", "energy", "lat", "lon")
    assert "energy_lo" in matrix.coords
    assert "energy_true_hi" in matrix.coords


def test_migration_matrix_stays_lazy(gauss_edisp, true_axis, raise_if_dask_computes):
    energy = gx.energy_axis(0.1, 100, nbin=5)
    offset = xr.DataArray(np.linspace(0, 2, 6), dims="pix")
    with raise_if_dask_computes():
        lazy = migration_matrix(gauss_edisp, true_axis, energy, offset=offset.chunk(2))
    assert lazy.chunks is not None
    expected = migration_matrix(gauss_edisp, true_axis, energy, offset=offset)
    xr.testing.assert_allclose(lazy.compute(), expected)


def test_hess_edisp_rows_sum_to_one(crab_obs):
    energy_true = gx.energy_axis(0.3, 90, per_decade=10, name="energy_true")
    energy = gx.energy_axis(0.01, 1000, per_decade=10)
    offset = xr.DataArray([0.25, 0.5, 1.0, 1.75, 2.5], dims="pix")
    matrix = migration_matrix(crab_obs.edisp, energy_true, energy, offset=offset)
    # Measured: |row sum - 1| < 5e-7 from 0.3 to 90 TeV at all offsets.
    np.testing.assert_allclose(matrix.sum("energy").values, 1.0, atol=1e-5)


# --- validation -------------------------------------------------------------------------


def test_edisp_without_migra_fails(gauss_edisp, true_axis):
    with pytest.raises(DimensionError, match="migra"):
        migration_matrix(gauss_edisp.isel(migra=0), true_axis, gx.energy_axis(1, 10, nbin=2))


def test_migra_nodes_fail(gauss_edisp, true_axis):
    nodes = gauss_edisp.drop_vars(["migra_lo", "migra_hi"])
    with pytest.raises(DimensionError, match="nodes"):
        migration_matrix(nodes, true_axis, gx.energy_axis(1, 10, nbin=2))


def test_reco_axis_without_edges_fails(gauss_edisp, true_axis):
    energy = gx.energy_axis(1, 10, nbin=2).drop_vars(["energy_lo", "energy_hi"])
    with pytest.raises(DimensionError, match="energy"):
        migration_matrix(gauss_edisp, true_axis, energy)


def test_true_axis_on_the_wrong_dim_fails(gauss_edisp):
    energy = gx.energy_axis(1, 10, nbin=2)
    with pytest.raises(DimensionError, match="energy_true"):
        migration_matrix(gauss_edisp, energy, energy)


def test_energy_dims_among_coordinates_fail(gauss_edisp, true_axis):
    with pytest.raises(DimensionError, match="set by the energy axes"):
        migration_matrix(gauss_edisp, true_axis, gx.energy_axis(1, 10, nbin=2), migra=1.0)
