"""A minimal Hub-protocol HTTP server on 127.0.0.1 that stands in for the Hugging Face Hub in tests.

The Hub cannot be reached from the test machines, so the publishing tests point the real
huggingface_hub client at this server through HF_ENDPOINT. It implements only what
`create_repo`, `upload_folder` and `from_pretrained` use:

    POST /api/repos/create                         create a model repo (409 with its url if it exists)
    POST /api/validate-yaml                        check a README.md's metadata before it is committed
    POST /api/models/{repo_id}/preupload/{rev}     every file is uploaded "regular" (inline, no LFS)
    POST /api/models/{repo_id}/commit/{rev}        ndjson header + file / deletedFile operations
    HEAD|GET /{repo_id}/resolve/{rev}/{path}       file bytes with X-Repo-Commit and ETag headers

Repos live in memory, one branch (main); any bearer token is the user `test-user`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

USER = "test-user"
EMPTY_COMMIT = "0" * 40


@dataclass
class Repo:
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commit: str = EMPTY_COMMIT
    commit_messages: list[str] = field(default_factory=list)


class FakeHub:
    """The server's state, readable by tests: repos, and the requests seen (method, path)."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.refuse_commits = False  # set to answer every commit 403, as a Hub without write access would
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


RESOLVE = re.compile(r"^/(?:models/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
API_REPO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<action>preupload|commit)/(?P<rev>[^/]+)$")


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean; hub.requests records every call
            pass

        # -- helpers ---------------------------------------------------------------------------
        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, json_body=None) -> None:
            if json_body is not None:
                body = json.dumps(json_body).encode()
                headers = {"Content-Type": "application/json", **(headers or {})}
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, code: str, message: str, commit: str | None = None) -> None:
            headers = {"X-Error-Code": code, "X-Error-Message": message}
            if commit:
                headers["X-Repo-Commit"] = commit
            self._send(status, headers=headers, json_body={"error": message})

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", 0)))

        def _authorised(self) -> bool:
            if self.headers.get("Authorization", "").startswith("Bearer "):
                return True
            self._error(401, "Unauthorized", "a token is required to write")
            return False

        # -- routes ----------------------------------------------------------------------------
        def do_POST(self) -> None:
            hub.requests.append(("POST", self.path.split("?")[0]))
            path = self.path.split("?")[0]
            if not self._authorised():
                return
            if path == "/api/repos/create":
                return self._create_repo(json.loads(self._body()))
            if path == "/api/validate-yaml":
                return self._validate_card(json.loads(self._body())["content"])
            match = API_REPO.match(path)
            if not match or match["repo"] not in hub.repos:
                return self._error(404, "RepoNotFound", f"no route or repo for {path}")
            if match["action"] == "preupload":
                files = json.loads(self._body())["files"]
                return self._send(
                    200,
                    json_body={
                        "files": [
                            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                            for f in files
                        ]
                    },
                )
            if hub.refuse_commits:
                return self._error(403, "Forbidden", "this token has no write access to the repo")
            return self._commit(match["repo"], self._body())

        def _create_repo(self, payload: dict) -> None:
            repo_id = f"{payload.get('organization') or USER}/{payload['name']}"
            url = f"{hub.url}/{repo_id}"
            with hub.lock:
                if repo_id in hub.repos:
                    return self._send(409, json_body={"error": "You already created this model repo", "url": url})
                hub.repos[repo_id] = Repo(private=bool(payload.get("private")))
            self._send(200, json_body={"url": url})

        def _validate_card(self, readme: str) -> None:
            """The Hub's check, in its two essentials: the metadata is a YAML mapping, and
            co2_eq_emissions.emissions (grams) is a number."""
            errors = []
            try:
                metadata = yaml.safe_load(readme.split("---")[1]) if readme.startswith("---") else {}
            except yaml.YAMLError as error:
                metadata, errors = None, [f"metadata is not YAML: {error}"]
            if not errors and not isinstance(metadata, dict):
                errors.append("metadata must be a mapping")
            emissions = (metadata or {}).get("co2_eq_emissions")
            if isinstance(emissions, dict) and not isinstance(emissions.get("emissions"), (int, float)):
                errors.append("co2_eq_emissions.emissions must be a number of grams")
            self._send(400 if errors else 200, json_body={"errors": [{"message": e} for e in errors], "warnings": []})

        def _commit(self, repo_id: str, body: bytes) -> None:
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            header = next(item["value"] for item in lines if item["key"] == "header")
            with hub.lock:
                repo = hub.repos[repo_id]
                for item in lines:
                    value = item["value"]
                    if item["key"] == "file":
                        repo.files[value["path"]] = base64.b64decode(value["content"])
                    elif item["key"] == "deletedFile":
                        repo.files.pop(value["path"], None)
                    elif item["key"] != "header":
                        return self._error(400, "BadRequest", f"this stand-in does not support {item['key']}")
                digest = hashlib.sha1(repo.commit.encode())
                for name in sorted(repo.files):
                    digest.update(name.encode() + repo.files[name])
                repo.commit = digest.hexdigest()
                repo.commit_messages.append(header["summary"])
            self._send(
                200,
                json_body={
                    "commitUrl": f"{hub.url}/{repo_id}/commit/{repo.commit}",
                    "commitOid": repo.commit,
                    "pullRequestUrl": None,
                },
            )

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            hub.requests.append((self.command, path))
            match = RESOLVE.match(path)
            if not match or match["repo"] not in hub.repos:
                return self._error(404, "RepoNotFound", f"no route or repo for {path}")
            repo = hub.repos[match["repo"]]
            if repo.private and not self.headers.get("Authorization"):
                return self._error(401, "RepoNotFound", "private repo: a token is required")
            content = repo.files.get(match["path"])
            if content is None:
                return self._error(404, "EntryNotFound", f"{match['path']} is not in {match['repo']}", repo.commit)
            etag = hashlib.sha1(content).hexdigest()
            self._send(
                200,
                content,
                {"X-Repo-Commit": repo.commit, "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"},
            )

    return Handler


if __name__ == "__main__":  # run by hand: python tests/support/hub_server.py, then HF_ENDPOINT=<printed url>
    with FakeHub() as running:
        print(running.url, flush=True)
        running.thread.join()
