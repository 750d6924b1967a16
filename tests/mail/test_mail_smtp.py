"""SMTP transport against a real aiosmtpd server: 4xx retries, 5xx is permanent, reuse."""

from __future__ import annotations

import threading

import pytest

from tayori.errors import PermanentError, RetryLater
from tayori.mail import Message, SMTPTransport


def msg(to: str, subject: str = "Hi") -> Message:
    return Message(sender="news@example.com", to=(to,), subject=subject, text="body")


def test_delivers_and_reuses_one_connection_per_thread(smtp_server) -> None:
    t = SMTPTransport(host=smtp_server.host, port=smtp_server.port)
    try:
        for i in range(5):
            t.send(msg(f"user{i}@example.org", subject=f"n{i}"))
    finally:
        t.close()
    assert smtp_server.recipients() == [f"user{i}@example.org" for i in range(5)]
    assert len(smtp_server.connections) == 1
    assert t.connections_opened == 1
    assert smtp_server.messages[2].message["Subject"] == "n2"


def test_threads_get_their_own_connection(smtp_server) -> None:
    t = SMTPTransport(host=smtp_server.host, port=smtp_server.port)

    def work(n: int) -> None:
        for i in range(3):
            t.send(msg(f"t{n}-{i}@example.org"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t.close()
    assert len(smtp_server.messages) == 9
    assert len(smtp_server.connections) == 3


def test_4xx_is_retry_later_and_connection_survives(smtp_server) -> None:
    t = SMTPTransport(host=smtp_server.host, port=smtp_server.port)
    with pytest.raises(RetryLater) as info:
        t.send(msg("tempfail@example.org"))
    assert "451" in str(info.value) and info.value.seconds > 0
    t.send(msg("ok@example.org"))
    t.close()
    assert smtp_server.recipients() == ["ok@example.org"]
    assert t.connections_opened == 1


def test_5xx_is_permanent(smtp_server) -> None:
    t = SMTPTransport(host=smtp_server.host, port=smtp_server.port)
    with pytest.raises(PermanentError, match="550"):
        t.send(msg("reject@example.org"))
    t.close()
    assert smtp_server.messages == []


def test_reconnects_after_server_closed_the_connection(smtp_server) -> None:
    t = SMTPTransport(host=smtp_server.host, port=smtp_server.port)
    t.send(msg("a@example.org"))
    t._local.conn.close()  # as if the server (or a NAT) dropped the idle connection
    t.send(msg("b@example.org"))
    t.close()
    assert smtp_server.recipients() == ["a@example.org", "b@example.org"]
    assert t.connections_opened == 2


def test_unreachable_server_is_retry_later() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = SMTPTransport(host="127.0.0.1", port=port, timeout=2)
    with pytest.raises(RetryLater):
        t.send(msg("a@example.org"))
