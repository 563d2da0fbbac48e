"""Services: where decisions are made, between the protocols and the store."""
