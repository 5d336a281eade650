"""MovieLens-100k through the built-in engine (recommendations/engine.py), not through HTTP.

Protocol (docs/recommendations.md): ratings as implicit feedback, per-user random 75/25 split
with a fixed seed, training items excluded from answers, full ranking over all items, k = 10;
popularity measured on the same split in the same run.

The data ships inside the `recbole` wheel; fetch it into a scratch folder (not a dependency):

    pip download --no-deps -d /tmp/recbole recbole==1.2.1
    unzip -o -q /tmp/recbole/recbole-1.2.1-py3-none-any.whl 'recbole/dataset_example/ml-100k/*' -d /tmp/recbole
    .venv/bin/python bench/recommendations_movielens.py /tmp/recbole/recbole/dataset_example/ml-100k/ml-100k.inter
"""
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from recommendations import engine  # noqa: E402


def load(path: str) -> engine.Events:
    with open(path, encoding="utf-8") as lines:
        rows = [line.rstrip("\n").split("\t") for line in lines][1:]
    users = np.unique([int(r[0]) for r in rows], return_inverse=True)[1]
    items = np.unique([int(r[1]) for r in rows], return_inverse=True)[1]
    stamps = np.asarray([float(r[3]) for r in rows])
    return engine.Events(users.astype(np.int32), items.astype(np.int32), np.ones(len(rows), np.float32),
                         ((stamps.max() - stamps) / 86400).astype(np.float32), users.max() + 1, items.max() + 1)


def main(path: str) -> None:
    events = load(path)
    matrix = engine.user_item_matrix(events.users, events.items, events.weights, events.n_users, events.n_items)
    started = time.perf_counter()
    metrics = engine.evaluate(matrix, events, half_life_days=3650)
    evaluated = time.perf_counter() - started
    started = time.perf_counter()
    similarity, algorithm = engine.fit_similarity(matrix)
    fitted = time.perf_counter() - started
    print(f"{events.n_users} users, {events.n_items} items, {len(events.users)} interactions")
    print(f"{algorithm}: {metrics}")
    print(f"evaluation {evaluated:.2f} s, final fit {fitted:.2f} s, {similarity.nnz} neighbour weights")


if __name__ == "__main__":
    main(sys.argv[1])
