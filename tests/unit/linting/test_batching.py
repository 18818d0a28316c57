"""Batches take the heaviest files first, respect the caps, and shrink towards the end of a job."""

from linting.batching import make_batches


def _sizes(batches: list[list[int]]) -> list[int]:
    return [sum(b) for b in batches]


def test_heaviest_first_and_caps_respected() -> None:
    items = [100] * 300 + [50_000] + [100] * 300
    batches = make_batches(
        items, lambda x: x, max_bytes=10_000, min_bytes=500, max_files=40, workers=2
    )
    assert batches[0] == [50_000]  # never split, never left for the end
    assert sorted(x for b in batches for x in b) == sorted(items)
    assert all(len(b) <= 40 for b in batches)
    assert all(sum(b) <= 10_000 for b in batches[1:])


def test_a_heavy_file_found_late_is_not_last() -> None:
    items = [(f"f{i}", 1000) for i in range(200)] + [("heavy", 30_000)]
    batches = make_batches(
        items, lambda x: x[1], max_bytes=10**6, min_bytes=2000, max_files=10**6, workers=2
    )
    assert ("heavy", 30_000) in batches[0]
    # Files of equal weight keep their order (one folder's files stay together).
    light = [name for b in batches for name, size in b if size == 1000]
    assert light == [f"f{i}" for i in range(200)]
    # The last batches are light: the workers finish together.
    assert all(sum(size for _, size in b) <= 2000 for b in batches[-3:])


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
