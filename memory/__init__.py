"""Long-term plans: the tiered memory manager lands here (issue 4)."""
