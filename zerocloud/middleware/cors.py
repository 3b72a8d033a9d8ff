# Copyright (c) 2026 zerocloud developers
# Licensed under the Apache License, Version 2.0
"""CORS for opened objects and REST endpoints, as Swift does it for objects.

A page served from another origin calls ``/api/ACCOUNT/CONTAINER/...`` or
opens ``/open/ACCOUNT/CONTAINER/OBJECT`` from JavaScript; the browser lets
it read the answer only with CORS headers, and first sends a preflight
``OPTIONS`` for anything but the simplest requests.  Swift answers both
for its objects from the container's metadata
(``X-Container-Meta-Access-Control-Allow-Origin``, ``-Max-Age``,
``-Expose-Headers``); these answers come from the proxy filter, before
Swift's proxy server, so the filter applies the same container metadata
(ZeroCloud's ``zerovm_use_cors``):

* an answer to a request with ``Origin`` that the container allows (its
  origin is listed, or ``*`` is) gets ``Access-Control-Allow-Origin`` (the
  request's origin) and ``Access-Control-Expose-Headers`` (Swift's usual
  ones, ZeroCloud's ``X-Nexe-*`` and ours, and the container's);
* a preflight ``OPTIONS`` is ``200`` with the open methods, the requested
  headers and the container's max age when the origin is allowed and the
  method is one of the open methods, else ``401``, as Swift answers it.

Without ``Origin`` nothing changes; the container's read ACL still
decides who may run anything (CORS only lets a browser show the answer).
"""
from zerocloud.middleware.report import (COLOCATED_HEADER, NEXE_HEADERS,
                                         OMITTED_HEADER)

__all__ = ['allows', 'answer_headers', 'preflight_headers', 'EXPOSED']

#: Headers a page may read from every answer: Swift's default list, the
#: X-Nexe-* headers and the chain's.
EXPOSED = ('cache-control', 'content-language', 'content-type', 'expires',
           'last-modified', 'pragma', 'etag', 'x-timestamp', 'x-trans-id',
           'x-openstack-request-id') + tuple(
               h.lower() for h in NEXE_HEADERS + (
                   COLOCATED_HEADER, OMITTED_HEADER,
                   'X-Zerocloud-Chain-Length', 'X-Chain-Total-Time'))


def allows(cors, origin):
    """Does a container's CORS info (Swift's container info ``cors``)
    allow ``origin``?"""
    if not origin:
        return False
    origins = ((cors or {}).get('allow_origin') or '').split()
    return '*' in origins or origin in origins


def answer_headers(cors, origin):
    """The CORS headers of an answer to a request from ``origin`` (an
    empty dict when the container does not allow it)."""
    if not allows(cors, origin):
        return {}
    extra = ((cors or {}).get('expose_headers') or '').lower().split()
    exposed = list(EXPOSED) + [h.strip(',') for h in extra
                               if h.strip(',') not in EXPOSED]
    return {'Access-Control-Allow-Origin': origin,
            'Access-Control-Expose-Headers': ', '.join(exposed),
            'Vary': 'Origin'}


def preflight_headers(cors, origin, method, request_headers, methods):
    """The headers of a ``200`` preflight answer, or None for ``401``:
    the origin is not allowed, or ``method`` is not one of ``methods``."""
    if not allows(cors, origin) or method not in methods:
        return None
    headers = {'Access-Control-Allow-Origin': origin,
               'Access-Control-Allow-Methods': ', '.join(methods),
               'Allow': ', '.join(methods + ('OPTIONS',)),
               'Vary': 'Origin'}
    if request_headers:
        headers['Access-Control-Allow-Headers'] = request_headers
    max_age = (cors or {}).get('max_age')
    if max_age:
        headers['Access-Control-Max-Age'] = str(max_age)
    return headers
