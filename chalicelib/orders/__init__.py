"""Orders: placement (stock reserved in the same transaction), the life cycle, and the unpaid sweep."""
