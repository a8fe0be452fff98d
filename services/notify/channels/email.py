"""E-mail channel: one multipart (text + HTML) message per notification through the service's SMTP relay.

Headers are built only from sanitised one-line values, so article text cannot add a header or a recipient;
the envelope recipients are exactly the configured addresses. Failure details never carry the SMTP
username or password.
"""

from __future__ import annotations

import asyncio
import email.policy
import email.utils
import hashlib
import logging
import re
import ssl
from email.message import EmailMessage
from typing import Literal

import aiosmtplib
from pydantic import Field, ValidationInfo, field_validator

from schemas import Notification
from services.notify.channels.base import (
    ChannelContext,
    ChannelType,
    DeliveryError,
    Reason,
    SmtpServer,
    target_id,
)
from services.notify.core.fields import EMAIL, MAX_RECIPIENTS, ChannelConfig
from services.notify.core.render import one_line, render_notification_text, subject
from services.notify.core.render_html import render_notification_html

log = logging.getLogger(__name__)

MESSAGE_ID_DOMAIN = "exportwatch.invalid"
_DETAIL_MAX = 300
# RFC 5322 dot-atom text: what may stand left of the "@" in a Message-ID without quoting.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def notification_token(notification_id: str) -> str:
    """The notification id when it is safe in a header (dot-atom, at most 128 characters), otherwise a
    stable hash of it: the same notification always gives the same Message-ID."""
    if len(notification_id) <= 128 and _DOT_ATOM.fullmatch(notification_id):
        return notification_id
    return "h" + hashlib.sha256(notification_id.encode("utf-8")).hexdigest()[:32]


def message_id(notification_id: str) -> str:
    """The deterministic Message-ID of a notification: retries of one notification share it."""
    return f"<{notification_token(notification_id)}@{MESSAGE_ID_DOMAIN}>"


def literal_header(text: str) -> str:
    """``text`` (already on one line) for an unstructured header such as Subject, shown as written.

    The email package decodes RFC 2047 encoded words (``=?utf-8?q?=0D=0ABcc:…?=``) in a value it is
    given, CR and LF included, and writes what they decode to: an article title could add header lines
    of its own, or end the headers. A zero-width space after each "=" of "=?" keeps them literal text."""
    return text.replace("=?", "=\u200b?")


def _one_line_headers(msg: EmailMessage) -> None:
    """Raise ValueError when any header would span lines once written (defence in depth)."""
    for name, value in msg.items():
        if "\r" in str(value) or "\n" in str(value):
            raise ValueError(f"the {name} header would span lines")


def _load_tls_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)  # system CAs, hostname checked
    if ca_file:
        context.load_verify_locations(cafile=ca_file)  # trusted in addition to the system CAs
    return context


class EmailSettings(ChannelConfig):
    type: Literal["email"]
    to: list[str] = Field(min_length=1, max_length=50, description="Recipient addresses.")

    @field_validator("to")
    @classmethod
    def _addresses(cls, values: list[str], info: ValidationInfo) -> list[str]:
        cap = info.context.get(MAX_RECIPIENTS) if isinstance(info.context, dict) else None
        if isinstance(cap, int) and len(values) > cap:
            raise ValueError(
                f"at most {cap} recipients (EXPORTWATCH_NOTIFY_MAX_RECIPIENTS), not {len(values)}"
            )
        out = []
        for value in values:
            address = value.strip()
            if not EMAIL.match(address):
                raise ValueError(f"not an e-mail address: {address[:80]!r}")
            out.append(address)
        return out


