"""The re-lint's change count and its schedule setting."""

from collections import Counter

from core.settings import Settings
from deployments.deploy import template_env
from flows.relint import changes_between


def test_changes_count_added_and_removed_violations_by_rule() -> None:
    before = Counter({("a.sql", "LT01", 1, 1): 2, ("a.sql", "CP01", 2, 1): 1})
    after = Counter({("a.sql", "LT01", 1, 1): 1, ("b.sql", "RF01", 3, 4): 1})
    assert changes_between(before, after) == {
        "added": 1,
        "removed": 2,
        "added_by_rule": {"RF01": 1},
        "removed_by_rule": {"CP01": 1, "LT01": 1},
    }
    assert changes_between(before, before)["added"] == 0


def test_relint_schedule_from_settings() -> None:
    """prefect.yaml's relint schedule is filled from RELINT_CRON; unset, it is inactive."""
    scheduled = template_env(Settings(RELINT_CRON="0 3 * * *", RELINT_LIMIT=7))
    assert (scheduled["RELINT_CRON"], scheduled["RELINT_SCHEDULE_ACTIVE"]) == ("0 3 * * *", "true")
    # RELINT_LIMIT is read by the flow where it runs, not frozen into the deployment.
    assert "RELINT_LIMIT" not in scheduled
    assert template_env(Settings())["RELINT_SCHEDULE_ACTIVE"] == "false"
