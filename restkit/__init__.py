"""The project's REST API conventions, shared by every app that serves an API (chat, hscode).

Session authentication with CSRF always checked, undocumented query parameters refused, strict JSON fields and
filters, staff and visibility rules. It knows conversations (who owns what), nothing above them.
"""
