"""Reference values for ml/drift.test.ts, computed with scipy.

Writes ml/fixtures/ks-scipy.json: deterministic samples (normal, shifted, heavy ties, different sizes) with
scipy.stats.ks_2samp's statistic, its asymptotic p-value, and kstwobign.sf(D * sqrt(nm/(n+m))) (the limiting
distribution ml/drift.ts implements); plus chi-square contingency tests and chi2.sf values.

    ~/.cache/mlpipe/bench-venv/bin/python bench/python/ks_reference.py
"""

import json
import pathlib

import numpy as np
import scipy
from scipy import stats

rng = np.random.default_rng(20010101)


def r(values):
    # Rounded to 6 decimals so the JSON holds the exact doubles both sides compute on.
    return [float(v) for v in np.round(values, 6)]


cases = {
    "normal-same": (rng.normal(0, 1, 500), rng.normal(0, 1, 700)),
    "normal-shifted": (rng.normal(0, 1, 1000), rng.normal(0.3, 1.2, 400)),
    "ties-integers": (rng.integers(0, 24, 800).astype(float), rng.integers(2, 24, 333).astype(float)),
    "ties-heavy": (rng.integers(0, 3, 50).astype(float), rng.integers(0, 4, 3000).astype(float)),
    "tiny": (np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0, 5.0])),
    "identical": (np.array([1.0, 1.0, 2.0, 5.0]), np.array([1.0, 1.0, 2.0, 5.0])),
    "disjoint": (rng.uniform(0, 1, 40), rng.uniform(2, 3, 90)),
    "skewed-sizes": (rng.exponential(300, 2000), rng.exponential(330, 250)),
}

ks = []
for name, (a, b) in cases.items():
    a, b = np.array(r(a)), np.array(r(b))
    res = stats.ks_2samp(a, b, method="asymp")
    en = len(a) * len(b) / (len(a) + len(b))
    ks.append(
        {
            "name": name,
            "a": r(a),
            "b": r(b),
            "statistic": float(res.statistic),
            "pValueAsymp": float(res.pvalue),
            "pValueKolmogorov": float(stats.kstwobign.sf(res.statistic * np.sqrt(en))),
        }
    )

tables = [
    [[500, 300, 200], [50, 30, 20]],
    [[500, 300, 200], [20, 30, 50]],
    [[12000, 8000, 500, 0], [130, 60, 10, 0]],
    [[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]],
]
chi2 = []
for t in tables:
    nonzero = np.array(t)[:, np.array(t).sum(axis=0) > 0]
    statistic, p, df, _ = stats.chi2_contingency(nonzero, correction=False)
    chi2.append({"table": t, "statistic": float(statistic), "pValue": float(p), "df": int(df)})

sf = [{"x": x, "df": df, "sf": float(stats.chi2.sf(x, df))} for x, df in [(0.5, 1), (3.84, 1), (10, 3), (50, 20), (200, 30), (2, 50)]]
kolmogorov = [{"x": x, "sf": float(stats.kstwobign.sf(x))} for x in [0.1, 0.3, 0.5, 0.8, 1.0, 1.2, 1.36, 2.0, 3.0]]

out = pathlib.Path(__file__).resolve().parents[2] / "ml" / "fixtures" / "ks-scipy.json"
out.write_text(
    json.dumps(
        {
            "generator": "bench/python/ks_reference.py",
            "scipy": scipy.__version__,
            "numpy": np.__version__,
            "ks": ks,
            "chi2": chi2,
            "chi2Sf": sf,
            "kolmogorovSf": kolmogorov,
        }
    )
    + "\n"
)
print(f"wrote {out} ({len(ks)} KS cases, scipy {scipy.__version__})")
