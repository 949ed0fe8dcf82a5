"""Reference numbers from Gammapy 2.1 for the WStat / on-off summary tests.

Run in the Gammapy environment (never imported by gammaxr or its tests):

    /work/gp-venv/bin/python benchmarks/gammapy_onoff_reference.py

It prints the literals stored in tests/fit/test_wstat.py and
tests/estimators/test_summary.py.
"""

import itertools

import astropy.units as u
import numpy as np
from gammapy.data import GTI
from gammapy.datasets import Datasets, SpectrumDatasetOnOff
from gammapy.maps import MapAxis, RegionGeom
from gammapy.stats import CashCountsStatistic, WStatCountsStatistic, wstat

np.set_printoptions(precision=17, floatmode="unique", linewidth=95)

# 1. wstat on a grid (n_on, n_off, alpha, mu_sig), itertools.product order.
N_ON = [0, 1, 7, 40]
N_OFF = [0, 3, 25]
ALPHA = [0.1, 2.5]
MU_SIG = [0.0, 0.5, 12.0]
grid = np.array(list(itertools.product(N_ON, N_OFF, ALPHA, MU_SIG)), dtype=float)
values = wstat(grid[:, 0], grid[:, 1], grid[:, 2], grid[:, 3])
print("WSTAT_GAMMAPY =", repr(values))

# 2. Counts statistics (excess, sqrt_ts).
CASES = [
    (0, 0, 0.2),
    (0, 5, 0.2),
    (3, 0, 0.2),
    (10, 20, 0.25),
    (2, 40, 0.1),
    (120, 300, 0.2),
    (5000, 24000, 0.2),
    (17, 3, 1.5),
]
n_on, n_off, alpha = (np.array(x, dtype=float) for x in zip(*CASES, strict=True))
stat = WStatCountsStatistic(n_on, n_off, alpha)
print("WSTAT_COUNTS_EXCESS =", repr(stat.n_sig))
print("WSTAT_COUNTS_SQRT_TS =", repr(stat.sqrt_ts))
CASH_CASES = [(0, 0.5), (3, 0.5), (10, 10.0), (2, 9.5), (150, 100.0)]
n, b = (np.array(x, dtype=float) for x in zip(*CASH_CASES, strict=True))
print("CASH_SQRT_TS =", repr(CashCountsStatistic(n, b).sqrt_ts))

# 3. Three on-off spectrum datasets: stacking and info tables.
energy = MapAxis.from_energy_bounds(0.5, 50, 5, unit="TeV", name="energy")
energy_true = MapAxis.from_energy_bounds(0.3, 80, 6, unit="TeV", name="energy_true")
geom = RegionGeom.create("icrs;circle(83.63, 22.01, 0.11)", axes=[energy])
OBS = {
    "counts": [[12, 30, 9, 3, 0], [8, 25, 14, 2, 1], [20, 41, 11, 5, 2]],
    "counts_off": [[40, 60, 0, 4, 1], [35, 0, 30, 6, 0], [70, 90, 25, 0, 0]],
    "acceptance_off": [[4, 4, 5, 5, 6], [8, 8, 8, 9, 9], [3, 3, 3, 3, 3]],
    "mask_safe": [[1, 1, 1, 1, 0], [0, 1, 1, 1, 1], [1, 1, 1, 0, 1]],
    "livetime": [1683.0, 1687.5, 1500.25],
}
datasets = Datasets()
for i in range(3):
    ds = SpectrumDatasetOnOff.create(geom, energy_axis_true=energy_true, name=f"obs{i}")
    ds.counts.data[:, 0, 0] = OBS["counts"][i]
    ds.counts_off.data[:, 0, 0] = OBS["counts_off"][i]
    ds.acceptance.data[...] = 1.0
    ds.acceptance_off.data[:, 0, 0] = OBS["acceptance_off"][i]
    ds.mask_safe.data[:, 0, 0] = np.array(OBS["mask_safe"][i], dtype=bool)
    ds.exposure.data[:, 0, 0] = (1 + i) * np.geomspace(1e8, 5e9, 6)
    ds.exposure.meta["livetime"] = OBS["livetime"][i] * u.s
    start = 1e4 * i * u.s
    ds.gti = GTI.create(start, start + OBS["livetime"][i] * u.s)
    datasets.append(ds)

stacked = datasets.stack_reduce()
for name in ("counts", "counts_off", "acceptance", "acceptance_off", "alpha", "exposure"):
    print(f"STACKED_{name.upper()} =", repr(getattr(stacked, name).data.ravel()))
print("STACKED_MASK =", repr(stacked.mask_safe.data.ravel()))
print("STACKED_LIVETIME =", stacked.exposure.meta["livetime"])

COLUMNS = [
    "counts",
    "counts_off",
    "background",
    "alpha",
    "acceptance",
    "acceptance_off",
    "excess",
    "sqrt_ts",
    "livetime",
    "counts_rate",
    "background_rate",
    "excess_rate",
]
for cumulative in (False, True):
    table = datasets.info_table(cumulative=cumulative)
    print(f"INFO_{'CUMULATIVE' if cumulative else 'PER_OBS'} = {{")
    for col in COLUMNS:
        print(f"    {col!r}: {np.asarray(table[col], dtype=float).tolist()!r},")
    print("}")
