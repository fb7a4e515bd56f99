"""Reading blocks back from a DA server (our `blockv2 da serve`, or any
celestia-node JSON-RPC blob API) for the test scripts that check what
reached DA: tests/ha/acceptance.py, tests/ha/da_blobs.py and
tests/reliability/py/dacheck.py. Standard library only.

    sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
    import dablocks
    da = dablocks.DA("http://127.0.0.1:PORT")
    nh = dablocks.ns("my-headers")
    for h in range(1, da.head() + 1):
        for space, data in da.blobs_at(h, [nh]):
            height = dablocks.header_height(data)

Namespaces are as the node derives them from da.namespace (ns()); blob
bytes are the node's protobuf messages, decoded here only as far as the
checks need (a block's height, a header's signature).
"""
import base64
import hashlib
import http.client
import json
import time
from urllib.parse import urlparse


class DAError(Exception):
    """The DA server did not answer, or answered an error."""


def ns(name):
    """The 29-byte namespace the node derives from da.namespace `name`."""
    return bytes(19) + hashlib.sha256(name.encode()).digest()[:10]


# ------------------------------------------------------------- protobuf

def varint(b, i):
    """(value, next index) of the varint at b[i]."""
    x = s = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return x, i


def fields(b):
    """Yields (field number, wire type, value) of a protobuf message:
    value an int (varint) or bytes (length-delimited, fixed64, fixed32)."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield f, wt, v


def field(b, num):
    """The first value of field `num` of message b, or None."""
    for f, _, v in fields(b):
        if f == num:
            return v
    return None


def sub(b, *path):
    """The value at a path of field numbers (every step but the last a
    length-delimited message); StopIteration when a field is missing."""
    for p in path[:-1]:
        b = next(v for f, wt, v in fields(b) if f == p and wt == 2)
    return next(v for f, _, v in fields(b) if f == path[-1])


def header_height(blob):
    """A header blob's block height (DAHeaderEnvelope/SignedHeader ->
    Header.height)."""
    return sub(blob, 1, 2)


def header_signature(blob):
    """A header blob's signature bytes (b"" when absent)."""
    return field(blob, 2) or b""


def data_height(blob):
    """A data blob's block height (SignedData -> Data -> Metadata.height)."""
    return sub(blob, 1, 1, 2)


# ------------------------------------------------------------- the server

class DA:
    """A JSON-RPC client of one DA server, on one kept-alive connection
    (re-opened on a failure, up to `tries` attempts per call)."""

    def __init__(self, url, timeout=30.0, tries=5):
        u = urlparse(url)
        self.host, self.port = u.hostname, u.port or 80
        self.timeout, self.tries = timeout, tries
        self.conn = None

    def call(self, method, params):
        """The parsed JSON-RPC answer (with "result" or "error")."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                           "params": params})
        why = None
        for i in range(self.tries):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(
                        self.host, self.port, timeout=self.timeout)
                self.conn.request("POST", "/", body=body, headers={
                    "Content-Type": "application/json"})
                r = self.conn.getresponse()
                j = json.loads(r.read())
                if not isinstance(j, dict):
                    raise ValueError("HTTP %d, not a JSON-RPC answer" % r.status)
                return j
            except (OSError, http.client.HTTPException, ValueError) as e:
                why = e
                self.close()
                if i + 1 < self.tries:
                    time.sleep(0.5)
        raise DAError("%s: the DA server does not answer (%s)" % (method, why))

    def head(self):
        """The DA head height."""
        j = self.call("header.NetworkHead", [])
        try:
            return int(j["result"]["header"]["height"])
        except (KeyError, TypeError, ValueError):
            raise DAError("header.NetworkHead: %s" % j.get("error", j))

    def blobs_at(self, height, namespaces):
        """[(namespace bytes, blob bytes)] at one DA height for the given
        namespaces (bytes); [] when the height holds none of them."""
        j = self.call("blob.GetAll", [height, [
            base64.b64encode(n).decode() for n in namespaces]])
        if "error" in j:
            if "not found" in (j["error"] or {}).get("message", ""):
                return []
            raise DAError("blob.GetAll %d: %s" % (height, j["error"]))
        return [(base64.b64decode(b["namespace"]), base64.b64decode(b["data"]))
                for b in j.get("result") or []]

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
