"""Ingest SES bounce and complaint notifications into the suppression list.

SES publishes JSON documents through SNS (optionally on to SQS): the SNS envelope's
``Message`` holds the SES event (``notificationType`` for identity notifications,
``eventType`` for configuration-set events). Hard (``Permanent``) bounces and
complaints suppress the address; soft bounces do not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tayori.errors import PermanentError
from tayori.mail.message import address_of
from tayori.mail.store import MailStore


def parse_notification(document: Any) -> list[tuple[str, str]]:
    """``(address, reason)`` pairs to suppress from one SNS/SQS/SES document."""
    doc = _load(document)
    if isinstance(doc, Mapping) and doc.get("Type") == "Notification" and "Message" in doc:
        doc = _load(doc["Message"])  # the SNS envelope
    if not isinstance(doc, Mapping):
        raise PermanentError("SES notification is not a JSON object")
    kind = doc.get("notificationType") or doc.get("eventType")
    if kind == "Bounce":
        bounce = doc.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return []
        reason = f"bounce:{bounce.get('bounceSubType', 'General')}"
        return [
            (address_of(r["emailAddress"]), reason)
            for r in bounce.get("bouncedRecipients") or []
            if r.get("emailAddress")
        ]
    if kind == "Complaint":
        complaint = doc.get("complaint") or {}
        reason = f"complaint:{complaint.get('complaintFeedbackType', 'abuse')}"
        return [
            (address_of(r["emailAddress"]), reason)
            for r in complaint.get("complainedRecipients") or []
            if r.get("emailAddress")
        ]
    return []  # Delivery, Send, Open, ... : nothing to suppress


def ingest(document: Any, store: MailStore) -> int:
    """Suppress every address the notification names; return how many."""
    pairs = parse_notification(document)
    for address, reason in pairs:
        store.suppress(address, reason)
    return len(pairs)


def _load(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            raise PermanentError("SES notification is not JSON") from None
    return value
