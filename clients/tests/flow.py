"""The generated client against a live troupe server (TROUPE_URL): sign in, run the `hello`
pipeline, page through executions, read steps, logs and artifacts, and handle a 404 and a 422
as typed answers. Run by the cargo test `python_client` (tests/tests/e2e/python_client.rs)."""

import json
import os
import time
import uuid

from troupe_client import AuthenticatedClient, Client
from troupe_client.api.auth import login, register
from troupe_client.api.executions import (
    create_execution,
    download_artifact,
    get_execution,
    list_artifacts,
    list_executions,
    list_logs,
    list_steps,
)
from troupe_client.api.pipelines import register_pipeline
from troupe_client.models import (
    CreateExecution,
    ErrorBody,
    ExecutionPage,
    ExecutionStatusName,
    ExecutionView,
    LoginRequest,
    PipelineDefinition,
    RegisterRequest,
    TokenView,
    UserView,
)

BASE = os.environ["TROUPE_URL"]
EMAIL = "py@example.com"
PASSWORD = "password-1"

anonymous = Client(base_url=BASE, raise_on_unexpected_status=True)
user = register.sync(client=anonymous, body=RegisterRequest(email=EMAIL, password=PASSWORD))
assert isinstance(user, UserView), user
tokens = login.sync(client=anonymous, body=LoginRequest(email=EMAIL, password=PASSWORD))
assert isinstance(tokens, TokenView), tokens
client = AuthenticatedClient(base_url=BASE, token=tokens.access_token, raise_on_unexpected_status=True)

# Three executions of the built-in `hello` pipeline; wait for the first to finish.
started = []
for name in ["Ada", "Grace", "Edsger"]:
    execution = create_execution.sync(
        client=client, body=CreateExecution(pipeline="hello", input_={"name": name, "shout": True})
    )
    assert isinstance(execution, ExecutionView), execution
    started.append(execution.id)
deadline = time.monotonic() + 60
while True:
    execution = get_execution.sync(started[0], client=client)
    assert isinstance(execution, ExecutionView), execution
    if execution.status in (ExecutionStatusName.COMPLETED, ExecutionStatusName.FAILED):
        break
    assert time.monotonic() < deadline, f"still {execution.status}"
    time.sleep(0.1)
assert execution.status == ExecutionStatusName.COMPLETED, execution

# Page through them two at a time, newest first.
seen = []
cursor = None
while True:
    page = list_executions.sync(client=client, limit=2, **({"cursor": cursor} if cursor else {}))
    assert isinstance(page, ExecutionPage), page
    seen.extend(item.id for item in page.items)
    if not page.next_cursor:
        break
    cursor = page.next_cursor
assert seen == list(reversed(started)), (seen, started)

# Steps, logs and artifacts of the finished one.
steps = list_steps.sync(started[0], client=client)
assert [step.key for step in steps] == ["plan", "polite", "loud", "summary"], [step.key for step in steps]
assert all(step.attempts for step in steps)
logs = list_logs.sync(started[0], client=client)
assert isinstance(logs, list)
artifacts = list_artifacts.sync(started[0], client=client)
assert artifacts, "the echo steps write artifacts"
first = artifacts[0]
content = download_artifact.sync_detailed(started[0], first.step, first.name, client=client)
assert content.status_code == 200
assert isinstance(json.loads(content.content), dict)

# A 404 and a 422 come back as typed error bodies.
missing = get_execution.sync(uuid.uuid4(), client=client)
assert isinstance(missing, ErrorBody) and missing.error.code == "not_found", missing
broken = PipelineDefinition.from_dict({"name": "broken", "steps": [{"key": "a", "agent": "no-such-agent"}]})
refused = register_pipeline.sync_detailed(client=client, body=broken)
assert refused.status_code == 422, refused.status_code
assert isinstance(refused.parsed, ErrorBody) and refused.parsed.error.code == "invalid_pipeline", refused.parsed
fields = refused.parsed.error.details["fields"]
assert any(field["step"] == "a" and field["field"] == "agent" for field in fields), fields

print("python client: ok")
