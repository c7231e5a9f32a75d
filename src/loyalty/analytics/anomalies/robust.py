"""Robust z-scores: how far a value lies from the median, in robust standard deviations.

The modified z-score of Iglewicz and Hoaglin (1993): ``M = 0.6745 (x − median) / MAD``, where MAD is
the median absolute deviation from the median and 0.6745 the 0.75 quantile of the standard normal,
so that M has the scale of an ordinary z-score on normal data while a few extreme values move neither
the centre nor the spread. Where more than half the values are equal (MAD = 0) the mean absolute
deviation stands in, scaled to the same units: ``M = (x − median) / (1.253314 · meanAD)`` (as IBM
SPSS and the NIST handbook do); where every value is equal, every score is 0.

>>> robust_z([1.0, 2.0, 3.0, 4.0, 100.0]).round(3).tolist()
[-1.349, -0.674, 0.0, 0.674, 65.427]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: the 0.75 quantile of the standard normal: MAD × 1/0.6745 estimates σ on normal data
NORMAL_Q3 = 0.6745
#: √(π/2): the mean absolute deviation × this estimates σ on normal data
MEAN_AD_SCALE = 1.253314

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Centre:
    """The median of a sample and its robust spread (what a z-score divides by; 0: no spread)."""

    median: float
    spread: float

    def z(self, values: npt.ArrayLike) -> FloatArray:
        x = np.asarray(values, dtype=np.float64)
        if self.spread == 0.0:
            return np.zeros_like(x)
        return (x - self.median) / self.spread


def centre(values: npt.ArrayLike) -> Centre:
    """The median and the divisor of the modified z-score: MAD / 0.6745, else 1.253314 × meanAD."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return Centre(0.0, 0.0)
    med = float(np.median(x))
    deviations = np.abs(x - med)
    mad = float(np.median(deviations))
    if mad > 0.0:
        return Centre(med, mad / NORMAL_Q3)
    mean_ad = float(deviations.mean())
    return Centre(med, MEAN_AD_SCALE * mean_ad)


def robust_z(values: npt.ArrayLike) -> FloatArray:
    """Each value's modified z-score within `values` (see the module)."""
    return centre(values).z(values)
