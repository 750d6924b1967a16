"""The consumer half: the Lambda handler, retry decisions, dead-lettering, hooks."""

from tayori.consumer.handler import Handler
from tayori.consumer.hooks import Counters, Hook, RecordInfo
from tayori.consumer.retry import Outcome, RetryDecision, RetryPolicy, decide_retry

__all__ = [
    "Counters",
    "Handler",
    "Hook",
    "Outcome",
    "RecordInfo",
    "RetryDecision",
    "RetryPolicy",
    "decide_retry",
]
