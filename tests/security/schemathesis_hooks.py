"""Schemathesis hooks (SCHEMATHESIS_HOOKS): every request carries the caller's CSRF cookie.

The session cookie is the documented credential (`cookieAuth`), which Schemathesis sends, drops and forges as
its checks require; the CSRF cookie is not a credential but must travel with it for unsafe methods.
"""

import os

import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    case.cookies = {**(case.cookies or {}), "csrftoken": os.environ["TRADECHAT_CSRF_TOKEN"]}
