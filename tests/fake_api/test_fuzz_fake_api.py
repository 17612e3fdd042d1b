"""The fake Vertex API fuzzed over raw HTTP, from the shape of its routes.

A real :class:`FakeVertexServer` (simulated mode) gets generated requests: every method on
every route with odd names and ids, malformed and wrong-typed JSON bodies, invalid filters,
page sizes and page tokens, odd headers, and malformed HTTP over a raw socket. It must
never answer 500, never drop a connection without an answer, and answer every error in the
google.rpc shape ``{"error": {"code", "message", "status"}}`` with ``code`` the HTTP status.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from google.rpc import code_pb2
from hypothesis import given
from hypothesis import strategies as st
from support.fuzz_support import FuzzCases, fuzz_cases_fixture  # noqa: F401  (the fixture)
from support.job_strategies import (
    JSON,
    field_name,
    leaves_and_nodes,
    replaced,
    valid_jobs,
    wrong_types,
)

from cjob_emu.fake_api import FakeVertexServer

RPC_STATUSES = set(code_pb2.Code.keys())
PARENT = "/v1/projects/p/locations/us-central1"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeVertexServer]:
    with FakeVertexServer() as running:
        yield running


def send(
    server: FakeVertexServer,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection; the status, headers (lower-case) and body."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        sent = {k.lower() for k in (headers or {})}
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if "content-length" not in sent and "transfer-encoding" not in sent:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()  # a dropped connection raises here: a failure
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def check(status: int, body: bytes, *, head: bool = False, http_level: bool = False) -> Any:
    """No 5xx (but 501 and 505, HTTP's own answers to an unknown method or version, when
    ``http_level``); JSON always; an error in google.rpc shape. The decoded body."""
    allowed = {501, 505} if http_level else set()
    assert status < 500 or status in allowed, (status, body[:500])
    if head:
        assert body == b""
        return None
    data = json.loads(body)
    if status >= 400:
        assert set(data) == {"error"}, data
        error = data["error"]
        assert error["code"] == status, error
        assert isinstance(error["message"], str) and error["message"], error
        assert error["status"] in RPC_STATUSES, error
        if status in allowed:
            assert error["status"] == "UNIMPLEMENTED", error
    return data


# -- strategies ---------------------------------------------------------------------------

SEGMENT = (
    st.text(max_size=20).map(lambda t: quote(t, safe=""))
    | st.sampled_from(["..", ".", "%2F", "%00", "%zz", "%", "a%2Fb", "x" * 3000, "-1", "0"])
    | st.from_regex(r"[0-9]{1,25}", fullmatch=True)
)
METHODS = st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"])


@st.composite
def api_paths(draw: Any) -> str:
    version = draw(st.sampled_from(["v1", "v1beta1", "ui", "v2", ""]))
    project, location, job_id = draw(SEGMENT), draw(SEGMENT), draw(SEGMENT)
    rest = draw(
        st.sampled_from(
            [
                "customJobs",
                f"customJobs/{job_id}",
                f"customJobs/{job_id}:cancel",
                f"customJobs/{job_id}:{draw(SEGMENT)}",
                f"customJobs/{job_id}/x",
                f"operations/{job_id}",
                f"operations/{job_id}:wait",
                draw(SEGMENT),
            ]
        )
    )
    return f"/{version}/projects/{project}/locations/{location}/{rest}"


FILTER_TOKENS = st.sampled_from(
    [
        'state="JOB_STATE_SUCCEEDED"', "state=JOB_STATE_FAILED", 'display_name="a b"',
        "displayName:x*", 'labels.team="x"', "labels.a:*", 'create_time>"2024-01-01T00:00:00Z"',
        'update_time<="x"', "NOT", "AND", "OR", "-", "(", ")", "=", "!=", ":", "*", '"', "\\",
        "state", "labels.", "1e999", "", " ", "\x00", "\u00e9", "state=", '"unterminated',
    ]
)
FILTERS = st.lists(FILTER_TOKENS, max_size=8).map(" ".join) | st.text(max_size=40)
PAGE_TOKENS = (
    st.text(max_size=40)
    | st.binary(max_size=40).map(lambda b: __import__("base64").urlsafe_b64encode(b).decode())
    | st.sampled_from(["", "=", "AAAA", "eyJ9", "-1"])
)
PAGE_SIZES = st.integers(-(2**70), 2**70).map(str) | st.text(max_size=10)


@st.composite
def queries(draw: Any) -> str:
    params: list[tuple[str, str]] = []
    if draw(st.booleans()):
        params.append(("filter", draw(FILTERS)))
    if draw(st.booleans()):
        params.append((draw(st.sampled_from(["pageSize", "page_size"])), draw(PAGE_SIZES)))
    if draw(st.booleans()):
        params.append((draw(st.sampled_from(["pageToken", "page_token"])), draw(PAGE_TOKENS)))
    if draw(st.booleans()):
        params.append((draw(st.text(max_size=8)), draw(st.text(max_size=8))))
    raw = draw(st.sampled_from(["", "&", "%", "=&=", "filter", "filter=%zz", "a=%ff%fe"]))
    return urlencode(params) + (("&" + raw) if raw else "")


@st.composite
def bad_jobs(draw: Any) -> dict[str, Any]:
    job = draw(valid_jobs())
    path = draw(st.sampled_from(leaves_and_nodes(job)))
    return replaced(job, path, draw(wrong_types(job_value(job, path), path[-1])))


def job_value(job: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        job = job[step]
    return job


BODIES = (
    st.binary(max_size=200)
    | JSON.map(lambda v: json.dumps(v).encode())
    | valid_jobs().map(lambda j: json.dumps(j).encode())
    | bad_jobs().map(lambda j: json.dumps(j).encode())
    | st.sampled_from(
        [b"", b"{", b"[]", b"null", b'"x"', b"{}", b'{"a": NaN}', b"\xff\xfe", b"[" * 100_000,
         b'{"displayName": "' + b"x" * 2_000_000 + b'"}']
    )
)
HEADERS = st.dictionaries(
    st.sampled_from(["Content-Type", "Accept", "X-Goog-Api-Client", "Authorization",
                     "X-HTTP-Method-Override", "Expect", "Accept-Encoding", "X-Odd"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    max_size=3,
)


# -- the tests ----------------------------------------------------------------------------


def test_generated_requests_never_fail_the_server(
    server: FakeVertexServer, fuzz_cases: FuzzCases
) -> None:
    @fuzz_cases.settings(1000)
    @given(METHODS, api_paths(), queries(), BODIES, HEADERS)
    def prop(method: str, path: str, query: str, body: bytes, headers: dict[str, str]) -> None:
        fuzz_cases.tick()
        if headers.get("Expect"):  # 100-continue needs a client that waits for it
            del headers["Expect"]
        target = f"{path}?{query}" if query else path
        status, _, data = send(server, method, target, body, headers)
        check(status, data, head=method == "HEAD")

    prop()
    fuzz_cases.expect()


def test_a_wrong_type_anywhere_in_a_created_job_is_a_bad_request_naming_it(
    server: FakeVertexServer, fuzz_cases: FuzzCases
) -> None:
    @fuzz_cases.settings(300)
    @given(valid_jobs(), st.data())
    def prop(job: dict[str, Any], data: st.DataObject) -> None:
        fuzz_cases.tick()
        path = data.draw(st.sampled_from(leaves_and_nodes(job)))
        bad = replaced(job, path, data.draw(wrong_types(job_value(job, path), path[-1])))
        status, _, body = send(server, "POST", f"{PARENT}/customJobs", json.dumps(bad).encode())
        error = check(status, body)["error"]
        assert (status, error["status"]) == (400, "INVALID_ARGUMENT"), error
        (details,) = error["details"]
        assert field_name(path) in [v["field"] for v in details["fieldViolations"]], error

    prop()
    fuzz_cases.expect()


def test_creates_of_generated_jobs_answer_a_job_or_a_bad_request(
    server: FakeVertexServer, fuzz_cases: FuzzCases
) -> None:
    @fuzz_cases.settings(500)
    @given(valid_jobs() | bad_jobs())
    def prop(job: dict[str, Any]) -> None:
        fuzz_cases.tick()
        status, _, data = send(server, "POST", f"{PARENT}/customJobs", json.dumps(job).encode())
        answer = check(status, data)
        if status == 200:
            assert answer["displayName"] == job["displayName"]
            got_status, _, got = send(server, "GET", "/v1/" + answer["name"])
            assert got_status == 200 and check(got_status, got)["name"] == answer["name"]
        else:
            assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"

    prop()
    fuzz_cases.expect()


def test_lists_with_generated_queries_answer_a_page_or_a_bad_request(
    server: FakeVertexServer, fuzz_cases: FuzzCases
) -> None:
    for _ in range(3):
        send(server, "POST", f"{PARENT}/customJobs",
             json.dumps({"displayName": "x", "jobSpec": {"workerPoolSpecs": [{
                 "machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
                 "containerSpec": {"imageUri": "python:3.11"}}]}}).encode())

    @fuzz_cases.settings(800)
    @given(queries())
    def prop(query: str) -> None:
        fuzz_cases.tick()
        status, _, data = send(server, "GET", f"{PARENT}/customJobs?{query}")
        answer = check(status, data)
        assert status in (200, 400), answer
        if status == 200:
            assert set(answer) <= {"customJobs", "nextPageToken"}

    prop()
    fuzz_cases.expect()


def test_admin_routes_never_fail(server: FakeVertexServer, fuzz_cases: FuzzCases) -> None:
    admin = st.sampled_from(["health", "state", "reset", "outcomes", "faults", "latency",
                             "force", "x", "", "health/x"])
    body = JSON.map(lambda v: json.dumps(v).encode()) | st.fixed_dictionaries(
        {}, optional={"status": JSON, "count": JSON, "methods": JSON, "seconds": JSON,
                      "result": JSON, "polls": JSON, "times": JSON, "name": JSON,
                      "state": JSON, "error": JSON, "displayName": JSON}
    ).map(lambda d: json.dumps(d).encode())

    @fuzz_cases.settings(600)
    @given(METHODS, admin, body)
    def prop(method: str, route: str, data: bytes) -> None:
        fuzz_cases.tick()
        try:
            status, _, answer = send(server, method, f"/_cjob_emu/{route}", data)
            check(status, answer, head=method == "HEAD")
        finally:
            server.reset()  # a fault or latency set on purpose must not leak into others

    prop()
    fuzz_cases.expect()


def raw(server: FakeVertexServer, data: bytes) -> bytes:
    """Send bytes as they are; everything the server answers until it closes or goes quiet."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def parse_answers(data: bytes) -> list[tuple[int, bytes]]:
    """The (status, body) of each HTTP/1.1 answer in ``data``, by Content-Length."""
    answers = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, data[:300]
        lines = head.decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ")[:2]
        assert version == "HTTP/1.1"
        fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        length = int(fields["content-length"])
        answers.append((int(status), rest[:length]))
        data = rest[length:]
    return answers


