"""Amazon SES v2 transport (``SendEmail`` with raw content, optional configuration set).

Raw content carries every header (List-Unsubscribe, Message-ID) exactly as built.
botocore's own retries are turned off: the queue retries, and the rate limiter in
front of the transport keeps throttling away in the first place.
"""

from __future__ import annotations

from typing import Any

from tayori.errors import PermanentError, RetryLater
from tayori.mail.message import Message

THROTTLE_CODES = {"TooManyRequestsException", "Throttling", "ThrottlingException"}
PERMANENT_CODES = {
    "MessageRejected",
    "BadRequestException",
    "InvalidParameterValue",
    "MailFromDomainNotVerifiedException",
    "MailFromDomainNotVerified",
    "NotFoundException",
    "AccountSuspendedException",
    "AccountSendingPausedException",
}
PAUSED_CODES = {"SendingPausedException", "ConfigurationSetSendingPausedException"}
THROTTLE_SECONDS = 1.0
TRANSIENT_SECONDS = 30.0
PAUSED_SECONDS = 300.0


class SESTransport:
    def __init__(
        self,
        client: Any = None,
        *,
        configuration_set: str | None = None,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
    ) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "sesv2",
                region_name=region,
                endpoint_url=endpoint_url,
                config=Config(retries={"total_max_attempts": 1}),
            )
        self.client = client
        self.configuration_set = configuration_set

    def send(self, message: Message) -> str:
        return self._send(
            {
                "FromEmailAddress": message.sender,
                "Destination": {
                    "ToAddresses": list(message.to),
                    "CcAddresses": list(message.cc),
                    "BccAddresses": list(message.bcc),
                },
                "Content": {"Raw": {"Data": message.as_bytes()}},
            }
        )

    def send_raw(self, sender: str, recipients: list[str], data: bytes) -> str:
        """Raw content as built; the envelope recipients go in ``Destination`` (Bcc
        included: SES sends to Destination, not to the headers, when it is given)."""
        return self._send(
            {
                "FromEmailAddress": sender,
                "Destination": {"ToAddresses": list(recipients)},
                "Content": {"Raw": {"Data": data}},
            }
        )

    def _send(self, kwargs: dict[str, Any]) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        if self.configuration_set:
            kwargs["ConfigurationSetName"] = self.configuration_set
        try:
            response = self.client.send_email(**kwargs)
        except ClientError as exc:
            raise classify(exc) from None
        except BotoCoreError as exc:  # connection errors, timeouts
            raise RetryLater(TRANSIENT_SECONDS, f"SES call failed: {exc}") from None
        return str(response.get("MessageId", ""))

    def close(self) -> None:
        pass


def classify(exc: Any) -> Exception:
    """Map an SES ``ClientError`` onto RetryLater / PermanentError."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    text = f"SES {code}: {error.get('Message', '')}"
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in THROTTLE_CODES or status == 429:
        return RetryLater(THROTTLE_SECONDS, text)
    if code in PAUSED_CODES:
        return RetryLater(PAUSED_SECONDS, text)
    if code in PERMANENT_CODES or (400 <= status < 500 and code not in {"LimitExceededException"}):
        return PermanentError(text)
    return RetryLater(TRANSIENT_SECONDS, text)
