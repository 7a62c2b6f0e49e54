"""``service_urls`` is a plain dict, whose missing key names what the contract does have."""

from __future__ import annotations

import pytest

from realstack.pytest_plugin.fixtures import ServiceUrls


def test_a_missing_key_names_what_the_contract_has() -> None:
    urls = ServiceUrls({"REDIS_URL": "redis://127.0.0.1:6381/0", "API_URL": "http://x"})

    with pytest.raises(KeyError, match=r"'APP_URL' is not in the env contract; it has API_URL, "):
        urls["APP_URL"]


def test_it_is_still_a_dict() -> None:
    urls = ServiceUrls({"API_URL": "http://x"})

    assert urls.get("APP_URL") is None
    assert "API_URL" in urls and urls == {"API_URL": "http://x"}
