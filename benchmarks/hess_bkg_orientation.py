"""Which orientation of the H.E.S.S. DR1 ``bkg_3d`` tables do the counts prefer?

The background table has two field-of-view axes; a reader can label either one
``fov_lon`` and either sign can be meant. This script predicts the background of
each shipped Crab run under all eight labellings (swap the axes or not, flip
each axis or not), away from the Crab (0.4 deg) and inside 2.3 deg of the
pointing, and compares them with the counts through the Poisson likelihood,
each prediction scaled to the observed total per energy bin (so only the shape
in the field of view matters). Lower C is better.

``swap=False, flip=(1, 1)`` is the table as gammaxr's reader labels it, with the
Gammapy FoV sign convention; ``swap=True, flip=(1, -1)`` is what Gammapy 2.1
does with these files (axes swapped on read, then ``REVERSE_LON_RADEC``).
"""

from __future__ import annotations

from itertools import product
from types import SimpleNamespace

import numpy as np

import gammaxr as gx
from gammaxr.reduce import make_background

CRAB = (83.633, 22.014)


def main() -> None:
    store = gx.open_datastore()
    cash = {key: 0.0 for key in product((False, True), (1, -1), (1, -1))}
    for obs_id in store.obs_ids:
        obs = store.observation(obs_id)
        pointing = obs.pointing
        geom = gx.make_geom(
            gx.energy_axis(0.5, 50, per_decade=4),
            sky=gx.sky_grid((pointing.ra, pointing.dec), width=5, binsz=0.1),
        )
        counts = gx.bin_events(obs.events, geom).values
        lon, lat = np.meshgrid(geom.lon.values, geom.lat.values)
        offset = gx.angular_separation(pointing.ra, pointing.dec, lon, lat)
        field = (offset < 2.3) & (gx.angular_separation(*CRAB, lon, lat) > 0.4)
        for swap, flip_1, flip_2 in cash:
            data = obs.bkg.values
            data = data.transpose(0, 2, 1) if swap else data
            data = data[:, ::flip_1, ::flip_2]
            bkg = obs.bkg.copy(data=np.ascontiguousarray(data))
            proxy = SimpleNamespace(bkg=bkg, pointing=pointing, ontime=obs.ontime)
            predicted = make_background(proxy, geom).values.astype(float)
            for mu, n in zip(predicted, counts, strict=True):
                mu, n = mu[field], n[field]
                mu = mu * n.sum() / mu.sum()
                cash[(swap, flip_1, flip_2)] += 2 * float(np.sum(mu - n * np.log(mu)))
    best = min(cash.values())
    print("swap  flip(axis1, axis2)  delta C")
    for (swap, flip_1, flip_2), value in sorted(cash.items(), key=lambda item: item[1]):
        print(f"{swap!s:5} ({flip_1:+d}, {flip_2:+d})            {value - best:8.1f}")


if __name__ == "__main__":
    main()
