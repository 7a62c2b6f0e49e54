"""What a failure report may show of a secret: nothing, also where pytest cut a long repr."""

from __future__ import annotations

from realstack.secrets import mask

SECRET = "jwt-very-secret-value-42"
PASSWORD = "test_pass"


def test_a_whole_secret_is_masked_wherever_it_is() -> None:
    assert mask(f"token={SECRET}; again {SECRET}", {SECRET}) == "token=***; again ***"


def test_a_secret_cut_by_pytests_truncation_shows_no_piece_of_itself() -> None:
    """``assert ('jwt-very-se...st:24000/app') == ()``: 11 of its 24 characters showed."""
    shown = mask("assert ('jwt-very-se...st:24000/app') == ()", {SECRET, PASSWORD})
    assert shown == "assert ('***...st:24000/app') == ()"
    tail = mask("'DATABASE_URL': 'postg...ss@localhost:30000/app_test'", {SECRET, PASSWORD})
    assert tail == "'DATABASE_URL': 'postg...***@localhost:30000/app_test'"


def test_text_without_a_cut_is_left_as_it_is() -> None:
    assert mask("jwt-very-se and ss@localhost", {SECRET, PASSWORD}) == (
        "jwt-very-se and ss@localhost"
    )
