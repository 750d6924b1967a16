"""Everything on the wire: the envelope, the claim-check pointer, DLQ reasons, SQS's rules.

Data flows producer -> codec -> queue; this package is the codec and owns every byte
that crosses the queue.
"""

from tayori.wire.claimcheck import ClaimCheck, Pointer
from tayori.wire.codec import Codec, Incoming, Outgoing, TayoriCodec
from tayori.wire.envelope import Envelope
from tayori.wire.reasons import ERROR_ATTRIBUTE, ERROR_TYPE_ATTRIBUTE
from tayori.wire.sqs import Attribute, Attributes

__all__ = [
    "ERROR_ATTRIBUTE",
    "ERROR_TYPE_ATTRIBUTE",
    "Attribute",
    "Attributes",
    "ClaimCheck",
    "Codec",
    "Envelope",
    "Incoming",
    "Outgoing",
    "Pointer",
    "TayoriCodec",
]
