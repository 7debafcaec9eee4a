"""Colour science for checking pictures: sRGB <-> CIELAB, CIEDE2000, simulated colour-vision deficiency.

    lab = srgb_to_lab(rgb)                   # (..., 3) uint8 or [0, 1] floats -> (..., 3) L*a*b* (D65)
    delta_e_2000(lab1, lab2)                 # (...,) colour difference; ~2.3 is just noticeable
    simulate_cvd(rgb, "deuteranopia")        # (..., 3) uint8 as seen with that deficiency

Sources
- sRGB transfer function and D65 matrix: IEC 61966-2-1; CIELAB: CIE 15:2004 (reference white D65,
  Xn, Yn, Zn = 0.95047, 1.0, 1.08883).
- CIEDE2000: Sharma, Wu & Dalal 2005, "The CIEDE2000 color-difference formula: implementation
  notes, supplementary test data, and mathematical observations" (kL = kC = kH = 1); the tests
  check it against their table.
- Colour-vision deficiency: Machado, Oliveira & Fernandes 2009, "A physiologically-based model for
  simulation of color vision deficiency" (IEEE TVCG 15(6)), their matrices for severity 1.0
  (dichromacy: protanopia, deuteranopia, tritanopia), applied to LINEAR RGB.
No dependency: scikit-image and colorspacious are not installed here.
"""
from __future__ import annotations

import numpy as np

# Machado et al. 2009, Table 1 / supplementary data, severity 1.0; rows sum to 1 (white stays white).
MACHADO = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779],
                            [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_WHITE = np.array([0.95047, 1.0, 1.08883])


def _unit(rgb) -> np.ndarray:
    """uint8 (0..255) or float (0..1) sRGB -> float64 in [0, 1]."""
    a = np.asarray(rgb)
    return a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else np.asarray(a, np.float64)


def srgb_to_linear(rgb) -> np.ndarray:
    """sRGB (..., 3) (uint8, or floats in [0, 1]) -> linear light in [0, 1]."""
    c = _unit(rgb)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear) -> np.ndarray:
    """Linear light (..., 3) -> sRGB uint8 (clipped to the gamut)."""
    c = np.clip(np.asarray(linear, np.float64), 0.0, 1.0)
    s = np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(s * 255.0), 0, 255).astype(np.uint8)


def srgb_to_lab(rgb) -> np.ndarray:
    """sRGB (..., 3) -> CIELAB (..., 3) float64 (L* in [0, 100]) under D65."""
    xyz = srgb_to_linear(rgb) @ _RGB_TO_XYZ.T / _WHITE
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def lab_to_srgb(lab) -> np.ndarray:
    """CIELAB (..., 3) -> sRGB uint8 (clipped to the gamut)."""
    lab = np.asarray(lab, np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    eps, kappa = 216 / 24389, 24389 / 27
    xyz = np.where(f ** 3 > eps, f ** 3, (116 * f - 16) / kappa) * _WHITE
    return linear_to_srgb(xyz @ np.linalg.inv(_RGB_TO_XYZ).T)


def delta_e_2000(lab1, lab2) -> np.ndarray:
    """CIEDE2000 colour difference of CIELAB colours (..., 3), broadcast: (...,) float64."""
    L1, a1, b1 = np.moveaxis(np.asarray(lab1, np.float64), -1, 0)
    L2, a2, b2 = np.moveaxis(np.asarray(lab2, np.float64), -1, 0)
    C1, C2 = np.hypot(a1, b1), np.hypot(a2, b2)
    Cm7 = ((C1 + C2) / 2) ** 7
    G = 0.5 * (1 - np.sqrt(Cm7 / (Cm7 + 25.0 ** 7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p, C2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dLp, dCp = L2 - L1, C2p - C1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(C1p * C2p == 0, 0.0, dh)
    dHp = 2 * np.sqrt(C1p * C2p) * np.sin(np.radians(dh / 2))
    Lpm, Cpm = (L1 + L2) / 2, (C1p + C2p) / 2
    hsum = h1p + h2p
    hpm = np.where(np.abs(h1p - h2p) <= 180, hsum / 2, np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2))
    hpm = np.where(C1p * C2p == 0, hsum, hpm)
    Tt = (1 - 0.17 * np.cos(np.radians(hpm - 30)) + 0.24 * np.cos(np.radians(2 * hpm))
          + 0.32 * np.cos(np.radians(3 * hpm + 6)) - 0.20 * np.cos(np.radians(4 * hpm - 63)))
    dtheta = 30 * np.exp(-(((hpm - 275) / 25) ** 2))
    Cpm7 = Cpm ** 7
    Rc = 2 * np.sqrt(Cpm7 / (Cpm7 + 25.0 ** 7))
    SL = 1 + 0.015 * (Lpm - 50) ** 2 / np.sqrt(20 + (Lpm - 50) ** 2)
    SC, SH = 1 + 0.045 * Cpm, 1 + 0.015 * Cpm * Tt
    RT = -np.sin(np.radians(2 * dtheta)) * Rc
    return np.sqrt((dLp / SL) ** 2 + (dCp / SC) ** 2 + (dHp / SH) ** 2 + RT * (dCp / SC) * (dHp / SH))


def simulate_cvd(rgb, kind: str = "deuteranopia") -> np.ndarray:
    """sRGB (..., 3) uint8 (or [0, 1] floats) as seen with a colour-vision deficiency: uint8.

    kind: "protanopia", "deuteranopia" or "tritanopia" (Machado et al. 2009, severity 1.0,
    applied in linear RGB, then clipped to the gamut)."""
    if kind not in MACHADO:
        raise ValueError(f"kind must be one of {', '.join(MACHADO)} (got {kind!r})")
    return linear_to_srgb(srgb_to_linear(rgb) @ MACHADO[kind].T)
