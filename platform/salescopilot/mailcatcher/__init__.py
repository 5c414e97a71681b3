"""The embedded mail catcher of the demo and of development: an SMTP server (aiosmtpd) that keeps
every message it receives under `var_dir/mailcatcher/` and shows them at /dev/mail, so a new
user sees real messages leave without any mail account. Never enabled in production."""
