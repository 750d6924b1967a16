from django.contrib import admin
from django.urls import path
from groups import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("groups/<int:pk>/join/", views.join, name="join"),
    path("groups/<int:pk>/announce/", views.announce, name="announce"),
]
