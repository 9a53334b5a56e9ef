"""Where the synthetic city is dense: a smooth settlement-density surface over Urumqi.

Centres are real places (the old town around 大小十字, 北京路, 水磨沟, 头屯河, 米东, the county
towns); the weights and spreads are invented so that admin areas are small in the core and large
in the mountains, as in the real city.
"""
from __future__ import annotations

import numpy as np

from .geo import lonlat_to_xy

# lon, lat, spread (m), weight
_CENTRES = [
    (87.617, 43.795, 4200, 1.00),   # 大小十字 / old town (天山区)
    (87.585, 43.770, 3500, 0.75),   # 沙依巴克区 west of the river
    (87.575, 43.845, 4500, 0.80),   # 北京路 / 友好 (新市区, 沙依巴克区 north)
    (87.650, 43.835, 3500, 0.60),   # 水磨沟区
    (87.530, 43.810, 3000, 0.45),   # 西山 / 雅山
    (87.600, 43.890, 3500, 0.45),   # 新市区 north, 高新区
    (87.425, 43.870, 4500, 0.40),   # 头屯河区 / 经开区
    (87.650, 43.960, 4000, 0.35),   # 米东区 古牧地
    (87.470, 43.910, 2500, 0.20),   # 地窝堡 airport
    (88.310, 43.360, 2500, 0.12),   # 达坂城镇
    (87.940, 43.470, 2500, 0.06),   # 柴窝堡
    (87.640, 43.300, 2000, 0.05),   # 艾维尔沟
    (87.430, 43.500, 3000, 0.08),   # 乌鲁木齐县 水西沟 / 板房沟
    (87.780, 44.150, 3000, 0.05),   # 米东 north villages
]
_BASE = 0.0015

_CX, _CY = lonlat_to_xy([c[0] for c in _CENTRES], [c[1] for c in _CENTRES])
_S = np.array([c[2] for c in _CENTRES], float)
_W = np.array([c[3] for c in _CENTRES], float)

CORE_XY = (float(_CX[0]), float(_CY[0]))


def density(x, y) -> np.ndarray:
    """Relative settlement density at metric points (arrays), 0 < density <= ~1.5."""
    x = np.asarray(x, float)[..., None]
    y = np.asarray(y, float)[..., None]
    d2 = (x - _CX) ** 2 + (y - _CY) ** 2
    return _BASE + (_W * np.exp(-d2 / (2 * _S**2))).sum(axis=-1)
