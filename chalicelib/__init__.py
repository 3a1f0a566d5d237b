"""Office Chat admin backend: everything but the route table lives here."""
