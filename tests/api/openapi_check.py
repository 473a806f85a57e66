"""Checks real responses against docs/openapi.yaml.

Every response an API test receives goes through `check()`: the path, method
and status must be described in the document, and a JSON body must match the
described schema. So the document cannot drift from the server unnoticed.
"""
import os
import re

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC_PATH = os.path.join(ROOT, "docs", "openapi.yaml")

_spec = None
_routes = None


def _load():
    global _spec, _routes
    if _spec is None:
        with open(SPEC_PATH) as f:
            _spec = yaml.safe_load(f)
        _routes = []
        for template, item in _spec.get("paths", {}).items():
            rx = "^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"
            # Literal segments win over parameters: /v1/products/popular before /v1/products/{id}.
            _routes.append((template.count("{"), re.compile(rx), template, item))
        _routes.sort(key=lambda r: r[0])
    return _spec, _routes


def _resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        cur = spec
        for part in ref[2:].split("/"):
            cur = cur[part]
        node = cur
    return node


# Any operation may answer these (the document's info.description says so:
# 403 is a cookie-authenticated write without its CSRF token or from
# another origin).
GENERIC = {403, 413, 415, 429, 500, 503}


class OpenAPIMismatch(AssertionError):
    pass


def check(method, path, status, headers, body):
    """Raises OpenAPIMismatch when the response is not what the document says."""
    spec, routes = _load()
    path = path.split("?", 1)[0]
    for _, rx, template, item in routes:
        if rx.match(path):
            break
    else:
        raise OpenAPIMismatch(f"{method} {path}: path not in docs/openapi.yaml")
    op = item.get(method.lower())
    if op is None and method == "OPTIONS" and status == 204:
        if not re.fullmatch(r"[A-Z]+(, [A-Z]+)*", headers.get("allow", "")):
            raise OpenAPIMismatch(f"OPTIONS {template}: 204 without a good Allow header")
        return
    if op is None:
        if status != 405:
            raise OpenAPIMismatch(f"{method} {template}: method not in docs/openapi.yaml")
        # A method the path does not have: the document's one answer for that.
        resp = {"$ref": "#/components/responses/MethodNotAllowed"}
    else:
        responses = op.get("responses", {})
        resp = (responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
                or responses.get("default"))
        if resp is None and status in GENERIC:
            resp = {"$ref": "#/components/responses/Problem"}
        if resp is None:
            raise OpenAPIMismatch(f"{method} {template}: status {status} not in docs/openapi.yaml "
                                  f"(documented: {sorted(responses)})")
    resp = _resolve(spec, resp)
    for name, h in resp.get("headers", {}).items():
        h = _resolve(spec, h)
        value = headers.get(name.lower())
        if value is None:
            if h.get("required"):
                raise OpenAPIMismatch(f"{method} {template} {status}: header {name} missing")
            continue
        pattern = h.get("schema", {}).get("pattern")
        if pattern and not re.search(pattern, value):
            raise OpenAPIMismatch(f"{method} {template} {status}: header {name}: {value!r} "
                                  f"does not match {pattern}")
    content = resp.get("content")
    ctype = headers.get("content-type", "").split(";")[0].strip()
    if not content:
        return
    media = content.get(ctype)
    if media is None:
        raise OpenAPIMismatch(f"{method} {template} {status}: content type {ctype!r} not documented "
                              f"({sorted(content)})")
    schema = media.get("schema")
    if schema is None or not ctype.endswith("json"):
        return
    validator = jsonschema.Draft202012Validator(
        schema,
        resolver=jsonschema.RefResolver(base_uri="", referrer=spec),
    )
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path)
        raise OpenAPIMismatch(f"{method} {template} {status}: body does not match the schema at "
                              f"'{where}': {e.message}")
