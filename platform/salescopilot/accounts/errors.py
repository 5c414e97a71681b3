from salescopilot.errors import Conflict, DomainError, NotAuthenticated, NotFound, PermissionDenied


class InvalidCredentials(NotAuthenticated):
    code = "INVALID_CREDENTIALS"
    default_message = "The email or password is not right."


class InvalidSecondFactor(NotAuthenticated):
    code = "INVALID_SECOND_FACTOR"
    default_message = "That code is not right or has been used already."


class InviteInvalid(DomainError):
    code = "INVITE_INVALID"
    status_code = 410
    default_message = "This invitation is invalid, expired or already used."


class InviteNotFound(NotFound):
    """No invitation with that id in this tenant (another tenant's id looks exactly the same)."""

    code = "INVITE_NOT_FOUND"
    default_message = "No such invitation."


class MemberNotFound(NotFound):
    code = "MEMBER_NOT_FOUND"
    default_message = "No such member."


class ApiKeyNotFound(NotFound):
    code = "API_KEY_NOT_FOUND"
    default_message = "No such API key."


class RoleNotAllowed(PermissionDenied):
    code = "ROLE_NOT_ALLOWED"
    default_message = "You cannot give or change that role."


class LastOwner(Conflict):
    code = "LAST_OWNER"
    default_message = "A tenant needs at least one owner."


class AlreadyMember(Conflict):
    code = "ALREADY_MEMBER"
    default_message = "That person is already a member."
