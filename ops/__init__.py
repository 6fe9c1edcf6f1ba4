"""Operator commands, run by hand against a deployed stage (docs/operations.md):

    STOREFRONT_STAGE=<stage> AWS_REGION=<region> .venv/bin/python -m ops.<command> ...

They use chalicelib's models and services but live outside chalicelib/, so they are not in any
Lambda function's package (Chalice packages app.py and chalicelib/ only).
"""
