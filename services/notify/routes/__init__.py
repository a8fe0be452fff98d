"""The routes of notify's API (``services/notify/api.py``), one module per resource: subscriptions,
silences, deliveries (test sends and dead notifications) and tokens, on what ``base`` shares."""
