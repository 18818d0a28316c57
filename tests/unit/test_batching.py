"""Batches are sized by bytes, capped by count, and a small job still spreads over workers."""

from flows.batching import make_batches


def test_batches_follow_bytes_and_count() -> None:
    items = [100] * 10 + [5000] + [100] * 10
    batches = make_batches(items, lambda x: x, target_bytes=1000, max_files=4, workers=1)
    assert [len(b) for b in batches] == [4, 4, 2, 1, 4, 4, 2]
    assert [x for b in batches for x in b] == items


def test_small_job_spreads_over_workers() -> None:
    batches = make_batches([10] * 8, lambda x: x, target_bytes=10_000, max_files=50, workers=4)
    assert [len(b) for b in batches] == [2, 2, 2, 2]


def test_empty() -> None:
    assert make_batches([], lambda x: x, 10, 10, 2) == []
