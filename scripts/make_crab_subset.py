"""Rebuild the shipped H.E.S.S. DL3 DR1 Crab subset from the full release.

Usage: python scripts/make_crab_subset.py PATH/TO/hess-dl3-dr1

Copies the four Crab runs used by gammaxr's main job and tests, and writes
obs-index / hdu-index tables restricted to them (headers kept as released).
"""

import shutil
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

OBS_IDS = [23523, 23526, 23559, 23592]
TARGET = Path(__file__).parents[1] / "src/gammaxr/datasets/hess-dl3-dr1-crab"


def main(source: Path) -> None:
    (TARGET / "data").mkdir(parents=True, exist_ok=True)
    for name in ("obs-index.fits.gz", "hdu-index.fits.gz"):
        with fits.open(source / name) as hdul:
            table = hdul[1]
            keep = np.isin(table.data["OBS_ID"], OBS_IDS)
            subset = fits.BinTableHDU(data=table.data[keep], header=table.header)
            fits.HDUList([fits.PrimaryHDU(), subset]).writeto(TARGET / name, overwrite=True)
    for obs_id in OBS_IDS:
        name = f"hess_dl3_dr1_obs_id_{obs_id:06d}.fits.gz"
        shutil.copy(source / "data" / name, TARGET / "data" / name)
    shutil.copy(source / "README.txt", TARGET / "README.txt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
