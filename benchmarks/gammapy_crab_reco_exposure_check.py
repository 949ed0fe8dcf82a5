"""Gammapy check behind the Crab TS-map norm difference in ``maps_estimators.md``.

Run with the Gammapy environment (it does not import gammaxr)::

    /work/gp-venv/bin/python benchmarks/gammapy_crab_reco_exposure_check.py

Prints, per run, the safe mask at the Crab and the mask Gammapy uses to stack
the edisp (they differ in the 0.79-1.26 TeV bin: the cause of the gap), and the
sum of the runs' safe reco exposures. Reduces the four shipped Crab runs as
``bench_maps_estimators_gammapy.py`` (``tsmap_crab``), fits a point source of index 2
at the Crab's pixel, and prints
the reco-energy exposure of an index-2 power law (``norm = 1``) at that pixel,
per reco-energy bin, and the TS-map kernel's sums: numbers to set beside
gammaxr's ``gammaxr.estimators._maps.reco_exposure`` on its own stacked dataset.
"""

from __future__ import annotations

import warnings

import astropy.units as u
from bench_maps_estimators_gammapy import CRAB, edges, equatorial_car_geom
from gammapy.data import DataStore
from gammapy.datasets import MapDataset
from gammapy.estimators import TSMapEstimator
from gammapy.estimators.utils import estimate_exposure_reco_energy
from gammapy.makers import MapDatasetMaker, SafeMaskMaker
from gammapy.maps import MapAxis
from gammapy.modeling import Fit
from gammapy.modeling.models import PointSpatialModel, PowerLawSpectralModel, SkyModel

warnings.simplefilter("ignore")

ROW, COLUMN = 75, 75  # the Crab's pixel (FITS order: lon decreasing)


def main() -> None:
    energy = MapAxis.from_energy_edges(edges(0.5, 50, 5) * u.TeV, name="energy")
    energy_true = MapAxis.from_energy_edges(edges(0.3, 100, 8) * u.TeV, name="energy_true")
    geom = equatorial_car_geom(83.633, 22.014, 3.0, 0.02, [energy])
    store = DataStore.from_dir(CRAB)
    stacked = MapDataset.create(geom=geom, energy_axis_true=energy_true, name="crab")
    maker, safe = MapDatasetMaker(), SafeMaskMaker(methods=["aeff-default"])
    spectral_2 = PowerLawSpectralModel(index=2)
    safe_sum = 0.0
    for obs in store.get_observations([23523, 23526, 23559, 23592]):
        one = safe.run(maker.run(stacked.copy(name="one"), obs), obs)
        mask = one.mask_safe.data[:, ROW, COLUMN]
        reco_one = estimate_exposure_reco_energy(one, spectral_2, normalize=False)
        safe_sum = safe_sum + reco_one.data[:, ROW, COLUMN] * mask
        # The edisp stacking weight: Gammapy interpolates the boolean safe mask
        # linearly onto the edisp grid (2.2e-16 in an unsafe bin casts to True).
        edisp_mask = one.mask_safe_edisp.data[0, :, 7, 7]
        print(obs.obs_id, "mask_safe", mask.astype(int), "mask_safe_edisp", edisp_mask.astype(int))
        stacked.stack(one)
    print("sum of the runs' safe reco exposures at the Crab", safe_sum)
    lon, lat = geom.to_image().pix_to_coord((COLUMN, ROW))
    print("pixel", lon, lat)
    spectral = PowerLawSpectralModel(index=2, amplitude="2e-11 cm-2 s-1 TeV-1")
    spectral.index.frozen = True
    spatial = PointSpatialModel(lon_0=lon, lat_0=lat, frame="icrs")
    spatial.lon_0.frozen = True
    spatial.lat_0.frozen = True
    stacked.models = [SkyModel(spectral_model=spectral, spatial_model=spatial, name="c")]
    Fit().run([stacked])
    print("amplitude", spectral.amplitude.value, spectral.amplitude.error)
    reco = estimate_exposure_reco_energy(stacked, PowerLawSpectralModel(index=2), normalize=False)
    at_crab = reco.data[:, ROW, COLUMN]
    print("reco exposure at the Crab per reco bin", at_crab, "sum", at_crab.sum())
    print("mask_safe at the Crab", stacked.mask_safe.data[:, ROW, COLUMN])
    kernel_model = SkyModel(
        spectral_model=PowerLawSpectralModel(index=2), spatial_model=PointSpatialModel()
    )
    kernel = TSMapEstimator(kernel_model, kernel_width="0.6 deg").estimate_kernel(stacked)
    print("kernel sums per reco bin", kernel.data.sum(axis=(1, 2)))


if __name__ == "__main__":
    main()
