"""Storefront's infrastructure: one CloudFormation template (`template.yaml`) and its helpers."""
