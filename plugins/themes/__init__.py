"""White-label base themes."""
