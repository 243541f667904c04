"""Getting messages out: every reply, reminder and alert is a row before it is a network call.

- ``outbox``: the sender that turns outbox rows into ``Adapter.send`` calls, in order per
  chat, with retries, backoff and dead letters;
- ``ratelimit``: token buckets per adapter and per chat;
- ``handover_files``: files that exist only to be handed over (``/export`` bundles);
- ``outbox_admin``: ``haven outbox`` and ``haven outbox retry``.
"""
