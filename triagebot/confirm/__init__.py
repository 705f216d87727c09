"""The confirmation loop: candidate mails to the helpdesk, reply tokens, reply commands.

``tokens`` makes and checks reply tokens, ``commands`` reads a reply's command, ``trust``
decides whether a reply may act, ``notify`` sends the loop's mails and ``replies`` applies
a reply to the store.
"""

from triagebot.confirm.commands import Command, Verb, parse_command
from triagebot.confirm.notify import Notifier, Templates
from triagebot.confirm.replies import ReplyHandler, explain, explain_lines
from triagebot.confirm.trust import Gate, Verdict

__all__ = [
    "Command",
    "Gate",
    "Notifier",
    "ReplyHandler",
    "Templates",
    "Verb",
    "Verdict",
    "explain",
    "explain_lines",
    "parse_command",
]
