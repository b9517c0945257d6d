"""The tiered memory manager: short-term pages, mid-term topic segments, long-term facts, with paging."""
