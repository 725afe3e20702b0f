"""A real headless browser for the HTML report's test: Debian's chromium and its driver,
installed with apt-get where they are missing (never downloaded at run time)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def ensure_chromium() -> None:
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
        check=True,
        capture_output=True,
        timeout=900,
    )


def browser(width: int = 1200, height: int = 900) -> Any:
    """A headless chromium under selenium, its console messages kept for `get_log`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
