"""What the report's statistics share: options, summaries, the paired test and the bootstrap of a ratio.

Every statistic comes from a library: summaries from numpy, the paired test from
:func:`scipy.stats.wilcoxon`, confidence intervals from :func:`scipy.stats.bootstrap` (percentile
method, patients resampled with replacement, one seeded generator per call so that every run gives
the same numbers).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..metrics.study_analyses import DEFAULT_THRESHOLD

logger = logging.getLogger(__name__)

POOLED = "all"
"""The ``observer`` (or ``structure``) of a row pooled over them."""
DEFAULT_BOOTSTRAP = 2000
DEFAULT_SEED = 20250303
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class AgreementGrouping:
    """How the agreement analyses (kappa, STAPLE, variability) group the observers' work.

    By step when every step showed one arm to every observer (a sequential study: the arm is the
    step's); by arm in a crossover, where a step mixes the arms: the observers compared with each
    other are those who were in the same arm, whatever the step it came in.

    Attributes
    ----------
    by : str
        ``step`` or ``arm``.
    arms : tuple of str
        The arms in the definition's order (the first is the reference of the arm tests).
    step_arms : dict
        ``step -> arm`` (the arm column of the rows grouped by step).
    """

    by: str = "step"
    arms: tuple[str, ...] = ()
    step_arms: Mapping[int, str] = field(default_factory=dict)

    @property
    def by_arm(self) -> bool:
        """Whether the groups are arms."""
        return self.by == "arm"

    def of(self, row: Mapping[str, Any]) -> int | str:
        """The group of a row (its step, or its arm)."""
        return row["arm"] if self.by_arm else int(row["step"])

    def present(self, rows: Iterable[Mapping[str, Any]]) -> list:
        """The groups the rows hold, in order (steps ascending, arms in the definition's order)."""
        if self.by_arm:
            found = {r["arm"] for r in rows if r.get("arm") not in (None, "")}
            return [a for a in self.arms if a in found] + sorted(found - set(self.arms))
        return sorted({int(r["step"]) for r in rows if r.get("step") not in (None, "")})

    def keys(self, group: int | str) -> dict:
        """``step`` and ``arm`` of a row about one group (``step`` empty for an arm)."""
        if self.by_arm:
            return {"step": "", "arm": group}
        return {"step": group, "arm": self.step_arms.get(int(group), "")}

    def pair_keys(self, a: int | str, b: int | str) -> dict:
        """``step`` and ``arm`` of a row comparing two groups (``1-2`` and ``without-with_uncertainty``)."""
        if self.by_arm:
            return {"step": "", "arm": f"{a}-{b}"}
        return {"step": f"{a}-{b}", "arm": f"{self.step_arms.get(int(a), '')}-{self.step_arms.get(int(b), '')}"}


@dataclass(frozen=True)
class ReportOptions:
    """The parameters of a report (all recorded in ``stats.json`` and the methods text).

    Attributes
    ----------
    threshold : float
        Uncertainty below it is *low* (``--threshold``).
    n_boot : int
        Bootstrap resamples (``--bootstrap``; 0 gives no confidence intervals).
    seed : int
        Seed of the bootstrap's generator.
    level : float
        Confidence level of the intervals.
    tolerance_mm : float
        Surface Dice tolerance.
    """

    threshold: float = DEFAULT_THRESHOLD
    n_boot: int = DEFAULT_BOOTSTRAP
    seed: int = DEFAULT_SEED
    level: float = DEFAULT_LEVEL
    tolerance_mm: float = 2.0

    def __post_init__(self) -> None:
        if not (0 < self.threshold < 1):
            raise ValueError("the threshold must be between 0 and 1")
        if self.n_boot < 0 or (0 < self.n_boot < 100):
            raise ValueError("--bootstrap must be 0 (no intervals) or at least 100 resamples")
        if not (0 < self.level < 1):
            raise ValueError("the confidence level must be between 0 and 1")

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def finite(x: Any) -> float | None:
    """A finite float, else None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def summary(values: Iterable[float | None]) -> dict:
    """``n``, ``mean``, ``sd``, ``median``, ``q1``, ``q3`` of the values that are not None."""
    v = np.asarray([float(x) for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return {"n": 0, "mean": None, "sd": None, "median": None, "q1": None, "q3": None}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "sd": float(v.std(ddof=1)) if v.size > 1 else None,
        "median": float(med),
        "q1": float(q1),
        "q3": float(q3),
    }


def paired_test(pairs: Mapping[Any, tuple[float | None, float | None]]) -> dict:
    """Wilcoxon signed-rank test of paired values (a pair with a None is dropped).

    Returns
    -------
    dict
        ``n`` pairs, ``median_a``, ``median_b``, ``median_diff`` (b - a), ``statistic``, ``p_value``
        and a ``note`` when the test cannot be run (fewer than 2 pairs, or every difference 0).
    """
    from scipy import stats

    a = np.asarray([x for x, y in pairs.values() if x is not None and y is not None], dtype=np.float64)
    b = np.asarray([y for x, y in pairs.values() if x is not None and y is not None], dtype=np.float64)
    out: dict[str, Any] = {
        "test": "wilcoxon_signed_rank",
        "n": int(a.size),
        "median_a": float(np.median(a)) if a.size else None,
        "median_b": float(np.median(b)) if b.size else None,
        "median_diff": float(np.median(b - a)) if a.size else None,
        "statistic": None,
        "p_value": None,
        "note": "",
    }
    if a.size < 2:
        out["note"] = "fewer than 2 pairs"
    elif np.all(a == b):
        out["note"] = "every difference is 0"
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small samples: scipy warns that the normal approximation is rough
            res = stats.wilcoxon(a, b)
        out["statistic"], out["p_value"] = finite(res.statistic), finite(res.pvalue)
    return out


def one_sample_test(values: Sequence[float | None]) -> dict:
    """Wilcoxon signed-rank test of values against 0 (e.g. per-case correlations)."""
    return paired_test({i: (0.0, v) for i, v in enumerate(values)})


def _ratio(num: np.ndarray, den: np.ndarray, axis: int = -1) -> np.ndarray:
    n, d = num.sum(axis=axis), den.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d > 0, n / np.where(d > 0, d, 1), np.nan)


def ratio_ci(num: np.ndarray, den: np.ndarray, options: ReportOptions) -> tuple[list, list]:
    """Percentile bootstrap interval of ``sum(num) / sum(den)``, resampling the last axis (the patients).

    Parameters
    ----------
    num, den : numpy.ndarray
        ``(..., n_patients)`` counts, paired along the last axis; leading axes are independent
        ratios (e.g. the bins) computed from the same resamples.
    options : ReportOptions
        ``n_boot``, ``seed`` and ``level``.

    Returns
    -------
    low, high : list of float or None
        One per leading index (None without resamples, with fewer than 2 patients, or where a
        resample has an empty denominator).
    """
    from scipy import stats

    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    shape = num.shape[:-1]
    none = [None] * int(np.prod(shape, dtype=int))
    if options.n_boot == 0 or num.shape[-1] < 2:
        return list(none), list(none)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate resample distribution warns; it gives a zero-width interval
        res = stats.bootstrap(
            (num, den),
            _ratio,
            paired=True,
            vectorized=True,
            axis=-1,
            n_resamples=options.n_boot,
            confidence_level=options.level,
            method="percentile",
            rng=np.random.default_rng(options.seed),
        )
    lo = np.atleast_1d(res.confidence_interval.low).ravel()
    hi = np.atleast_1d(res.confidence_interval.high).ravel()
    return [finite(x) for x in lo], [finite(x) for x in hi]


def ratio(num: Iterable[float], den: Iterable[float]) -> float | None:
    """``sum(num) / sum(den)``, None for an empty denominator."""
    d = float(sum(den))
    return float(sum(num)) / d if d > 0 else None


def observers_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The observers of rows in the order first seen, pooled last."""
    return [o for o in dict.fromkeys(r["observer"] for r in rows) if o not in (None, POOLED)]
