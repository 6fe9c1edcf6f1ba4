"""Commands that regenerate committed documents from the code (they never ship in a Lambda package)."""
