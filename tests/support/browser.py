"""Debian's headless Chromium, to render pages as a person's browser would."""

import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    assert Path(CHROMIUM).is_file(), (
        "Chromium is missing: `make install` installs Debian's chromium (apt-get install chromium)"
    )
    return subprocess.run(
        [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def rendered_dom(page: Path, profile: Path) -> str:
    """The DOM after Chromium has parsed and laid out the page."""
    proc = _run(["--dump-dom", page.as_uri()], profile)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def screenshot(page: Path, target: Path, profile: Path) -> Path:
    proc = _run(["--window-size=1280,2000", f"--screenshot={target}", page.as_uri()], profile)
    assert proc.returncode == 0 and target.is_file(), proc.stderr[-2000:]
    return target


def rendered_url(url: str, profile: Path, budget_ms: int = 20_000) -> str:
    """The DOM of a page that builds itself with JavaScript (a single-page app), after
    `budget_ms` of virtual time."""
    proc = _run([f"--virtual-time-budget={budget_ms}", "--dump-dom", url], profile)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout
