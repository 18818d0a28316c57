"""The OpenAPI document is a contract: every route lists its error answers, each error the route
can be made to give here answers in the documented shape (Problem Details), statuses and
severities are enums, and API keys are security schemes."""

import re
from typing import Any

import jsonschema
from fastapi.testclient import TestClient

UNKNOWN = {
    "job_id": "job-00000000-0000-0000-0000-000000000000",
    "task_id": "task-nope",
    "project_id": "proj-nope",
}


def _problem_schema(doc: dict[str, Any]) -> dict[str, Any]:
    return {"$ref": "#/components/schemas/Problem", "components": doc["components"]}


def _check_problem(doc: dict[str, Any], op: dict[str, Any], response: Any, what: str) -> None:
    status = str(response.status_code)
    assert status in op["responses"], f"{what}: {status} is not documented"
    assert response.headers["content-type"] == "application/problem+json", what
    body = response.json()
    jsonschema.validate(body, _problem_schema(doc))
    assert body["status"] == response.status_code and body["detail"], (what, body)


def test_every_error_a_route_gives_is_documented_and_a_problem(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    provoked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path in ("/metrics", "/health", "/livez", "/readyz"):
                continue
            documented = {int(s) for s in op["responses"] if s.isdigit() and int(s) >= 400}
            assert documented >= {422, 500}, f"{method} {path} documents {documented}"
            url = re.sub(r"{(\w+)}", lambda m: UNKNOWN[m.group(1)], path)
            if "{" in path:  # an unknown id: 404
                response = client.request(method, url)
                _check_problem(doc, op, response, f"{method} {url}")
                assert response.status_code == 404
                provoked += 1
            if "requestBody" in op:  # a body of the wrong shape: 422 with `errors`
                response = client.request(method, url, content=b"[1]",
                                          headers={"content-type": "application/json"})  # fmt: skip
                _check_problem(doc, op, response, f"{method} {url} bad body")
                if response.status_code == 422:
                    assert response.json()["errors"], response.json()
                provoked += 1
            params = [p for p in op.get("parameters", []) if p["in"] == "query"]
            if params and "{" not in path:  # a query parameter of the wrong type: 422
                bad = {params[0]["name"]: "\x00not-valid" * 3}
                response = client.request(method, url, params=bad)
                if response.status_code >= 400:
                    _check_problem(doc, op, response, f"{method} {url} bad query")
                    provoked += 1
    assert provoked >= 12


def test_validation_errors_keep_the_sentence_and_list_the_fields(client: TestClient) -> None:
    response = client.post("/jobs", json={"sql_content": "select 1", "rules": "LT01"})
    body = response.json()
    assert response.status_code == 422 and "Input should be a valid list" in body["detail"]
    assert body["errors"][0]["loc"] == ["body", "rules"] and "input" not in body["errors"][0]


def test_statuses_and_severities_are_enums_and_keys_are_security_schemes(
    client: TestClient,
) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert set(schemas["Severity"]["enum"]) == {"INFO", "MINOR", "MAJOR", "CRITICAL", "BLOCKER"}
    assert "SUCCESS" in schemas["TaskStatus"]["enum"]
    assert set(doc["components"]["securitySchemes"]) == {"BearerKey", "ApiKeyHeader"}
    assert doc["paths"]["/jobs"]["post"]["security"] == [{"BearerKey": []}, {"ApiKeyHeader": []}]
    assert {"200", "503"} <= set(doc["paths"]["/health"]["get"]["responses"])
