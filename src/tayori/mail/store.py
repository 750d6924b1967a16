"""The mail store's contract, as the mail code uses it; each backend provides one
(``backend.mail_store()``): ``tayori.backends.sqlite.mail`` and ``tayori.backends.aws.mail``."""

from tayori.backends.mailstore import FAILED, SENT, SUPPRESSED, BroadcastStatus, MailStore

__all__ = ["FAILED", "SENT", "SUPPRESSED", "BroadcastStatus", "MailStore"]
