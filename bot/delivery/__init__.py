"""Getting messages out: every reply, reminder and alert is a row before it is a network call.

- ``outbox``: the sender that turns outbox rows into ``Adapter.send`` calls, in order per
  chat, with retries, backoff and dead letters;
- ``ratelimit``: token buckets per adapter and per chat;
- ``handover_files``: files that exist only to be handed over (``/export`` bundles);
- ``outbox_admin``: ``haven outbox`` and ``haven outbox retry``;
- ``web_records``: the web chat's chats and mailboxes (delivering to the web is writing
  to a mailbox), for the web adapter through the composition root.
"""

# The modules other packages may import; the rest serve this package alone
# (tests/test_layers.py checks it).
__all__ = ["handover_files", "outbox", "outbox_admin", "ratelimit", "web_records"]
