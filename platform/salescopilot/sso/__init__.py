"""SAML 2.0 single sign-on: a service provider per tenant (python3-saml)."""
