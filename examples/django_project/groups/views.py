"""Join a group (welcome mail through Django's send_mail) and announce to a group."""

from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from groups.models import Announcement, Group, Member
from groups.tasks import announce as announce_task
from tayori.contrib.django import send_on_commit


@csrf_exempt  # an example API; a real site keeps CSRF on
@require_POST
@transaction.atomic
def join(request: HttpRequest, pk: int) -> JsonResponse:
    group = get_object_or_404(Group, pk=pk)
    member = Member.objects.create(
        group=group, name=request.POST["name"], email=request.POST["email"]
    )
    # queued by tayori's EMAIL_BACKEND once the member row is committed
    transaction.on_commit(
        lambda: send_mail(
            f"Welcome to {group.name}",
            f"Hello {member.name}, you are now a member of {group.name}.",
            None,
            [member.email],
        )
    )
    return JsonResponse({"member": member.pk}, status=201)


@csrf_exempt
@require_POST
@transaction.atomic
def announce(request: HttpRequest, pk: int) -> JsonResponse:
    group = get_object_or_404(Group, pk=pk)
    a = Announcement.objects.create(
        group=group, subject=request.POST["subject"], body=request.POST["body"]
    )
    send_on_commit(announce_task, {"announcement_id": a.pk})
    return JsonResponse({"announcement": a.pk, "broadcast_id": a.broadcast_id}, status=202)
