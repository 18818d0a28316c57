"""The re-lint's change count and its schedule setting."""

from collections import Counter

import pytest

from core.settings import Settings
from deployments.serve import relint_deployment
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
    scheduled = relint_deployment(Settings(RELINT_CRON="0 3 * * *", RELINT_LIMIT=7))
    [schedule] = scheduled.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 3 * * *", "UTC")
    # RELINT_LIMIT is read by the flow where it runs, not frozen into the deployment.
    assert scheduled.parameters == {}
    assert relint_deployment(Settings()).schedules == []
    assert relint_deployment(Settings(RELINT_CRON="off")).schedules == []


def test_bad_cron_stops_with_the_setting_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        relint_deployment(Settings(RELINT_CRON="every day"))
    assert stopped.value.code == 2
    assert "invalid setting RELINT_CRON" in capsys.readouterr().err
