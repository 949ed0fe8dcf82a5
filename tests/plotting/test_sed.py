"""SED plots: flux points with asymmetric errors and upper limits, model bands, scans."""

import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import PolyCollection, QuadMesh

import gammaxr as gx
from gammaxr.exceptions import ConfigError, DimensionError, FormatError
from gammaxr.models import PowerLawSpectralModel, SkyModel
from gammaxr.plotting import plot_model_sed, plot_scan, plot_sed, plot_sensitivity
from gammaxr.plotting._sed import model_sed_band

NORM = np.array([1.0, 0.9, 1.1, 0.5, 0.2])
TS = np.array([100.0, 50.0, 30.0, 2.0, 1.0])  # the last two are upper limits
NORM_SCAN = np.linspace(-1, 3, 41)


@pytest.fixture
def fp():
    energy = gx.energy_axis(1, 100, nbin=5)
    ref_dnde = 1e-11 * energy.values**-2.5
    n = NORM.size
    return xr.Dataset(
        {
            "norm": ("energy", NORM, {"units": ""}),
            "norm_err": ("energy", np.full(n, 0.1), {"units": ""}),
            "norm_errn": ("energy", np.array([0.08, 0.09, np.nan, 0.2, 0.2]), {"units": ""}),
            "norm_errp": ("energy", np.array([0.12, 0.11, np.nan, 0.3, 0.3]), {"units": ""}),
            "norm_ul": ("energy", NORM + 0.5, {"units": ""}),
            "ts": ("energy", TS, {"units": ""}),
            "stat": ("energy", np.full(n, 3.0), {"units": ""}),
            "ref_dnde": ("energy", ref_dnde, {"units": "cm-2 s-1 TeV-1"}),
            "ref_e2dnde": ("energy", ref_dnde * energy.values**2, {"units": "TeV cm-2 s-1"}),
            "stat_scan": (
                ("energy", "norm_scan"),
                3.0 + (NORM_SCAN[None, :] - NORM[:, None]) ** 2 / 0.01,
                {"units": ""},
            ),
        },
        coords={**energy.coords, "norm_scan": ("norm_scan", NORM_SCAN, {"units": ""})},
        attrs={"sed_type_init": "likelihood"},
    )


def test_plot_sed_points_errors_and_upper_limits(fp, ax):
    plot_sed(fp, "e2dnde", ax=ax)
    points, limits = ax.containers
    ref = fp.ref_e2dnde.values
    data_line = points.lines[0]
    np.testing.assert_allclose(data_line.get_xdata(), fp.energy.values[:3])
    np.testing.assert_allclose(data_line.get_ydata(), (NORM * ref)[:3])
    # asymmetric y errors (the symmetric one where errn/errp are NaN), x errors = bins
    assert points.has_xerr and points.has_yerr
    x_bars, y_bars = points.lines[2]
    low_high = np.array([seg[:, 1] for seg in y_bars.get_segments()])
    errn = np.array([0.08, 0.09, 0.1]) * ref[:3]
    errp = np.array([0.12, 0.11, 0.1]) * ref[:3]
    np.testing.assert_allclose(low_high[:, 0], (NORM * ref)[:3] - errn)
    np.testing.assert_allclose(low_high[:, 1], (NORM * ref)[:3] + errp)
    x_extent = np.array([seg[:, 0] for seg in x_bars.get_segments()])
    np.testing.assert_allclose(x_extent[:, 0], fp.energy_lo.values[:3])
    np.testing.assert_allclose(x_extent[:, 1], fp.energy_hi.values[:3])
    # upper limits at norm_ul * ref, drawn as downward arrows (uplims caps)
    np.testing.assert_allclose(limits.lines[0].get_ydata(), ((NORM + 0.5) * ref)[3:])
    assert limits.lines[1][0].get_marker() is not None
    assert len(limits.lines[1][0].get_xdata()) == 2
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "Energy (TeV)"
    assert ax.get_ylabel() == "E² dN/dE (TeV cm-2 s-1)"


def test_plot_sed_energy_power_is_ul_and_norm(fp, ax):
    plot_sed(fp, "dnde", ax=ax, energy_power=2)
    np.testing.assert_allclose(
        ax.containers[0].lines[0].get_ydata(), (NORM * fp.ref_e2dnde.values)[:3], rtol=1e-12
    )
    assert ax.get_ylabel() == "dN/dE (TeV2 cm-2 s-1 TeV-1)"
    # an is_ul variable decides instead of ts
    flagged = fp.assign(is_ul=("energy", np.array([True, False, False, False, False])))
    import matplotlib.pyplot as plt

    other = plt.figure().add_subplot()
    plot_sed(flagged, "likelihood", ax=other)
    points, limits = other.containers
    assert len(points.lines[0].get_xdata()) == 4
    assert len(limits.lines[0].get_xdata()) == 1
    assert other.get_yscale() == "linear" and other.get_ylabel() == "Norm"


