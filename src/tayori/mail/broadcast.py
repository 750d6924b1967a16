"""Mailer: one call sends a template to every recipient exactly once, as fast as allowed.

``broadcast`` enqueues ONE message per broadcast. Small lists ride inline (the
claim-check moves a big body to the blob store); long ones are streamed into
fixed-size recipient chunks in the blob store first, so producer memory does not
grow with the list. The fan-out task splits the broadcast into chunk messages and
each chunk into per-recipient sends with ``send_many``. Every send is idempotent on
``<broadcast_id>:<recipient>``, and its outcome row never downgrades ``sent``, so
duplicate deliveries, a redelivered fan-out and a killed worker do not send twice
(except the documented window: a crash after the provider accepted and before the
idempotency record completed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any

from tayori.errors import BroadcastConflict, ConfigError, PermanentError
from tayori.mail import store as outcomes
from tayori.mail.message import (
    InvalidMessage,
    Message,
    address_of,
    check_address,
    check_header_value,
    split_address,
)
from tayori.mail.ratelimit import RateLimitedTransport, RateLimiter
from tayori.mail.recipients import Recipient, iter_recipients
from tayori.mail.spec import BroadcastSpec, read_spec, write_spec
from tayori.mail.store import BroadcastStatus, MailStore
from tayori.mail.suppression import ingest
from tayori.mail.templates import TemplateError, Templates
from tayori.mail.transports.base import Transport
from tayori.mail.unsubscribe import Unsubscriber
from tayori.wire.envelope import Envelope

CHUNK_PREFIX = "tayori/broadcasts"
PREFLIGHT_RECIPIENTS = 3  # rendered before anything is queued


class Mailer:
    """Registers the mail tasks on ``app`` and sends through ``transport``."""

    def __init__(
        self,
        app: Any,
        *,
        transport: Transport,
        templates: Templates,
        sender: str,
        store: MailStore | None = None,
        rate_limit: float | RateLimiter | None = None,
        max_wait: float = 10.0,
        unsubscriber: Unsubscriber | None = None,
        queue: str = "mail",
        prefix: str = "mail",
        chunk_size: int = 1000,
        inline_limit: int = 1000,
    ) -> None:
        self.app, self.templates = app, templates
        check_address(sender, field_name="sender")
        self.sender = sender
        self.unsubscriber = unsubscriber
        self.chunk_size, self.inline_limit = chunk_size, inline_limit
        if store is None:
            store = _default_store(app)
        self.store = store
        if isinstance(rate_limit, int | float):  # the backend's shared token bucket
            make = getattr(app.backend, "rate_limiter", None)
            if make is None:
                raise ConfigError(
                    f"{type(app.backend).__name__} has no rate limiter: give Mailer a RateLimiter"
                )
            rate_limit = make(rate_limit, name="provider")
        self.limiter = rate_limit
        self.transport: Transport = (
            RateLimitedTransport(transport, rate_limit, max_wait) if rate_limit else transport
        )
        self.fanout = app.task(name=f"{prefix}.fanout", queue=queue, idempotency_key="id")(
            self._fanout
        )
        self.deliver = app.task(name=f"{prefix}.send", queue=queue, idempotency_key="id")(
            self._deliver
        )
        self.deliver.on_dead_letter = self._gave_up
        self.message = app.task(name=f"{prefix}.message", queue=queue)(self._send_message)
        self.raw = app.task(name=f"{prefix}.raw", queue=queue)(self._send_raw)
        self.feedback = app.task(name=f"{prefix}.feedback", queue=queue)(self._feedback)

    # ------------------------------------------------------------------ producer API

    def broadcast(
        self,
        template: str,
        recipients: Iterable[str | Mapping[str, Any]],
        context: Mapping[str, Any] | None = None,
        broadcast_id: str | None = None,
        *,
        sender: str | None = None,
    ) -> str:
        """Enqueue one broadcast; return its id (pass the same id to retry safely).

        Before anything is stored or queued, the template is rendered for the first
        recipients (a missing template or an undefined variable fails here, not in
        every send), and an existing ``broadcast_id`` must come with the same template,
        context and sender (``BroadcastConflict`` otherwise).
        """
        if not self.templates.exists(template):
            raise TemplateError(
                f"template {template!r} is missing", template=template, recipient=None
            )
        bid = broadcast_id or str(uuid.uuid4())
        if not bid or ":" in bid or len(bid) > 200:
            raise ConfigError("broadcast_id must be 1-200 characters without ':'")
        context = dict(context or {})
        json.dumps(context)  # fail here, not in the fan-out, when the context is not JSON
        if sender is not None:
            check_address(sender, field_name="sender")
        stream = iter_recipients(recipients)
        head = list(islice(stream, self.inline_limit + 1))
        self._preflight(template, head, context, bid, sender)
        spec = BroadcastSpec(template, context, sender)
        known = self._claim(bid, spec)
        base: dict[str, Any] = {"bid": bid, "template": template, "context": context}
        if sender is not None:
            base["sender"] = sender
        if len(head) <= self.inline_limit:
            total = len(head)
            payload = {**base, "id": f"{bid}:fanout", "recipients": head}
        else:
            keys, total = self._store_chunks(bid, head, stream)
            payload = {**base, "id": f"{bid}:fanout", "chunks": keys}
        if not known:
            write_spec(self._blobs(), bid, spec)
        self.store.start_broadcast(bid, template)
        self.store.set_total(bid, total)
        self.fanout.send(payload)
        return bid

    def _preflight(
        self,
        template: str,
        head: list[Recipient],
        context: dict[str, Any],
        bid: str,
        sender: str | None,
    ) -> None:
        """Render for the first few valid recipients (or none: the context alone)."""
        tried = 0
        for r in head:
            email = r.get("email", "")
            try:
                check_address(email)
            except InvalidMessage:
                continue  # recorded as failed by the fan-out, as before
            variables = {k: v for k, v in r.items() if k != "email"}
            self.render(template, email, context, variables, bid, sender=sender)
            tried += 1
            if tried >= PREFLIGHT_RECIPIENTS:
                return
        if tried == 0:
            self.templates.render(template, {**context, "email": ""}, recipient=None)

    def _claim(self, bid: str, spec: BroadcastSpec) -> bool:
        """Refuse an existing broadcast id with another template, context or sender;
        True when the id already has its spec (a retry of the same broadcast)."""
        stored = read_spec(self._blobs(), bid)
        if stored is not None:
            if stored.fingerprint != spec.fingerprint:
                raise BroadcastConflict(bid, stored.differences(spec))
            return True
        existing = self.store.status(bid)
        if existing is not None and existing.template != spec.template:
            raise BroadcastConflict(bid, [f"template {existing.template!r}, not {spec.template!r}"])
        return False

    def _blobs(self) -> Any:
        return self.app.backend.blob_store(self.app.settings.bucket)

    def send(self, message: Message) -> str:
        """Enqueue one prepared message (the Django backend uses this)."""
        return self.message.send(message.to_dict())

    def send_raw(self, sender: str, recipients: Iterable[str], data: bytes) -> str:
        """Enqueue a message already in wire form; the worker sends these exact bytes with
        this envelope (the Django backend uses it, so Django's MIME arrives unchanged)."""
        to = [str(r) for r in recipients]
        if not to:
            raise InvalidMessage("message has no recipients")
        for value in (sender, *to):
            check_header_value("envelope address", value)
        encoded = base64.b64encode(bytes(data)).decode("ascii")
        return self.raw.send({"from": str(sender), "to": to, "data": encoded})

    def status(self, broadcast_id: str) -> BroadcastStatus | None:
        return self.store.status(broadcast_id)

    def _store_chunks(
        self, bid: str, head: list[Recipient], rest: Iterator[Recipient]
    ) -> tuple[list[str], int]:
        blobs = self.app.backend.blob_store(self.app.settings.bucket)
        keys: list[str] = []
        total = 0
        stream = _chain(head, rest)
        while chunk := list(islice(stream, self.chunk_size)):
            key = f"{CHUNK_PREFIX}/{bid}/{len(keys):06d}.jsonl"  # stable: a retry overwrites
            data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chunk)
            blobs.put(key, data.encode("utf-8"))
            keys.append(key)
            total += len(chunk)
        return keys, total

    # ------------------------------------------------------------------ tasks

    def _fanout(self, payload: dict[str, Any]) -> dict[str, Any]:
        bid = payload["bid"]
        base = {k: payload[k] for k in ("bid", "template", "context", "sender") if k in payload}
        chunks = payload.get("chunks")
        if chunks and len(chunks) > 1:
            ids = self.fanout.send_many(
                {**base, "id": f"{bid}:fanout:{key.rsplit('/', 1)[-1]}", "chunks": [key]}
                for key in chunks
            )
            return {"chunks": len(ids)}
        if chunks:
            blobs = self.app.backend.blob_store(self.app.settings.bucket)
            lines = blobs.get(chunks[0]).decode("utf-8").splitlines()
            recipients = [json.loads(line) for line in lines if line.strip()]
        else:
            recipients = payload.get("recipients") or []
        sends = self.deliver.send_many(self._sends(base, recipients))
        return {"sends": len(sends)}

    def _sends(self, base: dict[str, Any], recipients: list[Recipient]) -> Iterator[dict]:
        bid = base["bid"]
        for r in recipients:
            email = r.get("email", "")
            try:
                check_address(email)
            except InvalidMessage as exc:
                self.store.record(bid, address_of(email) or email, outcomes.FAILED, str(exc))
                continue
            addr = address_of(email)
            variables = {k: v for k, v in r.items() if k != "email"}
            yield {**base, "id": f"{bid}:{addr}", "to": email, "vars": variables}

    def _deliver(self, payload: dict[str, Any]) -> dict[str, Any]:
        bid, to = payload["bid"], payload["to"]
        addr = address_of(to)
        state = getattr(self.store, "delivery_state", None)  # one read where the store can
        if state is not None:
            outcome, reason = state(bid, addr)
        else:
            outcome = self.store.outcome(bid, addr)
            reason = None if outcome == outcomes.SENT else self.store.suppression_reason(addr)
        if outcome == outcomes.SENT:
            return {"status": "sent", "duplicate": True}
        if reason is not None:
            self.store.record(bid, addr, outcomes.SUPPRESSED, reason)
            return {"status": "suppressed"}
        try:
            message = self.render(
                payload["template"],
                to,
                payload["context"],
                payload["vars"],
                bid,
                sender=payload.get("sender"),
            )
            provider_id = self.transport.send(message)
        except PermanentError as exc:
            self.store.record(bid, addr, outcomes.FAILED, str(exc))
            raise
        self.store.record(bid, addr, outcomes.SENT, provider_id)
        return {"status": "sent", "provider_id": provider_id}

    def _gave_up(self, envelope: Envelope, reason: str) -> None:
        """A send dead-lettered without a verdict of its own (retries used up on a
        provider's transient errors, timeouts): its recipient is failed, so ``broadcast
        failed`` lists it and ``broadcast retry`` re-sends its dead letter. A refused send
        already recorded itself; a sent one stays sent."""
        payload = envelope.payload
        to = payload.get("to") if isinstance(payload, dict) else None
        addr = address_of(to) if isinstance(to, str) else None
        if addr is None or not isinstance(payload.get("bid"), str):
            return
        bid = payload["bid"]
        if self.store.outcome(bid, addr) in (outcomes.SENT, outcomes.FAILED):
            return
        self.store.record(bid, addr, outcomes.FAILED, reason)

    def render(
        self,
        template: str,
        to: str,
        context: Mapping[str, Any],
        variables: Mapping[str, Any] | None = None,
        broadcast_id: str = "",
        *,
        sender: str | None = None,
    ) -> Message:
        """Build one recipient's message (also useful to preview a template)."""
        addr = address_of(to)
        ctx: dict[str, Any] = {**context, **(variables or {}), "email": addr}
        headers: dict[str, str] = {}
        if broadcast_id:
            # the same Message-ID on every attempt: if the documented crash window ever
            # sends twice, mailbox providers and clients collapse the copies
            digest = hashlib.sha256(f"{broadcast_id}:{addr}".encode()).hexdigest()[:32]
            domain = split_address(sender or self.sender)[1].rpartition("@")[2]
            headers["Message-ID"] = f"<tayori.{digest}@{domain}>"
            headers["X-Tayori-Broadcast"] = broadcast_id
        if self.unsubscriber is not None:
            ctx["unsubscribe_url"] = self.unsubscriber.url(addr, broadcast_id)
            headers.update(self.unsubscriber.headers(addr, broadcast_id))
        rendered = self.templates.render(template, ctx, recipient=addr)
        try:
            return Message(
                sender=sender or self.sender,
                to=(to,),
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                headers=headers,
            )
        except InvalidMessage as exc:
            raise type(exc)(f"template {template!r} for {addr}: {exc}") from None

    def _send_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        message = Message.from_dict(payload)
        live = [r for r in message.recipients if self.store.suppression_reason(r) is None]
        if not live:
            return {"status": "suppressed"}
        return {"status": "sent", "provider_id": self.transport.send(message)}

    def _send_raw(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            sender, to = str(payload["from"]), [str(r) for r in payload["to"]]
            data = base64.b64decode(payload["data"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise PermanentError(f"mail.raw payload is malformed: {exc!r}") from None
        live = [r for r in to if self.store.suppression_reason(address_of(r)) is None]
        if not live:
            return {"status": "suppressed"}
        send_raw = getattr(self.transport, "send_raw", None)
        if send_raw is None:
            raise PermanentError(f"{type(self.transport).__name__} cannot send raw messages")
        provider_id = send_raw(sender, live, data)
        return {"status": "sent", "provider_id": provider_id, "suppressed": len(to) - len(live)}

    def _feedback(self, payload: Any) -> dict[str, Any]:
        return {"suppressed": ingest(payload, self.store)}

    def ses_feedback_handler(self, event: Mapping[str, Any], context: Any = None) -> dict:
        """Lambda entry point for an SQS queue subscribed to SES's SNS topic (raw bodies)."""
        failures = []
        for record in event.get("Records", []):
            try:
                ingest(record["body"], self.store)
            except PermanentError:
                continue  # not a notification: nothing to retry
            except Exception:
                failures.append({"itemIdentifier": record.get("messageId", "")})
        return {"batchItemFailures": failures}


def load_mailer(spec: str | Mailer) -> Mailer:
    """``"module:attr"`` naming a Mailer (or an object with a ``.mailer``) -> the Mailer."""
    if isinstance(spec, Mailer):
        return spec
    from tayori.loader import load_object

    obj = load_object(str(spec))
    obj = getattr(obj, "mailer", obj)
    if not isinstance(obj, Mailer):
        raise ConfigError(f"{spec} is not a tayori.mail.Mailer")
    return obj


def _default_store(app: Any) -> MailStore:
    """The backend's mail store (embedded: ``<dir>/mail.db``; AWS: the DynamoDB table
    beside the idempotency table)."""
    make = getattr(app.backend, "mail_store", None)
    if make is None:
        raise ConfigError(f"{type(app.backend).__name__} has no mail store: give Mailer a store")
    return make()


def _chain(head: list[Recipient], rest: Iterator[Recipient]) -> Iterator[Recipient]:
    yield from head
    yield from rest
