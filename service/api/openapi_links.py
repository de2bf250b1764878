"""OpenAPI links between ftapi's operations: what one answer feeds into the next call.

Clients and Schemathesis' stateful runs follow them: a created file's id becomes a job's
``training_file``, a job's id the path of retrieve, pause and cancel, an upload's part id the
``part_ids`` of its completion, an eval's id the path of its runs, and so on. Targets are
named by route and resolved to the generated ``operationId`` when the document is rendered.
"""

from __future__ import annotations

from typing import Any

Route = tuple[str, str]  # (METHOD, path template)

# (source route, link name, target route, parameters, request body): what a response feeds next.
LINKS: list[tuple[Route, str, Route, dict[str, str], dict[str, Any] | None]] = [
    *(
        (("POST", "/v1/files"), name, target, {"file_id": "$response.body#/id"}, None)
        for name, target in [
            ("RetrieveFile", ("GET", "/v1/files/{file_id}")),
            ("FileContent", ("GET", "/v1/files/{file_id}/content")),
            ("FileReport", ("GET", "/v1/files/{file_id}/report")),
            ("FilePreview", ("GET", "/v1/files/{file_id}/preview")),
            ("DeleteFile", ("DELETE", "/v1/files/{file_id}")),
        ]
    ),
    (
        ("POST", "/v1/files"),
        "CreateJob",
        ("POST", "/v1/fine_tuning/jobs"),
        {},
        {"training_file": "$response.body#/id"},
    ),
    *(
        (("POST", "/v1/fine_tuning/jobs"), name, target, {"job_id": "$response.body#/id"}, None)
        for name, target in [
            ("RetrieveJob", ("GET", "/v1/fine_tuning/jobs/{job_id}")),
            ("CancelJob", ("POST", "/v1/fine_tuning/jobs/{job_id}/cancel")),
            ("PauseJob", ("POST", "/v1/fine_tuning/jobs/{job_id}/pause")),
            ("ListEvents", ("GET", "/v1/fine_tuning/jobs/{job_id}/events")),
            ("ListCheckpoints", ("GET", "/v1/fine_tuning/jobs/{job_id}/checkpoints")),
        ]
    ),
    *(
        (
            ("GET", "/v1/fine_tuning/jobs/{job_id}"),
            name,
            target,
            {"job_id": "$response.body#/id"},
            None,
        )
        for name, target in [
            ("CancelJob", ("POST", "/v1/fine_tuning/jobs/{job_id}/cancel")),
            ("PauseJob", ("POST", "/v1/fine_tuning/jobs/{job_id}/pause")),
        ]
    ),
    (
        ("POST", "/v1/fine_tuning/jobs/{job_id}/pause"),
        "ResumeJob",
        ("POST", "/v1/fine_tuning/jobs/{job_id}/resume"),
        {"job_id": "$response.body#/id"},
        None,
    ),
    *(
        (("POST", "/v1/uploads"), name, target, {"upload_id": "$response.body#/id"}, None)
        for name, target in [
            ("AddUploadPart", ("POST", "/v1/uploads/{upload_id}/parts")),
            ("CompleteUpload", ("POST", "/v1/uploads/{upload_id}/complete")),
            ("CancelUpload", ("POST", "/v1/uploads/{upload_id}/cancel")),
        ]
    ),
    (
        ("POST", "/v1/uploads/{upload_id}/parts"),
        "CompleteUpload",
        ("POST", "/v1/uploads/{upload_id}/complete"),
        {"upload_id": "$request.path.upload_id"},
        {"part_ids": ["$response.body#/id"]},
    ),
    (
        ("POST", "/v1/uploads/{upload_id}/complete"),
        "RetrieveFile",
        ("GET", "/v1/files/{file_id}"),
        {"file_id": "$response.body#/file/id"},
        None,
    ),
    *(
        (
            ("POST", "/v1/webhook_endpoints"),
            name,
            target,
            {"webhook_endpoint_id": "$response.body#/id"},
            None,
        )
        for name, target in [
            ("RetrieveEndpoint", ("GET", "/v1/webhook_endpoints/{webhook_endpoint_id}")),
            ("UpdateEndpoint", ("POST", "/v1/webhook_endpoints/{webhook_endpoint_id}")),
            ("DeleteEndpoint", ("DELETE", "/v1/webhook_endpoints/{webhook_endpoint_id}")),
            (
                "RotateSecret",
                ("POST", "/v1/webhook_endpoints/{webhook_endpoint_id}/rotate_secret"),
            ),
            ("TestEndpoint", ("POST", "/v1/webhook_endpoints/{webhook_endpoint_id}/test")),
            (
                "ListDeliveries",
                ("GET", "/v1/webhook_endpoints/{webhook_endpoint_id}/deliveries"),
            ),
        ]
    ),
    *(
        (("POST", "/v1/evals"), name, target, {"eval_id": "$response.body#/id"}, None)
        for name, target in [
            ("RetrieveEval", ("GET", "/v1/evals/{eval_id}")),
            ("UpdateEval", ("POST", "/v1/evals/{eval_id}")),
            ("DeleteEval", ("DELETE", "/v1/evals/{eval_id}")),
            ("CreateEvalRun", ("POST", "/v1/evals/{eval_id}/runs")),
            ("ListEvalRuns", ("GET", "/v1/evals/{eval_id}/runs")),
        ]
    ),
    *(
        (
            ("POST", "/v1/evals/{eval_id}/runs"),
            name,
            target,
            {"eval_id": "$response.body#/eval_id", "run_id": "$response.body#/id"},
            None,
        )
        for name, target in [
            ("RetrieveEvalRun", ("GET", "/v1/evals/{eval_id}/runs/{run_id}")),
            ("CancelEvalRun", ("POST", "/v1/evals/{eval_id}/runs/{run_id}/cancel")),
            ("DeleteEvalRun", ("DELETE", "/v1/evals/{eval_id}/runs/{run_id}")),
            ("ListOutputItems", ("GET", "/v1/evals/{eval_id}/runs/{run_id}/output_items")),
        ]
    ),
    (
        ("GET", "/v1/models"),
        "RetrieveModel",
        ("GET", "/v1/models/{model}"),
        {"model": "$response.body#/data/0/id"},
        None,
    ),
]


def add_links(document: dict[str, Any]) -> None:
    """Declare every link of ``LINKS`` on its source's 200 answer in ``document``."""
    paths = document["paths"]
    for (method, path), name, (target_method, target_path), parameters, body in LINKS:
        link: dict[str, Any] = {
            "operationId": paths[target_path][target_method.lower()]["operationId"],
        }
        if parameters:
            link["parameters"] = parameters
        if body is not None:
            link["requestBody"] = body
        source = paths[path][method.lower()]["responses"]["200"]
        source.setdefault("links", {})[name] = link
