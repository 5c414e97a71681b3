"""A tenant's SAML connection to its identity provider, and the NameIDs it has signed in."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class SsoConnection(TenantOwned, Table):
    """At most one per tenant (the repository keeps it so). The service provider's own key pair
    is made when the row is; its private key is stored encrypted with the SecretBox."""

    enabled = Boolean(default=False)
    idp_entity_id = Varchar(length=1024, default="")
    idp_sso_url = Varchar(length=2048, default="")
    idp_slo_url = Varchar(length=2048, default="")
    #: JSON list of one or two PEM certificates: two while the IdP rolls its signing key over.
    idp_certificates = JSON(default="[]")
    sp_certificate = Text(default="")
    sp_private_key = Text(default="")
    #: Responses whose assertion is unsigned (only the envelope signed) are refused unless on.
    accept_signed_response_only = Boolean(default=False)
    allow_idp_initiated = Boolean(default=False)
    #: Password sign-in refused for everyone but `break_glass_user` (an owner).
    sso_required = Boolean(default=False)
    break_glass_user = UUID(null=True, default=None)
    session_lifetime_minutes = Integer(default=480)
    jit_provisioning = Boolean(default=True)
    default_role = Varchar(length=20, default="member")
    #: Our field -> SAML attribute name: email, first_name, last_name, display_name.
    attribute_map = JSON(default="{}")
    groups_attribute = Varchar(length=200, default="")
    #: IdP group name -> role; the highest role among a user's groups wins.
    group_roles = JSON(default="{}")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class SsoIdentity(TenantOwned, Table):
    """The NameID the tenant's IdP uses for a user: the link that survives an email change."""

    UNIQUE_TOGETHER = (("tenant", "name_id"),)

    user = UUID(index=True)
    name_id = Varchar(length=512)
    created_at = Timestamptz(default=TimestamptzNow())
    last_sign_in_at = Timestamptz(null=True, default=None)
