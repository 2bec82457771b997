"""A `StoreQuery` crosses to a shard process by pickle: every field must survive the trip."""

import pickle

from infra_assets.store.base import StoreQuery


def test_every_filter_survives_the_trip_to_a_shard_process():
    q = StoreQuery(
        [0.1], 5, ("a",), 0.2, 64, None, urls=("u",), exclude_urls=True, changed_after="2026-01-01T00:00:00+00:00"
    )
    assert pickle.loads(pickle.dumps(q)) == q
    plain = StoreQuery([0.1], 5)
    assert pickle.loads(pickle.dumps(plain)) == plain
    dated = StoreQuery(None, 3, changed_after="2026-01-01T00:00:00+00:00")
    assert pickle.loads(pickle.dumps(dated)) == dated
    rescored = StoreQuery([0.1], 5, hnsw_ef=400, oversampling=2.0)
    assert pickle.loads(pickle.dumps(rescored)) == rescored
