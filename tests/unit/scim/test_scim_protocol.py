"""The SCIM wire format without HTTP: filters, PATCH paths as Okta and Entra ID write them,
member changes, booleans, paging."""

from __future__ import annotations

import pytest

from salescopilot.scim import protocol as p


def test_filters_are_eq_clauses_joined_by_and():
    assert p.parse_filter('userName eq "Ada@Acme.test"') == [p.Equals("username", "Ada@Acme.test")]
    assert p.parse_filter('id eq "g1" and members eq "u1"') == [p.Equals("id", "g1"), p.Equals("members", "u1")]
    assert p.parse_filter('emails[type eq "work"].value eq "a@b.c"') == [p.Equals("emails.value", "a@b.c")]
    assert p.parse_filter('displayName eq "say \\"hi\\""') == [p.Equals("displayname", 'say "hi"')]
    assert p.parse_filter("") == [] and p.parse_filter(None) == []


@pytest.mark.parametrize("text", ['userName sw "a"', 'userName eq "a" or id eq "b"', "userName eq a",
                                  'userName eq "a"' + " and x eq \"b\"" * 200])
def test_other_filters_are_refused(text):
    with pytest.raises(p.ScimError) as refused:
        p.parse_filter(text)
    assert refused.value.status_code == 400 and refused.value.scim_type == "invalidFilter"


def test_okta_value_patch_and_entra_path_patch_give_the_same_result():
    user = {"userName": "ada", "active": True, "name": {"givenName": "Ada"},
            "emails": [{"type": "work", "value": "old@acme.test", "primary": True}]}
    okta = p.apply_patch(user, [{"op": "replace", "value": {"active": False, "name": {"givenName": "Augusta"}}}])
    entra = p.apply_patch(user, [
        {"op": "Replace", "path": "active", "value": False},
        {"op": "Replace", "path": "name.givenName", "value": "Augusta"},
    ])
    assert okta["active"] is entra["active"] is False
    assert okta["name"]["givenName"] == entra["name"]["givenName"] == "Augusta"
    assert user["active"] is True  # the input is not changed


def test_filtered_paths_and_schema_paths():
    user = {"emails": [{"type": "work", "value": "old@acme.test"}]}
    patched = p.apply_patch(user, [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@acme.test"},
        {"op": "Add", "path": 'emails[type eq "home"].value', "value": "home@acme.test"},
        {"op": "Add", "path": f"{p.ENTERPRISE_SCHEMA}:department", "value": "Sales"},
    ])
    assert patched["emails"] == [{"type": "work", "value": "new@acme.test"}, {"type": "home", "value": "home@acme.test"}]
    assert patched[p.ENTERPRISE_SCHEMA] == {"department": "Sales"}
    removed = p.apply_patch(patched, [{"op": "remove", "path": 'emails[type eq "home"]'},
                                      {"op": "remove", "path": f"{p.ENTERPRISE_SCHEMA}:department"}])
    assert removed["emails"] == [{"type": "work", "value": "new@acme.test"}]
    assert removed[p.ENTERPRISE_SCHEMA] == {}


def test_member_changes_in_both_idps_forms():
    operations = [
        {"op": "add", "path": "members", "value": [{"value": "u1", "display": "a"}]},
        {"op": "remove", "path": 'members[value eq "u1"]'},
        {"op": "Remove", "path": "members", "value": [{"value": "u2"}]},
        {"op": "Remove", "path": "members"},
        {"op": "replace", "value": {"displayName": "x", "members": [{"value": "u3"}]}},
    ]
    assert p.member_changes(operations) == [
        ("add", ["u1"]), ("remove", ["u1"]), ("remove", ["u2"]), ("remove", None), ("replace", ["u3"]),
    ]
    assert p.apply_patch({"displayName": "y"}, operations) == {"displayName": "x"}


@pytest.mark.parametrize("body", [None, [], {"Operations": "x"}, {"Operations": [{"op": "move"}]}])
def test_malformed_patch_bodies_are_refused(body):
    with pytest.raises(p.ScimError):
        p.patch_operations(body)


def test_booleans_and_paging():
    assert p.as_bool("False") is False and p.as_bool("true") is True and p.as_bool(True) is True
    with pytest.raises(p.ScimError):
        p.as_bool("maybe")
    assert p.paging(None, None) == (1, 0, 100)
    assert p.paging(0, -5) == (1, 0, 0)
    assert p.paging(11, 10_000) == (11, 10, p.MAX_COUNT)
    assert p.parse_id("not-a-uuid") is None