ODD_HTTP = [
    b"GET\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    b"POST /v1/projects/p/locations/l/customJobs HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    b"POST /v1/projects/p/locations/l/customJobs HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
    b"POST /v1/projects/p/locations/l/customJobs HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}{}",
    b"POST /v1/projects/p/locations/l/customJobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\n",
    b"POST /v1/projects/p/locations/l/customJobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"2\r\n{}\r\n0\r\n\r\n",
    b"POST /v1/projects/p/locations/l/customJobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"FFFFFFFFFF\r\n",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * 70_000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET / HTTP/1.1 extra\r\n\r\n",
    b"\x00\x01\x02 / HTTP/1.1\r\n\r\n",
    b"GET /v1/projects/p/locations/l/customJobs/\xff\xfe HTTP/1.1\r\n\r\n",
    b"GET /v1/projects/p/locations/l/customJobs?filter=%ff HTTP/1.1\r\n\r\n",
    b"GET /v1/projects/p/locations/l/customJobs HTTP/1.1\r\nHost: \xff\r\n\r\n",
    b"BREW /v1/projects/p/locations/l/customJobs HTTP/1.1\r\n\r\n",
    b"GET http://other/v1/projects/p/locations/l/customJobs HTTP/1.1\r\n\r\n",
    b"GET * HTTP/1.1\r\n\r\n",
]


