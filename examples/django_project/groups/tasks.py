"""The project's tayori tasks (found by tayori.contrib.django when the app loads)."""

from tayori.contrib.django import get_app, get_mailer

app = get_app()


@app.task(queue="default", idempotency_key="announcement_id")
def announce(payload: dict) -> dict:
    """Broadcast one announcement to every member of its group.

    Sent with ``send_on_commit``, so the Announcement row is committed before this runs.
    """
    from groups.models import Announcement

    a = Announcement.objects.select_related("group").get(pk=payload["announcement_id"])
    recipients = [{"email": m.email, "name": m.name} for m in a.group.members.all()]
    context = {"subject": a.subject, "body": a.body, "group": a.group.name}
    bid = get_mailer().broadcast("announcement", recipients, context, a.broadcast_id)
    return {"broadcast_id": bid, "recipients": len(recipients)}
