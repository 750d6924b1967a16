"""Templates: sandboxed, autoescaped HTML, errors name template and recipient."""

from __future__ import annotations

import pytest

from tayori.errors import PermanentError
from tayori.mail import TemplateError, Templates

SOURCES = {
    "hello.subject": "Hello {{ name }}",
    "hello.txt": "Hi {{ name }}, {{ body }}",
    "hello.html.j2": "<p>Hi {{ name }}</p>",
    "broken.subject": "x",
    "broken.txt": "{{ missing }}",
    "evil.subject": "x",
    "evil.txt": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "syntax.subject": "x",
    "syntax.txt": "{% if %}",
}


def test_renders_parts_and_escapes_html_only() -> None:
    out = Templates(sources=SOURCES).render("hello", {"name": "<b>Ann</b>", "body": "ok"})
    assert out.subject == "Hello <b>Ann</b>"
    assert out.text == "Hi <b>Ann</b>, ok"
    assert out.html == "<p>Hi &lt;b&gt;Ann&lt;/b&gt;</p>"


def test_templates_from_a_directory(tmp_path) -> None:
    (tmp_path / "notice.subject").write_text("Notice for {{ email }}\n")
    (tmp_path / "notice.txt").write_text("Body")
    t = Templates(tmp_path)
    assert t.exists("notice") and not t.exists("nope")
    assert t.render("notice", {"email": "a@x.org"}).subject == "Notice for a@x.org"


@pytest.mark.parametrize("name", ["missing", "broken", "evil", "syntax"])
def test_errors_are_permanent_and_name_template_and_recipient(name: str) -> None:
    with pytest.raises(TemplateError) as info:
        Templates(sources=SOURCES).render(name, {}, recipient="bob@example.org")
    assert isinstance(info.value, PermanentError)
    assert repr(name) in str(info.value)
    assert "bob@example.org" in str(info.value)
    assert info.value.template == name and info.value.recipient == "bob@example.org"
