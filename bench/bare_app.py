"""The baseline for the ingest benchmark: a bare Flask app served by the gateway's exact gunicorn line.

It reads the body and answers a small JSON object, so the difference to the gateway is the gateway's
own work (auth, validation, the inbox row, the publish), not Flask, gunicorn or HTTP.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.get("/readyz")
def readyz() -> Response:
    return jsonify(status="ready")


@app.post("/<path:_path>")
def receive(_path: str) -> tuple[Response, int]:
    body = request.get_data(cache=False)
    return jsonify(status="ok", length=len(body)), 200
