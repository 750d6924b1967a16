"""Admin: groups with their members; announcements with a "send to members" action."""

from django.contrib import admin

from groups.models import Announcement, Group, Member
from groups.tasks import announce
from tayori.contrib.django import send_on_commit


class MemberInline(admin.TabularInline):
    model = Member
    extra = 1


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    inlines = [MemberInline]


@admin.action(description="Send to the group's members")
def send_to_members(modeladmin, request, queryset):
    for a in queryset:
        send_on_commit(announce, {"announcement_id": a.pk})
    modeladmin.message_user(request, f"{queryset.count()} announcement(s) queued")


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    list_display = ["subject", "group", "created"]
    actions = [send_to_members]
