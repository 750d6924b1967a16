"""Groups, their members, and announcements broadcast to a group's members."""

from django.db import models


class Group(models.Model):
    name = models.CharField(max_length=100, unique=True)

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    group = models.ForeignKey(Group, related_name="members", on_delete=models.CASCADE)
    name = models.CharField(max_length=100)
    email = models.EmailField()

    class Meta:
        unique_together = [("group", "email")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Announcement(models.Model):
    group = models.ForeignKey(Group, related_name="announcements", on_delete=models.CASCADE)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.subject

    @property
    def broadcast_id(self) -> str:
        """One broadcast per announcement: sending it again never mails anyone twice."""
        return f"announcement-{self.pk}"
