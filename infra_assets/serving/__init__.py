"""Publishing generations, searching them, and the HTTP API."""
