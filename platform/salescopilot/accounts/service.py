"""Sign-in, two-factor and the principal of a session. Team and API-key rules are in `team.py`
and `api_keys.py`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from salescopilot.accounts import passwords, totp
from salescopilot.accounts.errors import InvalidCredentials, InvalidSecondFactor
from salescopilot.accounts.permissions import PermissionCatalogue
from salescopilot.accounts.principal import Principal
from salescopilot.accounts.repository import MembershipRepository, UserRepository
from salescopilot.accounts.tables import User
from salescopilot.accounts.throttle import LoginThrottle
from salescopilot.actor import with_identity
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.crypto import SecretBox
from salescopilot.errors import Conflict, ValidationFailed
from salescopilot.tenancy.context import current_tenant, keep_writes_on_error


@dataclass(frozen=True, slots=True)
class SignInOutcome:
    user: User
    #: True when the password was right and a TOTP code is still owed.
    needs_second_factor: bool


class AccountService:
    def __init__(
        self,
        *,
        clock: Clock,
        secret_box: SecretBox,
        permissions: PermissionCatalogue,
        throttle: LoginThrottle,
    ) -> None:
        self.clock = clock
        self.secret_box = secret_box
        self.permissions = permissions
        self.throttle = throttle
        self.users = UserRepository()
        self.audit = AuditService(clock)

    # -- users ---------------------------------------------------------------------------------

    async def create_user(self, email: str, name: str, password: str | None) -> User:
        email = normalise_email(email)
        if await self.users.by_email(email) is not None:
            raise Conflict("A user with that email exists.", details={"field": "email"})
        user = User(
            email=email,
            name=name.strip()[:200],
            password_hash=passwords.hash_password(password) if password else "",
        )
        return await self.users.add(user)

    async def set_password(self, user: User, password: str) -> None:
        user.password_hash = passwords.hash_password(password)
        await self.users.save(user)

    # -- sign-in -------------------------------------------------------------------------------

    async def sign_in(self, email: str, password: str, ip: str | None) -> SignInOutcome:
        """Check the password of a member of the current tenant. Failures are counted and audited
        (and kept even though the request fails); the error never says which part was wrong."""
        tenant = current_tenant()
        keys = self.throttle.keys(tenant.slug, email, ip)
        await self.throttle.check(keys)
        user = await self.users.by_email(email) if is_plausible_email(email) else None
        password_ok = passwords.verify_password(user.password_hash if user else "", password)
        membership = await MembershipRepository().for_user(user.id) if user and password_ok else None
        if not (user and password_ok and user.is_active and membership):
            reason = (
                "unknown_user" if user is None
                else "bad_password" if not password_ok
                else "inactive" if not user.is_active
                else "not_a_member"
            )
            await self._refuse(keys, "auth.sign_in_failed", email, reason)
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
            await self.users.save(user)
        await self.throttle.reset(keys)
        if user.totp_enabled:
            return SignInOutcome(user=user, needs_second_factor=True)
        await self.complete_sign_in(user, method="password")
        return SignInOutcome(user=user, needs_second_factor=False)

    async def verify_second_factor(self, user_id: uuid.UUID, code: str, ip: str | None) -> User:
        tenant = current_tenant()
        user = await self.users.by_id(user_id)
        if user is None or not user.totp_enabled:
            raise InvalidSecondFactor()
        keys = self.throttle.keys(tenant.slug, user.email, ip)
        await self.throttle.check(keys)
        step = self._code_step(user, code)
        if step is None:
            await self._refuse(keys, "auth.second_factor_failed", user.email, "bad_code",
                               error=InvalidSecondFactor())
        user.totp_last_step = step
        await self.users.save(user)
        await self.throttle.reset(keys)
        await self.complete_sign_in(user, method="password+totp")
        return user

    async def complete_sign_in(self, user: User, *, method: str) -> None:
        # From here on the request acts as this user: the audit entry names them, not "anonymous".
        with_identity("user", str(user.id), user.email)
        user.last_sign_in_at = self.clock.now()
        await self.users.save(user)
        await self.audit.record(
            "auth.sign_in", target_type="user", target_id=str(user.id), after={"method": method}
        )

    async def record_sign_out(self, user_id: uuid.UUID) -> None:
        await self.audit.record("auth.sign_out", target_type="user", target_id=str(user_id))

    async def _refuse(self, keys: list[str], action: str, email: str, reason: str, *, error=None):
        await self.throttle.record_failure(keys)
        await self.audit.record(
            action,
            target_type="user",
            target_id=normalise_email(email)[:320],
            after={"reason": reason},
        )
        keep_writes_on_error()
        raise error or InvalidCredentials()

    def _code_step(self, user: User, code: str) -> int | None:
        """The time step `code` proves for `user`'s TOTP secret, or None (wrong or replayed)."""
        return totp.accepted_step(
            self.secret_box.decrypt(user.totp_secret), code, self.clock.now(), user.totp_last_step
        )

    # -- two-factor enrolment ------------------------------------------------------------------

    async def begin_totp_enrolment(self, user: User) -> tuple[str, str]:
        """A new secret (kept encrypted, not yet active) and its otpauth:// URI."""
        if user.totp_enabled:
            raise Conflict("Two-factor sign-in is already on.")
        secret = totp.new_secret()
        user.totp_secret = self.secret_box.encrypt(secret)
        user.totp_last_step = 0
        await self.users.save(user)
        return secret, totp.provisioning_uri(secret, user.email)

    def pending_totp_enrolment(self, user: User) -> tuple[str, str] | None:
        """The secret and otpauth URI of an enrolment begun but not confirmed, so a mistyped
        code does not force the user to scan a new key."""
        if user.totp_enabled or not user.totp_secret:
            return None
        secret = self.secret_box.decrypt(user.totp_secret)
        return secret, totp.provisioning_uri(secret, user.email)

    async def confirm_totp(self, user: User, code: str) -> None:
        if user.totp_enabled or not user.totp_secret:
            raise Conflict("Start two-factor enrolment first.")
        step = self._code_step(user, code)
        if step is None:
            raise InvalidSecondFactor()
        user.totp_enabled = True
        user.totp_last_step = step
        await self.users.save(user)
        await self.audit.record(
            "auth.totp_enabled", target_type="user", target_id=str(user.id),
            before={"totp_enabled": False}, after={"totp_enabled": True},
        )

    async def disable_totp(self, user: User, code: str) -> None:
        if not user.totp_enabled:
            raise Conflict("Two-factor sign-in is not on.")
        step = self._code_step(user, code)
        if step is None:
            raise InvalidSecondFactor()
        user.totp_enabled = False
        user.totp_secret = ""
        user.totp_last_step = step
        await self.users.save(user)
        await self.audit.record(
            "auth.totp_disabled", target_type="user", target_id=str(user.id),
            before={"totp_enabled": True}, after={"totp_enabled": False},
        )

    # -- principals ----------------------------------------------------------------------------

    async def principal_for_user(self, user_id: uuid.UUID, **extra) -> Principal | None:
        """What `user_id` may do in the current tenant; None when not an active member."""
        user = await self.users.by_id(user_id)
        if user is None or not user.is_active:
            return None
        membership = await MembershipRepository().for_user(user.id)
        if membership is None:
            return None
        return Principal(
            user_id=user.id,
            label=user.email,
            role=membership.role,
            permissions=self.permissions.for_role(membership.role),
            via="session",
            **extra,
        )


def normalise_email(email: str) -> str:
    return email.strip().lower()


def is_plausible_email(email: str) -> bool:
    email = email.strip()
    return 3 <= len(email) <= 320 and email.count("@") == 1 and " " not in email


def require_email(email: str) -> str:
    if not is_plausible_email(email):
        raise ValidationFailed("That is not an email address.", details={"field": "email"})
    return normalise_email(email)
