"""The names of the databases realstack makes beside the contract's: they fit PostgreSQL's
63-byte identifiers (which it would truncate silently), and clean-up recognises only them."""

from __future__ import annotations

import pytest

from realstack.pytest_plugin._pgsql import MAX_IDENTIFIER, Names, masked


def _all(names: Names) -> list[str]:
    return [
        names.worker("gw12"),
        names.template("0123456789"),
        names.scratch("0123456789"),
        names.fresh("gw999", "0123abcd", 9999999),
    ]


def test_a_short_contract_database_keeps_its_name_as_the_stem() -> None:
    names = Names("app_test")
    assert names.worker("gw0") == "app_test_rs_gw0"
    assert names.template("0123456789") == "app_test_rs_tpl_0123456789"
    assert names.fresh("main", "0123abcd", 7) == "app_test_rs_main_0123abcd_7"


@pytest.mark.parametrize("base", ["a" * 63, "é" * 31, "x" * 37, "x" * 38])
def test_every_name_fits_63_bytes_and_long_bases_stay_distinct(base: str) -> None:
    names = Names(base)
    assert all(len(n.encode()) <= MAX_IDENTIFIER for n in _all(names))
    assert Names(base).stem != Names(base + "2").stem


def test_clean_up_matches_the_shapes_realstack_makes_and_nothing_else() -> None:
    names = Names("app")
    assert names.fresh_token("app_rs_gw3_0123abcd_12") == "0123abcd"
    assert names.template_key("app_rs_tpl_0123456789") == "0123456789"
    assert names.is_scratch("app_rs_tpn_0123456789")
    for foreign in (
        "app",
        "app_rs_gw3",  # a worker database: recreated by its worker, never swept
        "app_rs_gw3_notatokn_1",
        "app_rs_tpl_short",
        "app2_rs_main_0123abcd_1",
        "other_rs_tpl_0123456789",
        "app_rs_main_0123abcd_1_extra",
    ):
        assert names.fresh_token(foreign) is None, foreign
        assert names.template_key(foreign) is None, foreign
        assert not names.is_scratch(foreign), foreign


def test_a_reported_url_shows_no_password() -> None:
    url = "postgresql://user:s3cret%40x@localhost:5434/app_rs_main_0123abcd_1"
    assert masked(url) == "postgresql://user:***@localhost:5434/app_rs_main_0123abcd_1"
    assert masked("postgresql://user@localhost/db") == "postgresql://user@localhost/db"
