"""SCIM 2.0 provisioning (`/scim/v2`): identity providers create, update and deprovision users
and groups of one tenant with that tenant's bearer token."""
