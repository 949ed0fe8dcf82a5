"""A tour of DL3 data access with gammaxr on the shipped H.E.S.S. Crab runs.

Run: python examples/dl3_tour.py
"""

import numpy as np

import gammaxr as gx
from gammaxr.irf import containment_radius, interpolate, migration_matrix

store = gx.open_datastore()
print(store.obs_table[["obs_id", "object", "livetime", "zen_pnt"]])

# Select runs with pandas, then load one observation lazily.
runs = store.obs_table.query("zen_pnt < 48")
obs = store.select(runs).observation(23526)
events = obs.events
print(f"run {obs.obs_id}: {len(events)} events, live time {obs.livetime:.0f} s")

# Events are a DataFrame: select with pandas and with the .gp accessor.
above_1tev = events[events.energy > 1]
central = above_1tev.gp.select_offset(0, 1.5)
print(f"{len(central)} events above 1 TeV within 1.5 deg of the pointing")

# Bin into a counts cube around the Crab.
geom = gx.make_geom(
    gx.energy_axis(0.5, 50, per_decade=5),
    sky=gx.sky_grid((83.633, 22.014), width=3, binsz=0.05),
)
counts = events.gp.bin(geom)
print(f"counts cube {dict(counts.sizes)}, {int(counts.sum())} events in range")

# IRFs are DataArrays with named dims; evaluate them anywhere.
aeff = interpolate(obs.aeff, energy_true=gx.energy_axis(0.5, 50, nbin=4, name="energy_true"),
                   offset=0.5)
print("effective area at 0.5 deg offset (m2):", np.round(aeff.values, 0))
r68 = containment_radius(obs.psf, 0.68, energy_true=1.0, offset=0.5)
print(f"PSF R68 at 1 TeV, 0.5 deg offset: {float(r68):.3f} deg")
matrix = migration_matrix(
    obs.edisp,
    energy_true=gx.energy_axis(0.3, 100, per_decade=10, name="energy_true"),
    energy=gx.energy_axis(0.1, 200, per_decade=10),
    offset=0.5,
)
print("migration matrix", dict(matrix.sizes), "row sums near 1 TeV:",
      np.round(matrix.sel(energy_true=1.0, method="nearest").sum().item(), 3))
