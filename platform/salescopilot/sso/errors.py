from salescopilot.errors import NotFound, PermissionDenied, ValidationFailed


class SsoNotConfigured(NotFound):
    code = "SSO_NOT_CONFIGURED"
    default_message = "Single sign-on is not set up for this organisation."


class SsoRequired(PermissionDenied):
    code = "SSO_REQUIRED"
    default_message = "This organisation signs in through single sign-on."


class SsoSettingsInvalid(ValidationFailed):
    code = "SSO_SETTINGS_INVALID"
    default_message = "Those single sign-on settings are not valid."
