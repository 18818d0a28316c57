"""Batches keep order, respect the caps, and shrink towards the end of a job."""

from linting.batching import make_batches


def _sizes(batches: list[list[int]]) -> list[int]:
    return [sum(b) for b in batches]


def test_order_kept_and_caps_respected() -> None:
    items = [100] * 300 + [50_000] + [100] * 300
    batches = make_batches(
        items, lambda x: x, max_bytes=10_000, min_bytes=500, max_files=40, workers=2
    )
    assert [x for b in batches for x in b] == items
    assert all(len(b) <= 40 for b in batches)
    assert [50_000] in batches  # a big file is never split, and closes its batch alone
    assert all(sum(b) <= 10_000 for b in batches if 50_000 not in b)


def test_batches_shrink_towards_the_end() -> None:
    batches = make_batches(
        [1000] * 400, lambda x: x, max_bytes=10**9, min_bytes=2000, max_files=10**6, workers=2
    )
    sizes = _sizes(batches)
    assert sizes[0] == 100_000  # a quarter of 400 kB with 2 workers
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-2] == 2000  # the floor
    assert len(batches) < 40


def test_small_job_still_uses_every_worker() -> None:
    batches = make_batches(
        [10] * 8, lambda x: x, max_bytes=10_000, min_bytes=1, max_files=50, workers=2
    )
    assert len(batches) >= 4


def test_empty() -> None:
    assert make_batches([], lambda x: x, max_bytes=10, min_bytes=1, max_files=10, workers=2) == []