def test_plot_sed_bad_input(fp, ax):
    with pytest.raises(FormatError, match="norm"):
        plot_sed(fp.drop_vars("norm"), ax=ax)
    with pytest.raises(ConfigError):
        plot_sed(fp, "banana", ax=ax)
    two = xr.concat([fp, fp], dim="time")
    with pytest.raises(DimensionError, match="time"):
        plot_sed(two, ax=ax)
    plot_sed(two.isel(time=[0]), ax=ax)  # size-one dims are fine


def test_model_band_is_linear_error_propagation():
    model = PowerLawSpectralModel(index=2.5, amplitude=1e-11, reference=1.0)
    cov = np.array([[0.01, 2e-14], [2e-14, 1e-24]])  # (index, amplitude)
    energy = np.array([0.5, 1.0, 10.0])
    sigma = model_sed_band(model, energy, cov)
    dnde = 1e-11 * energy**-2.5
    jac = np.stack([-np.log(energy) * dnde, energy**-2.5])
    expected = np.sqrt(np.einsum("ke,kl,le->e", jac, cov, jac))
    np.testing.assert_allclose(sigma, expected, rtol=1e-6)
    assert sigma[1] == pytest.approx(1e-12, rel=1e-6)  # at the reference: the amplitude error
    # a FitResult-style labelled covariance finds the parameters by suffix
    labels = ["crab.spectral.index", "crab.spectral.amplitude"]
    labelled = xr.DataArray(
        cov, dims=("parameter", "parameter_other"),
        coords={"parameter": labels, "parameter_other": labels},
    )  # fmt: skip
    np.testing.assert_allclose(model_sed_band(model, energy, labelled), expected, rtol=1e-6)
    with pytest.raises(ConfigError, match="2 x 2"):
        model_sed_band(model, energy, np.eye(3))


def test_plot_model_sed_line_and_butterfly(ax):
    model = SkyModel(PowerLawSpectralModel(index=2.0, amplitude=1e-11), name="src")
    plot_model_sed(model, (1, 100), ax=ax, n_points=50, covariance=np.diag([0.01, 1e-24]))
    (line,) = ax.lines
    assert len(line.get_xdata()) == 50
    np.testing.assert_allclose(line.get_ydata(), 1e-11, rtol=1e-12)  # E^2 dN/dE of index 2
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    vertices = band.get_paths()[0].vertices
    at_reference = vertices[np.isclose(vertices[:, 0], 1.0), 1]  # 1 TeV: the amplitude error
    np.testing.assert_allclose([at_reference.min(), at_reference.max()], [9e-12, 1.1e-11])
    with pytest.raises(ConfigError, match="sed_type"):
        plot_model_sed(model, (1, 10), ax=ax, sed_type="flux")
    with pytest.raises(ConfigError, match="energy_range"):
        plot_model_sed(model, (10, 1), ax=ax)


def test_plot_scan_image_per_energy_bin(fp, ax):
    plot_scan(fp, ax=ax)
    meshes = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == fp.sizes["energy"]
    for j, mesh in enumerate(meshes):
        values = mesh.get_array().ravel()
        assert values.min() == pytest.approx(0.0, abs=1e-9)  # stat_scan - stat at the best
        best = NORM_SCAN[np.argmin(values)]
        assert best == pytest.approx(NORM[j], abs=0.05)
    colorbar_axes = [a for a in ax.figure.axes if a is not ax]
    assert len(colorbar_axes) == 1 and colorbar_axes[0].get_ylabel() == "Δ stat"
    assert ax.get_ylabel() == "Norm"


def test_plot_scan_in_sed_units_skips_negative_norms(fp, ax):
    plot_scan(fp, ax=ax, sed_type="e2dnde", add_colorbar=False)
    meshes = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 5 and len(ax.figure.axes) == 1
    assert ax.get_yscale() == "log"
    n_positive = (NORM_SCAN > 0).sum()
    assert all(m.get_array().size == n_positive for m in meshes)
    with pytest.raises(FormatError, match="stat_scan"):
        plot_scan(fp.drop_vars("stat_scan"), ax=ax)


def test_plot_sensitivity(ax):
    from gammaxr.estimators.sensitivity import sensitivity

    geom = gx.make_geom(
        gx.energy_axis(0.1, 100, nbin=3), gx.energy_axis(0.1, 100, nbin=3, name="energy_true")
    )
    ds = geom.assign(
        exposure=("energy_true", np.full(3, 1e12), {"units": "cm2 s"}),
        background=("energy", np.array([100.0, 10.0, 1.0]), {"units": ""}),
    )
    sens = sensitivity(ds)
    plot_sensitivity(sens, ax=ax)
    (steps,) = ax.patches
    np.testing.assert_allclose(steps.get_data().values, sens.e2dnde.values)
    assert ax.get_ylabel() == "Sensitivity E² dN/dE (erg cm-2 s-1)"
