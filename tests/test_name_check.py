"""The payee name check (confirmation of payee): a pure function, no app."""

import pytest

from app.core.payees import (
    CLOSE_MATCH,
    MATCH,
    NO_MATCH,
    check_name,
    holder_name,
    levenshtein,
    normalise_name,
)


@pytest.mark.parametrize(
    "given, holder, result",
    [
        # Equal once normalised.
        ("Dave Jones", "Dave Jones", MATCH),
        ("  dave   JONES ", "Dave Jones", MATCH),
        ("Dave 3 Jones", "Dave Jones", MATCH),  # digits go, spaces collapse
        ("O'Brien, Mary-Ann", "obrien maryann", MATCH),
        # Same first initial and the same last word.
        ("D. Jones", "Dave Jones", CLOSE_MATCH),
        ("David Jones", "Dave Jones", CLOSE_MATCH),
        ("D Q Jones", "Dave Jones", CLOSE_MATCH),
        # At most two edits apart.
        ("Dave Jone", "Dave Jones", CLOSE_MATCH),
        ("Dvae Jones", "Dave Jones", CLOSE_MATCH),  # a swap is two edits
        ("Dave-Jones", "Dave Jones", CLOSE_MATCH),  # the hyphen is dropped
        ("Dave Jonesss", "Dave Jones", CLOSE_MATCH),
        # Neither.
        ("Dave Jonessss", "Dave Jones", NO_MATCH),  # three edits
        ("Mary Jones", "Dave Jones", NO_MATCH),  # same last word, other initial
        ("Dave Jonathan", "Dave Jones", NO_MATCH),  # same initial, other last word
        ("Jones Dave", "Dave Jones", NO_MATCH),
        ("Zed", "Dave Jones", NO_MATCH),
    ],
)
def test_name_check_table(given, holder, result):
    assert check_name(given, holder)[0] == result


@pytest.mark.parametrize(
    "given, holder, result",
    [
        ("JOSÉ ÁLVAREZ", "José Álvarez", MATCH),  # accented letters fold and stay
        ("Jose Alvarez", "José Álvarez", CLOSE_MATCH),  # two letters differ
        ("Jose\u0301 A\u0301lvarez", "José Álvarez", MATCH),  # combining accents
        ("Ｄａｖｅ Ｊｏｎｅｓ", "Dave Jones", MATCH),  # full-width letters
        ("STRASSE", "Straße", MATCH),  # case-folding, not lower-casing
        ("иван петров", "Иван Петров", MATCH),
        ("Dave\u00a0Jones", "Dave Jones", MATCH),  # a no-break space is a space
        ("Dave\u200bJones", "Dave Jones", CLOSE_MATCH),  # zero-width: dropped
    ],
)
def test_unicode_and_punctuation_are_normalised(given, holder, result):
    assert check_name(given, holder)[0] == result


def test_a_close_match_names_the_holder_as_stored():
    assert check_name("D OBrien", "Dávid O'Brien") == (CLOSE_MATCH, "Dávid O'Brien")


@pytest.mark.parametrize(
    "given, holder", [("Dave Jones", "Dave Jones"), ("Zed", "Dave Jones")]
)
def test_a_match_or_no_match_names_no_one(given, holder):
    assert check_name(given, holder)[1] is None


@pytest.mark.parametrize("given, holder", [("123", "Dave"), ("Al", "07"), ("", "")])
def test_a_name_without_letters_on_either_side_is_no_match(given, holder):
    # "Al" is two edits from the empty name: without the rule it would be a
    # close match revealing the holder's name to anyone who tries two letters.
    assert check_name(given, holder) == (NO_MATCH, None)


@pytest.mark.parametrize(
    "user, expected",
    [
        ({"username": "carol", "full_name": "Carol King"}, "Carol King"),
        ({"username": "carol", "full_name": None}, "carol"),
        ({"username": "carol", "full_name": ""}, "carol"),
        ({"username": "carol"}, "carol"),
    ],
)
def test_the_holder_is_checked_by_full_name_else_username(user, expected):
    assert holder_name(user) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("  Dave \t  JONES  ", "dave jones"),
        ("O'Brien-Smith Jr.", "obriensmith jr"),
        ("R2-D2", "rd"),
        ("Ångström", "ångström"),
        ("1234 !?", ""),
    ],
)
def test_normalise_name(text, expected):
    assert normalise_name(text) == expected


@pytest.mark.parametrize(
    "first, second, distance",
    [
        ("", "", 0),
        ("abc", "", 3),
        ("", "abc", 3),
        ("same", "same", 0),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("dave", "eve", 2),
        ("ab", "ba", 2),
    ],
)
def test_levenshtein(first, second, distance):
    assert levenshtein(first, second) == distance
    assert levenshtein(second, first) == distance
