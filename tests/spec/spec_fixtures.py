"""Spec test helpers: the hub spec's path and a small clean spec to mutate."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
HUB_SPEC = REPO_ROOT / "openapi" / "api-hub.oas.json"

# A small, clean OpenAPI 3.1 document: one FAL operation, correct server, path and auth.
MINIMAL: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Mini hub", "version": "1.0.0"},
    "paths": {
        "/models/pricing": {
            "servers": [{"url": "https://api.fal.ai/v1"}],
            "get": {
                "operationId": "getPricing",
                "summary": "Pricing",
                "tags": ["FAL"],
                "security": [{"FalKey": []}],
                "parameters": [
                    {
                        "name": "endpoint_id",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "prices",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/PricePage"},
                                "example": {
                                    "prices": [
                                        {
                                            "endpoint_id": "fal-ai/flux/dev",
                                            "unit_price": 0.025,
                                            "unit": "image",
                                            "currency": "USD",
                                        }
                                    ],
                                    "next_cursor": None,
                                    "has_more": False,
                                },
                            }
                        },
                    }
                },
            },
        }
    },
    "components": {
        "securitySchemes": {
            "FalKey": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": 'FAL key, prefixed with "Key "',
            }
        },
        "schemas": {
            "PricePage": {
                "type": "object",
                "required": ["prices", "next_cursor", "has_more"],
                "properties": {
                    "prices": {"type": "array", "items": {"$ref": "#/components/schemas/Price"}},
                    "next_cursor": {"type": ["string", "null"]},
                    "has_more": {"type": "boolean"},
                },
            },
            "Price": {
                "type": "object",
                "required": ["endpoint_id", "unit_price", "unit", "currency"],
                "properties": {
                    "endpoint_id": {"type": "string"},
                    "unit_price": {"type": "number", "minimum": 0},
                    "unit": {"type": "string"},
                    "currency": {"type": "string", "minLength": 3, "maxLength": 3},
                },
            },
        },
    },
}


def minimal() -> dict[str, Any]:
    """A fresh deep copy of MINIMAL, to mutate in a test."""
    return copy.deepcopy(MINIMAL)


SpecWriter = Callable[..., Path]
