"""Storefront's domain code: one package per service, plus the shared plumbing they use."""
