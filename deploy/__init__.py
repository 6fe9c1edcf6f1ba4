"""`make deploy` / `make destroy` / `make package`: the stage's resources stack, Chalice, and what
Chalice cannot configure. See docs/deploy.md."""