@pytest.mark.parametrize("request_bytes", ODD_HTTP, ids=lambda b: repr(b[:40]))
def test_malformed_http_gets_a_google_rpc_answer(
    server: FakeVertexServer, request_bytes: bytes
) -> None:
    answers = parse_answers(raw(server, request_bytes))
    assert answers, "the connection was dropped without an answer"
    for status, body in answers:
        check(status, body, http_level=True)


def test_raw_generated_request_lines_get_an_answer(
    server: FakeVertexServer, fuzz_cases: FuzzCases
) -> None:
    # A line with no words at all is skipped like the blank lines RFC 9112 lets precede a
    # request (http.server splits on str whitespace, \x1c included): no answer is right.
    line = st.binary(min_size=1, max_size=80).filter(
        lambda b: b.decode("latin-1").split() and b"\n" not in b
    )

    @fuzz_cases.settings(300)
    @given(line, st.lists(st.binary(max_size=40).filter(lambda b: b"\n" not in b), max_size=3))
    def prop(request_line: bytes, header_lines: list[bytes]) -> None:
        fuzz_cases.tick()
        data = request_line + b"\r\n" + b"".join(h + b"\r\n" for h in header_lines) + b"\r\n"
        answers = parse_answers(raw(server, data))
        assert answers, f"no answer to {data!r}"
        for status, body in answers:
            check(status, body, http_level=True)

    prop()
    fuzz_cases.expect()
