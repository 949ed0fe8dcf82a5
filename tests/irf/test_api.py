from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import gammaxr.irf
from gammaxr.exceptions import DimensionError
from gammaxr.irf import evaluate, interpolate


def test_public_names():
    assert sorted(gammaxr.irf.__all__) == [
        "containment",
        "containment_radius",
        "evaluate",
        "evaluate_psf",
        "interpolate",
        "migration_matrix",
        "psf_kind",
        "psf_to_table",
    ]
    for name in gammaxr.irf.__all__:
        assert callable(getattr(gammaxr.irf, name))


def test_evaluate_a_table_is_interpolate(aeff):
    offset = xr.DataArray([0.1, 1.3], dims="pix")
    xr.testing.assert_identical(
        evaluate(aeff, energy_true=2.0, offset=offset),
        interpolate(aeff, energy_true=2.0, offset=offset),
    )


def test_evaluate_a_parametric_psf(energy_true_axis):
    params = xr.Dataset(
        {"gamma": ("energy_true", np.full(12, 2.0)), "sigma": ("energy_true", np.full(12, 0.1))},
        coords=energy_true_axis.coords,
    )
    psf = evaluate(params, rad=[0.0, 0.1], energy_true=1.0)
    assert psf.dims == ("rad",)
    assert psf.attrs["units"] == "sr-1"
    assert float(psf[0]) == pytest.approx((1 - 1 / 2) / (2 * np.pi * np.deg2rad(0.1) ** 2))


def test_evaluate_a_parametric_psf_without_rad_fails(energy_true_axis):
    params = xr.Dataset({"gamma": ("energy_true", [2.0]), "sigma": ("energy_true", [0.1])})
    with pytest.raises(DimensionError, match="rad"):
        evaluate(params, energy_true=1.0)
