"""One training run of LightGBM or scikit-learn for `npm run bench:train`.

Reads the Arrow IPC file bench/train.ts wrote (so every library sees identical rows), trains on the
first --train-rows rows with the benchmark's hyperparameters, writes P(delayed) of the holdout rows
as raw little-endian float64 to --predictions (bench/train.ts computes every AUC with the same
code), and prints one JSON line with the same fields as bench/train-worker.ts.

    python train.py --library lightgbm --data flights.arrow --train-rows N --params '{...}' \
        --threads 2 --predictions preds.f64

Thread counts: LightGBM gets num_threads; scikit-learn's OpenMP reads OMP_NUM_THREADS, which the
caller sets (it has to be in the environment before scikit-learn is imported).
"""

import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.types as pat

LABEL = "delayed"


def read_features(path):
    """Feature matrix (float64, NaN = missing; categorical columns as their dictionary codes),
    labels, and the indices of the categorical columns."""
    with pa.memory_map(path) as source:
        table = pa.ipc.open_file(source).read_all()
    names = [n for n in table.column_names if n != LABEL]
    columns, categorical = [], []
    for i, name in enumerate(names):
        column = table.column(name).combine_chunks()
        if pat.is_dictionary(column.type):
            categorical.append(i)
            codes = column.indices.to_numpy(zero_copy_only=False).astype(np.float64)
            codes[~column.is_valid().to_numpy(zero_copy_only=False)] = np.nan
            columns.append(codes)
        else:
            columns.append(column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
    X = np.column_stack(columns)
    y = table.column(LABEL).to_numpy().astype(np.float64)
    return X, y, names, categorical


def train_lightgbm(X, y, names, categorical, params, threads):
    import lightgbm as lgb

    dataset = lgb.Dataset(X, label=y, feature_name=names, categorical_feature=categorical, free_raw_data=True)
    booster = lgb.train(
        {
            "objective": "binary",
            "num_leaves": params["numLeaves"],
            "learning_rate": params["learningRate"],
            "min_data_in_leaf": params["minDataInLeaf"],
            "bagging_fraction": 1.0,
            "feature_fraction": 1.0,
            "max_bin": 255,
            "num_threads": threads,
            "seed": 0,
            "deterministic": True,
            "verbose": -1,
        },
        dataset,
        num_boost_round=params["numTrees"],
    )
    return booster.predict, lgb.__version__


def train_sklearn(X, y, names, categorical, params, threads):
    import sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier

    mask = np.zeros(X.shape[1], dtype=bool)
    mask[categorical] = True
    model = HistGradientBoostingClassifier(
        max_iter=params["numTrees"],
        max_leaf_nodes=params["numLeaves"],
        learning_rate=params["learningRate"],
        min_samples_leaf=params["minDataInLeaf"],
        l2_regularization=0.0,
        max_bins=255,
        categorical_features=mask,
        early_stopping=False,
        random_state=0,
    )
    model.fit(X, y)
    return (lambda X: model.predict_proba(X)[:, 1]), sklearn.__version__


TRAINERS = {"lightgbm": train_lightgbm, "sklearn": train_sklearn}


def current_rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--library", choices=sorted(TRAINERS), required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--train-rows", type=int, required=True)
    parser.add_argument("--params", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--predictions", required=True)
    args = parser.parse_args()

    X, y, names, categorical = read_features(args.data)
    params = json.loads(args.params)
    cut = args.train_rows
    X_train, y_train, X_holdout = X[:cut], y[:cut], X[cut:]

    rss_before = current_rss_bytes()
    cpu = time.process_time()
    start = time.perf_counter()
    predict, version = TRAINERS[args.library](X_train, y_train, names, categorical, params, args.threads)
    train_seconds = time.perf_counter() - start
    train_cpu_seconds = time.process_time() - cpu

    start = time.perf_counter()
    p = np.ascontiguousarray(predict(X_holdout), dtype="<f8")
    predict_seconds = time.perf_counter() - start
    p.tofile(args.predictions)

    report = {
        "library": args.library,
        "version": version,
        "trainSeconds": train_seconds,
        "trainCpuSeconds": train_cpu_seconds,
        "predictSeconds": predict_seconds,
        "rssBeforeTrainBytes": rss_before,
        # ru_maxrss is in KiB on Linux.
        "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
