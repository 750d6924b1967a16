"""The example's own tests, the way a project tests code that uses tayori.

``TEST_MODE: "eager"`` runs each task the moment it is sent, in the test's thread and
database transaction; mail lands in an in-memory transport instead of an SMTP server.
Django runs ``on_commit`` callbacks only when a transaction commits, which a TestCase
never does: ``captureOnCommitCallbacks(execute=True)`` runs them at the end of the block.
"""

from django.contrib.auth.models import User
from django.core import mail
from django.test import TestCase, override_settings

from groups.models import Announcement, Group, Member
from tayori.contrib.django import get_app, get_mailer, reset
from tayori.testing import pending

EAGER = {"TEST_MODE": "eager", "EMAIL_TEMPLATES": "groups/mail", "EMAIL_SENDER": "g@example.com"}


@override_settings(EMAIL_BACKEND="tayori.contrib.django.EmailBackend", TAYORI=EAGER)
class BroadcastTests(TestCase):
    def setUp(self) -> None:
        reset()  # fresh tayori state per test: memory queue, outbox, mail store
        self.group = Group.objects.create(name="Staff")
        for name in ("Ann", "Bo", "Chie"):
            Member.objects.create(group=self.group, name=name, email=f"{name.lower()}@example.org")

    def sent_to(self) -> list[str]:
        return sorted(m.to[0] for m in get_mailer().transport.outbox)

    def test_announce_view_broadcasts_to_every_member_after_commit(self) -> None:
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            response = self.client.post(
                f"/groups/{self.group.pk}/announce/", {"subject": "Hi", "body": "News"}
            )
            self.assertEqual(get_mailer().transport.outbox, [])  # nothing before the commit
        self.assertEqual(response.status_code, 202)
        self.assertEqual(len(callbacks), 1)
        self.assertEqual(self.sent_to(), ["ann@example.org", "bo@example.org", "chie@example.org"])
        message = get_mailer().transport.outbox[0]
        self.assertEqual(message.subject, "[Staff] Hi")
        self.assertIn("News", message.text)

    def test_admin_action_broadcasts_and_a_second_send_mails_nobody_twice(self) -> None:
        admin = User.objects.create_superuser("admin", "admin@example.com", "pw")
        self.client.force_login(admin)
        a = Announcement.objects.create(group=self.group, subject="Admin", body="From admin")
        for _ in range(2):
            with self.captureOnCommitCallbacks(execute=True):
                response = self.client.post(
                    "/admin/groups/announcement/",
                    {"action": "send_to_members", "_selected_action": [a.pk]},
                )
            self.assertEqual(response.status_code, 302)
        self.assertEqual(len(self.sent_to()), 3)  # the same broadcast id: sent once

    def test_join_sends_a_welcome_mail_through_the_email_backend(self) -> None:
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                f"/groups/{self.group.pk}/join/", {"name": "Dee", "email": "dee@example.org"}
            )
        self.assertEqual(response.status_code, 201)
        (sent,) = get_mailer().transport.sent  # Django's message, as bytes
        self.assertEqual(sent.recipients, ("dee@example.org",))
        self.assertEqual(sent.message["Subject"], "Welcome to Staff")
        self.assertEqual(sent.message["From"], "Example Groups <groups@example.com>")


@override_settings(TAYORI={**EAGER, "TEST_MODE": "memory"})
class QueueInspectionTests(TestCase):
    def setUp(self) -> None:
        reset()

    def test_announce_is_queued_until_the_worker_runs(self) -> None:
        group = Group.objects.create(name="Queue")
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(f"/groups/{group.pk}/announce/", {"subject": "S", "body": "B"})
        (envelope,) = pending(get_app(), "default")
        self.assertEqual(envelope.task, "announce")
        self.assertEqual(envelope.payload, {"announcement_id": Announcement.objects.get().pk})


class DjangoOutboxStillWorks(TestCase):
    """Without the overrides, Django's test runner's locmem backend captures mail as usual."""

    def test_mail_outbox(self) -> None:
        mail.send_mail("Plain", "body", None, ["x@example.org"])
        self.assertEqual(len(mail.outbox), 1)
