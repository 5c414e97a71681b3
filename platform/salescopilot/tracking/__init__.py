"""Open and click tracking, unsubscribe pages and the honest scoring of tracking events."""
