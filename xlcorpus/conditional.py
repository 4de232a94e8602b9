"""Does an S3 endpoint honour conditional writes? Every Delta commit on ``s3://`` needs it.

deltalake (1.x) commits version N by writing ``_delta_log/N.json`` with ``If-None-Match: *``:
the endpoint must refuse to create an object that exists (HTTP 412), or a second writer's
commit silently replaces the first one's. AWS S3 does so since August 2024; S3-compatible
servers vary. :func:`conditional_writes_hold` asks the endpoint itself, once per process:
it creates a scratch object under ``STORE/_xlcorpus_probe/`` twice with ``If-None-Match: *``
(a signed request with the store's static credentials) and removes it. The answer:

- ``True``: the second create was refused (or the endpoint is AWS S3 itself, or
  ``AWS_S3_ALLOW_UNSAFE_RENAME=true`` declares a single writer);
- ``False``: the second create succeeded: writing is refused (:meth:`Store.check_writable`);
- ``None``: it could not be asked (no static credentials, an unexpected answer): a warning
  is logged and writes go on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import logging
import os
import uuid
from collections.abc import Mapping
from urllib.parse import quote, urlparse

log = logging.getLogger(__name__)
_ANSWERS: dict[tuple, bool | None] = {}
TRUE = {"1", "true", "yes"}


def s3_setting(options: Mapping[str, str], *names: str) -> str | None:
    """A setting from the storage options (deltalake's keys, any case, with or without the
    ``aws_`` prefix) or else the environment (``AWS_...``)."""
    lowered = {k.lower(): v for k, v in options.items()}
    for name in names:
        for key in (name, name.removeprefix("aws_")):
            if key in lowered:
                return lowered[key]
    for name in names:
        if name.upper() in os.environ:
            return os.environ[name.upper()]
    return None


def conditional_writes_hold(root: str, options: Mapping[str, str] | None) -> bool | None:
    """Whether the endpoint of ``root`` (``s3://bucket/prefix``) refuses a second create."""
    options = options or {}
    if (s3_setting(options, "aws_s3_allow_unsafe_rename") or "").lower() in TRUE:
        return True
    endpoint = s3_setting(options, "aws_endpoint_url", "aws_endpoint", "aws_endpoint_url_s3")
    if not endpoint or (urlparse(endpoint).hostname or "").endswith(".amazonaws.com"):
        return True  # AWS S3: conditional writes since August 2024
    key = (endpoint, root.split("/")[2], s3_setting(options, "aws_access_key_id"))
    if key not in _ANSWERS:
        _ANSWERS[key] = _ask(root, endpoint, options)
        if _ANSWERS[key] is None:
            log.warning("could not check whether %s honours conditional writes; writing anyway", endpoint)
    return _ANSWERS[key]


def _ask(root: str, endpoint: str, options: Mapping[str, str]) -> bool | None:
    bucket, _, prefix = root.removeprefix("s3a://").removeprefix("s3://").partition("/")
    object_key = "/".join(p for p in (prefix, "_xlcorpus_probe", uuid.uuid4().hex) if p)
    try:
        first = _request("PUT", endpoint, bucket, object_key, options, {"If-None-Match": "*"})
        if first not in (200, 201):
            return None
        second = _request("PUT", endpoint, bucket, object_key, options, {"If-None-Match": "*"})
        _request("DELETE", endpoint, bucket, object_key, options, {})
    except (OSError, http.client.HTTPException, ValueError):
        return None
    return True if second in (409, 412) else False if second in (200, 201) else None


def _request(method: str, endpoint: str, bucket: str, key: str, options: Mapping[str, str],
             extra: dict[str, str]) -> int:
    """One path-style request signed with AWS Signature Version 4; its status."""
    access = s3_setting(options, "aws_access_key_id")
    secret = s3_setting(options, "aws_secret_access_key")
    if not access or not secret:
        raise ValueError("no static credentials")
    token = s3_setting(options, "aws_session_token", "aws_token")
    region = s3_setting(options, "aws_region", "aws_default_region") or "us-east-1"
    url = urlparse(endpoint)
    host = url.netloc
    path = "/" + "/".join(quote(p, safe="-_.~") for p in [bucket, *key.split("/")])
    now = dt.datetime.now(dt.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(b"").hexdigest()
    headers = {"host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload,
               **{k.lower(): v for k, v in extra.items()}}
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join([method, path, "", *(f"{n}:{headers[n].strip()}" for n in names), "",
                           ";".join(names), payload])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signing = f"AWS4{secret}".encode()
    for part in (day, region, "s3", "aws4_request"):
        signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    conn_type = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = conn_type(url.hostname, url.port, timeout=30)
    try:
        conn.request(method, path, body=b"" if method == "PUT" else None, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()
