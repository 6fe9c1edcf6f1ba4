"""Local AWS for Storefront: moto server, the stage's resources from infra/, event delivery."""
