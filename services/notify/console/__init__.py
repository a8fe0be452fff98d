"""The researchers' web console, served by notify at ``/`` on its HTTP port: sign-in with an API token,
the alert archive with filters and counts, one alert with its evidence and audit, feedback, and the
researcher's own subscriptions, silences and feed URLs. Server-rendered (Jinja2, autoescaped), nothing
loaded from elsewhere, every form usable without JavaScript and guarded by the session's form token.
"""