class EmailChannel:
    """Sends notifications to a fixed list of addresses."""

    type = "email"

    def __init__(self, settings: EmailSettings, ctx: ChannelContext) -> None:
        self.to = list(settings.to)
        self.target = target_id("email", *sorted(self.to))
        self._ctx = ctx
        self._tls: tuple[str | None, ssl.SSLContext] | None = None  # (CA file, context), built once

    # -- the message ------------------------------------------------------------------------------

    def build_message(self, notification: Notification, sender: str) -> EmailMessage:
        """The complete message; deterministic for a notification apart from the Date header."""
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["From"] = one_line(sender)
        msg["To"] = ", ".join(self.to)
        msg["Subject"] = literal_header(subject(notification))  # one line, no control characters
        msg["Date"] = email.utils.format_datetime(self._ctx.clock())
        msg["Message-ID"] = message_id(notification.id)
        msg["X-ExportWatch-Notification"] = notification_token(notification.id)
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, no loops
        msg["X-Auto-Response-Suppress"] = "All"  # the same for Exchange
        # Quoted-printable keeps lines short and the message 7-bit clean for any relay.
        msg.set_content(render_notification_text(notification), charset="utf-8", cte="quoted-printable")
        msg.add_alternative(
            render_notification_html(notification), subtype="html", charset="utf-8", cte="quoted-printable"
        )
        _one_line_headers(msg)
        return msg

    # -- delivery ---------------------------------------------------------------------------------

    async def _tls_context(self, smtp: SmtpServer) -> ssl.SSLContext:
        if self._tls is None or self._tls[0] != smtp.ca_file:
            try:
                self._tls = (smtp.ca_file, await asyncio.to_thread(_load_tls_context, smtp.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise DeliveryError(
                    Reason.CLIENT_ERROR, f"cannot load the CA file for the SMTP server: {type(exc).__name__}"
                ) from None
        return self._tls[1]

    async def send(self, notification: Notification) -> None:
        smtp = self._ctx.smtp
        if smtp is None:
            raise DeliveryError(Reason.CLIENT_ERROR, "no SMTP server configured")
        try:
            msg = self.build_message(notification, smtp.sender)
        except (ValueError, TypeError) as exc:  # e.g. a sender the email package cannot encode
            raise DeliveryError(
                Reason.CLIENT_ERROR, f"cannot build the message: {type(exc).__name__}"
            ) from None
        envelope_from = email.utils.parseaddr(smtp.sender)[1] or smtp.sender
        tls = await self._tls_context(smtp) if smtp.security != "none" else None
        password = smtp.password.get_secret_value() if smtp.password is not None else None
        secrets = [s for s in (smtp.username, password) if s]
        client = aiosmtplib.SMTP(
            hostname=smtp.host,
            port=smtp.port,
            timeout=smtp.timeout,
            use_tls=smtp.security == "tls",
            start_tls=False,  # done explicitly below, so a server without STARTTLS is an error
            tls_context=tls,
        )
        phase = "connect"
        delivered = False
        try:
            await client.connect()
            if smtp.security == "starttls":
                await client.ehlo()
                if not client.supports_extension("starttls"):
                    raise DeliveryError(Reason.CLIENT_ERROR, "the SMTP server does not offer STARTTLS")
                phase = "starttls"
                await client.starttls()
            if smtp.username:
                phase = "login"
                await client.login(smtp.username, password or "")
            phase = "send"
            refused, _ = await client.send_message(msg, sender=envelope_from, recipients=self.to)
            delivered = True
        except DeliveryError:
            raise
        except Exception as exc:  # every failure becomes a DeliveryError; nothing unexpected escapes
            raise _classify(exc, phase, smtp, secrets) from None
        finally:
            if not delivered:
                client.close()
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()  # the message was accepted: a failed goodbye is no reason to send it again
        if refused:
            log.warning(
                "email partly delivered channel=email target=%s refused=%d of %d codes=%s",
                self.target,
                len(refused),
                len(self.to),
                ",".join(sorted({str(r.code) for r in refused.values()})),
            )


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return one_line(text)[:_DETAIL_MAX]


def _reply(code: int, message: str, secrets: list[str]) -> str:
    return f"{code} {_scrub(message, secrets)}".strip()


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    for _ in range(5):
        if isinstance(seen, ssl.SSLError):
            return seen
        if seen is None:
            return None
        seen = seen.__cause__ or seen.__context__
    return None


def _classify(exc: Exception, phase: str, smtp: SmtpServer, secrets: list[str]) -> DeliveryError:
    """The DeliveryError for an SMTP failure: 4xx and network trouble are retried, 5xx are not."""
    where = f"{smtp.host}:{smtp.port}"
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # The reply text may repeat the user name: only the code is kept.
        return DeliveryError(Reason.AUTH_ERROR, f"SMTP authentication refused ({exc.code})")
    if phase == "login" and type(exc) is aiosmtplib.SMTPException:
        return DeliveryError(Reason.AUTH_ERROR, "the SMTP server offers no usable AUTH mechanism")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        first = exc.recipients[0] if exc.recipients else None
        reply = _reply(first.code, first.message, secrets) if first else ""
        if codes and all(400 <= c < 500 for c in codes):
            return DeliveryError(Reason.SERVER_ERROR, f"recipients temporarily refused: {reply}")
        return DeliveryError(Reason.CLIENT_ERROR, f"all {len(codes)} recipients refused: {reply}")
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        reason = Reason.SERVER_ERROR if 400 <= exc.code < 500 else Reason.CLIENT_ERROR
        return DeliveryError(reason, f"sender refused: {_reply(exc.code, exc.message, secrets)}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reason = Reason.CLIENT_ERROR if 500 <= exc.code < 600 else Reason.SERVER_ERROR
        return DeliveryError(reason, f"SMTP {phase} failed: {_reply(exc.code, exc.message, secrets)}")
    if isinstance(exc, TimeoutError):  # includes aiosmtplib.SMTPTimeoutError
        return DeliveryError(Reason.TIMEOUT, f"no answer from {where} in {smtp.timeout:g}s during {phase}")
    tls_error = _ssl_cause(exc)
    if isinstance(tls_error, ssl.SSLCertVerificationError):
        # A wrong CA or host name is fixed in the settings, not by waiting.
        why = _scrub(tls_error.verify_message or "not trusted", secrets)
        return DeliveryError(Reason.CLIENT_ERROR, f"TLS certificate of {where} rejected: {why}")
    if tls_error is not None:
        return DeliveryError(
            Reason.CLIENT_ERROR, f"TLS with {where} failed: {_scrub(tls_error.reason or 'error', secrets)}"
        )
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return DeliveryError(
            Reason.CLIENT_ERROR, f"SMTP server cannot take this message: {_scrub(exc.message, secrets)}"
        )
    if isinstance(exc, (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, OSError)):
        cause = exc.__cause__
        why = type(cause).__name__ if isinstance(cause, OSError) else type(exc).__name__
        return DeliveryError(Reason.NETWORK, f"SMTP connection to {where} failed during {phase}: {why}")
    if isinstance(exc, ValueError):
        return DeliveryError(Reason.CLIENT_ERROR, f"SMTP client refused the message: {type(exc).__name__}")
    return DeliveryError(Reason.SERVER_ERROR, f"unexpected SMTP failure during {phase}: {type(exc).__name__}")


EMAIL_CHANNEL = ChannelType("email", EmailSettings, EmailChannel, per_second=2.0)
