"""Light curves, profiles, and the .gp.plot dispatch."""

import ast
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import QuadMesh

import gammaxr as gx
import gammaxr.plotting
from gammaxr.exceptions import ConfigError, FormatError
from gammaxr.plotting import plot, plot_kind, plot_light_curve, plot_profile

MJD = np.array([55000.0, 55000.5, 55001.0, 55003.0])


def light_curve(n_energy=1):
    n_time = MJD.size
    energy = gx.energy_axis(1, 100, nbin=n_energy)
    shape = (n_time, n_energy)
    norm = np.tile([[1.0], [1.2], [0.8], [0.3]], (1, n_energy))
    ts = np.tile([[50.0], [40.0], [30.0], [1.0]], (1, n_energy))  # last bin: upper limit
    ref_flux = np.broadcast_to(2e-11 / (1 + np.arange(n_energy)), shape)
    half = 0.1
    var = lambda values: (("time", "energy"), values, {"units": ""})  # noqa: E731
    return xr.Dataset(
        {
            "norm": var(norm),
            "norm_err": var(np.full(shape, 0.1)),
            "norm_errn": var(np.full(shape, 0.09)),
            "norm_errp": var(np.full(shape, 0.12)),
            "norm_ul": var(norm + 0.4),
            "ts": var(ts),
            "ref_flux": (("time", "energy"), ref_flux, {"units": "cm-2 s-1"}),
        },
        coords={
            **energy.coords,
            "time": ("time", MJD, {"units": "d", "scale": "tt", "format": "mjd"}),
            "time_lo": ("time", MJD - half, {"units": "d"}),
            "time_hi": ("time", MJD + half, {"units": "d"}),
        },
    )


def test_light_curve_points_time_bins_and_upper_limit(ax):
    lc = light_curve()
    plot_light_curve(lc, ax=ax)
    points, limits = ax.containers
    np.testing.assert_allclose(points.lines[0].get_xdata(), MJD[:3])
    np.testing.assert_allclose(points.lines[0].get_ydata(), 2e-11 * np.array([1.0, 1.2, 0.8]))
    x_bars = points.lines[2][0].get_segments()
    np.testing.assert_allclose([s[:, 0] for s in x_bars], np.c_[MJD[:3] - 0.1, MJD[:3] + 0.1])
    y_bars = points.lines[2][1].get_segments()
    np.testing.assert_allclose(y_bars[0][:, 1], 2e-11 * np.array([1 - 0.09, 1 + 0.12]))
    np.testing.assert_allclose(limits.lines[0].get_ydata(), [2e-11 * 0.7])
    assert ax.get_xlabel() == "Time (MJD TT)"
    assert ax.get_ylabel() == "Flux (cm-2 s-1)"


def test_light_curve_several_bands_and_dates(ax):
    plot_light_curve(light_curve(n_energy=2), ax=ax)
    assert len(ax.containers) == 4
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["1–10 TeV", "10–100 TeV"]
    import matplotlib.pyplot as plt

    other = plt.figure().add_subplot()
    plot_light_curve(light_curve(), ax=other, time_format="datetime")
    assert other.get_xlabel() == "Time (UTC)"
    with pytest.raises(ConfigError, match="time_format"):
        plot_light_curve(light_curve(), ax=other, time_format="jd")


def profile_dataset():
    from gammaxr.estimators import annuli, flux_profile

    geom = gx.make_geom(
        gx.energy_axis(1, 10, nbin=2),
        gx.energy_axis(1, 10, nbin=2, name="energy_true"),
        sky=gx.sky_grid((0, 0), width=1.2, binsz=0.05),
    )
    shape = (2, geom.lat.size, geom.lon.size)
    rng = np.random.default_rng(1)
    return flux_profile(
        geom.assign(
            counts=(("energy", "lat", "lon"), rng.poisson(3.0, shape), {"units": ""}),
            background=(("energy", "lat", "lon"), np.full(shape, 1.0), {"units": ""}),
            exposure=(("energy_true", "lat", "lon"), np.full(shape, 1e11), {"units": "cm2 s"}),
        ),
        annuli((0, 0), [0, 0.1, 0.2, 0.4]),
    )


def test_plot_profile_flux_against_radius(ax):
    profile = profile_dataset()
    plot_profile(profile, ax=ax)
    (points,) = ax.containers
    np.testing.assert_allclose(points.lines[0].get_xdata(), [0.05, 0.15, 0.3])
    np.testing.assert_allclose(points.lines[0].get_ydata(), profile.flux.values)
    x_bars = points.lines[2][0].get_segments()
    np.testing.assert_allclose([s[:, 0] for s in x_bars], [[0, 0.1], [0.1, 0.2], [0.2, 0.4]])
    assert ax.get_xlabel() == "Radius (deg)"
    assert ax.get_ylabel() == "flux (cm-2 s-1)"
    import matplotlib.pyplot as plt

    other = plt.figure().add_subplot()
    plot_profile(profile, ax=other, quantity="excess", per_solid_angle=True)
    np.testing.assert_allclose(
        other.containers[0].lines[0].get_ydata(), profile.excess / profile.solid_angle
    )
    assert other.get_ylabel() == "excess (sr-1)"
    with pytest.raises(FormatError, match="banana"):
        plot_profile(profile, ax=other, quantity="banana")


def test_dispatch_by_content_and_accessor(ax):
    lc = light_curve()
    assert plot_kind(lc) == "light_curve"
    assert plot_kind(profile_dataset()) == "profile"
    fp = lc.isel(time=0, drop=True).drop_vars(["time_lo", "time_hi"], errors="ignore")
    assert plot_kind(fp) == "sed"
    grid = gx.sky_grid((0, 0), width=1, binsz=0.1)
    image = xr.DataArray(
        np.ones((grid.lat.size, grid.lon.size)), dims=("lat", "lon"), coords=grid.coords,
        attrs={"frame": "icrs"}, name="ts",
    )  # fmt: skip
    assert plot_kind(image) == "sky_map"
    assert lc.gp.plot(ax=ax) is ax and len(ax.containers) == 2
    import matplotlib.pyplot as plt

    other = plt.figure().add_subplot()
    image.gp.plot(ax=other)
    assert any(isinstance(c, QuadMesh) for c in other.collections)
    with pytest.raises(FormatError, match="cannot tell"):
        plot(xr.Dataset({"counts": ("energy", [1, 2])}))
    with pytest.raises(FormatError, match="lat and lon"):
        plot(xr.DataArray([1.0, 2.0], dims="energy"))
    with pytest.raises(ConfigError, match="kind"):
        plot(lc, kind="pie")


def test_plotting_modules_import_matplotlib_only_inside_functions():
    # module-level imports (outside `if TYPE_CHECKING:`) must not name matplotlib
    package = Path(gammaxr.plotting.__file__).parent
    for path in [*package.glob("*.py"), package.parent / "accessors" / "xarray.py"]:
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.If):
                continue  # the TYPE_CHECKING block
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(name.startswith("matplotlib") for name in names), (path, names)
