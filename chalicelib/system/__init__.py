"""Routes about the API itself: health and its OpenAPI document."""
