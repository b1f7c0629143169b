"""Which written form shows a stemmed term: the shortest its current holders hold."""

from __future__ import annotations

from nnmatch_matching.embedding.words import displayed, own_forms
from nnmatch_matching.matcher.written_forms import WrittenForms


def test_a_member_holds_their_shortest_form_of_each_term() -> None:
    assert own_forms([("model", "models"), ("model", "model"), ("okra", "okra")]) == {
        "model": "model",
        "okra": "okra",
    }
    assert displayed("Mentoring, as a mentor: sensing.") == {"mentor": "mentor", "sens": "sensing"}


def test_the_shortest_held_form_is_shown_and_the_next_one_once_its_holders_leave() -> None:
    forms = WrittenForms()
    forms.hold("a", {"mentor": "mentoring"})
    forms.hold("b", {"mentor": "mentors"})
    forms.hold("c", {"mentor": "mentors"})
    assert forms.shown("mentor") == "mentors"

    forms.hold("d", {"mentor": "mentor"})
    assert forms.shown("mentor") == "mentor"
    forms.release("d")
    assert forms.shown("mentor") == "mentors"
    forms.release("b")
    assert forms.shown("mentor") == "mentors", "c still holds it"
    forms.hold("c", {"okra": "okra"})  # c rewrote their profile without the word
    assert forms.shown("mentor") == "mentoring"
    forms.release("a")
    assert forms.shown("mentor") == "mentor", "no one holds it: the term itself"


def test_ties_in_length_go_to_the_first_word_alphabetically_whatever_the_order() -> None:
    shown = []
    for order in (["x", "y"], ["y", "x"]):
        forms = WrittenForms()
        for member_id in order:
            forms.hold(member_id, {"sens": "senss" if member_id == "x" else "sensa"})
        shown.append(forms.shown("sens"))
    assert shown == ["sensa", "sensa"]


def test_a_member_s_own_forms_are_what_they_hold_now() -> None:
    forms = WrittenForms()
    forms.hold("a", {"mentor": "mentoring", "pars": "parsing"})
    forms.hold("a", {"mentor": "mentors"})

    assert forms.member_forms("a") == {"mentor": "mentors"}
    assert forms.member_forms("nobody") == {}
    assert forms.shown("pars") == "pars", "no one writes parsing any more"
